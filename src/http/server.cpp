#include "http/server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "export/metrics.h"

namespace scope::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

namespace {

// After refusing a request whose body is still coming, read and discard this much of it (or
// for this long) before closing, so that the client reads the answer rather than a reset.
constexpr size_t kLingerBytes = 1 << 20;
constexpr auto kLingerTime = std::chrono::milliseconds(1000);

// A per-address token bucket (throttled routes): a client may burst, then waits.
class Throttle {
 public:
  Throttle(double per_second, double burst) : rate_(per_second), burst_(burst) {}
  // Takes a token; false with the seconds until the next one when there is none.
  bool take(const std::string& address, double* retry_after_s) {
    std::lock_guard lock(mu_);
    auto now = Clock::now();
    if (buckets_.size() > 100000) buckets_.clear();  // an address flood forgets, not grows
    auto [it, fresh] = buckets_.try_emplace(address, Bucket{burst_, now});
    Bucket& b = it->second;
    if (!fresh) {
      double elapsed = std::chrono::duration<double>(now - b.at).count();
      b.tokens = std::min(burst_, b.tokens + elapsed * rate_);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return true;
    }
    *retry_after_s = (1 - b.tokens) / rate_;
    return false;
  }

 private:
  struct Bucket {
    double tokens;
    Clock::time_point at;
  };
  double rate_, burst_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

struct Counters {
  metrics::Gauge* open = nullptr;
  metrics::Counter* refused_total = nullptr;
  metrics::Counter* refused_address = nullptr;
  metrics::Counter* timeout_header = nullptr;
  metrics::Counter* timeout_body = nullptr;
  metrics::Counter* timeout_write = nullptr;
  metrics::Counter* unauthorized = nullptr;
  metrics::Counter* forbidden = nullptr;
  metrics::Counter* too_large = nullptr;
  metrics::Counter* throttled = nullptr;
  metrics::Counter* busy = nullptr;
  metrics::Counter* bad_request = nullptr;
  metrics::Counter* origin = nullptr;
  metrics::Counter* websocket_cap = nullptr;
  metrics::Gauge* websockets = nullptr;
  metrics::Counter* errors = nullptr;
  metrics::Counter* requests = nullptr;
  metrics::Histogram* seconds = nullptr;

  explicit Counters(metrics::Registry* r) {
    if (!r) return;
    open = &r->gauge("scope_http_connections", "HTTP connections open now");
    const char* refused = "HTTP connections closed at accept: over the cap in all or per address";
    refused_total =
        &r->counter("scope_http_connections_refused_total", refused, {{"cap", "total"}});
    refused_address =
        &r->counter("scope_http_connections_refused_total", refused, {{"cap", "per_address"}});
    const char* timeouts = "HTTP connections closed for missing a deadline";
    timeout_header = &r->counter("scope_http_timeouts_total", timeouts, {{"phase", "header"}});
    timeout_body = &r->counter("scope_http_timeouts_total", timeouts, {{"phase", "body"}});
    timeout_write = &r->counter("scope_http_timeouts_total", timeouts, {{"phase", "write"}});
    const char* rejected = "HTTP requests refused before their handler ran, by cause";
    unauthorized = &r->counter("scope_http_rejected_total", rejected, {{"cause", "unauthorized"}});
    forbidden = &r->counter("scope_http_rejected_total", rejected, {{"cause", "forbidden"}});
    too_large = &r->counter("scope_http_rejected_total", rejected, {{"cause", "too_large"}});
    throttled = &r->counter("scope_http_rejected_total", rejected, {{"cause", "throttled"}});
    busy = &r->counter("scope_http_rejected_total", rejected, {{"cause", "busy"}});
    bad_request = &r->counter("scope_http_rejected_total", rejected, {{"cause", "bad_request"}});
    origin = &r->counter("scope_http_rejected_total", rejected, {{"cause", "origin"}});
    websocket_cap =
        &r->counter("scope_http_rejected_total", rejected, {{"cause", "websocket_cap"}});
    websockets =
        &r->gauge("scope_http_websockets", "WebSocket connections (live streams) open now");
    errors =
        &r->counter("scope_http_handler_errors_total", "HTTP handlers that threw (answered 500)");
    requests = &r->counter("scope_http_requests_total", "HTTP requests answered");
    seconds = &r->histogram("scope_http_request_seconds",
                            "From a request's last header byte to its answer written");
  }
  static void add(metrics::Counter* c) {
    if (c) c->add();
  }
};

class WebSocketSession;

// What every connection shares. Connections hold it by shared_ptr, so that a connection the
// io_context destroys while stopping still finds its counters.
struct State {
  ServerOptions options;
  std::shared_ptr<const Router> router;
  Counters counters;
  Throttle throttle;
  std::atomic<size_t> open{0};
  std::atomic<size_t> blocking{0};
  std::mutex per_address_mu;
  std::unordered_map<std::string, size_t> per_address;
  std::FILE* access_log = nullptr;
  std::mutex access_log_mu;
  std::string request_id_prefix;
  std::atomic<uint64_t> request_seq{0};
  std::atomic<size_t> websockets{0};
  std::unordered_map<std::string, size_t> websockets_per_address;  // under per_address_mu
  // Held shared while a WebSocket posts to the I/O threads, exclusively by Server::stop(): after
  // stop, publishers' calls touch nothing of the io_context.
  std::shared_mutex stop_mu;
  bool stopped = false;
  // Open WebSockets, so that stop() can tell their handlers they ended.
  std::mutex sockets_mu;
  std::vector<std::weak_ptr<WebSocketSession>> sockets;

  State(ServerOptions o, std::shared_ptr<const Router> r)
      : options(std::move(o)),
        router(std::move(r)),
        counters(options.metrics),
        throttle(options.limits.throttle_per_second, options.limits.throttle_burst) {
    std::random_device rd;
    char prefix[16];
    std::snprintf(prefix, sizeof(prefix), "%08x", rd());
    request_id_prefix = prefix;
  }
  ~State() {
    if (access_log && access_log != stderr) std::fclose(access_log);
  }
};

// Holds a connection's place under the caps; gives it back when the connection ends.
class ConnectionSlot {
 public:
  ConnectionSlot(std::shared_ptr<State> state, std::string address)
      : state_(std::move(state)), address_(std::move(address)) {}
  ~ConnectionSlot() {
    if (!taken_) return;
    state_->open.fetch_sub(1);
    if (state_->counters.open) state_->counters.open->add(-1);
    std::lock_guard lock(state_->per_address_mu);
    auto it = state_->per_address.find(address_);
    if (it != state_->per_address.end() && --it->second == 0) state_->per_address.erase(it);
  }
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;

  bool take() {
    const Limits& l = state_->options.limits;
    if (state_->open.fetch_add(1) >= l.max_connections) {
      state_->open.fetch_sub(1);
      Counters::add(state_->counters.refused_total);
      return false;
    }
    {
      std::lock_guard lock(state_->per_address_mu);
      size_t& n = state_->per_address[address_];
      if (n >= l.max_connections_per_address) {
        state_->open.fetch_sub(1);
        Counters::add(state_->counters.refused_address);
        return false;
      }
      ++n;
    }
    if (state_->counters.open) state_->counters.open->add(1);
    taken_ = true;
    return true;
  }

 private:
  std::shared_ptr<State> state_;
  std::string address_;
  bool taken_ = false;
};

// Holds an open WebSocket's place under Limits::max_websockets{,_per_address}.
class WebSocketSlot {
 public:
  WebSocketSlot(std::shared_ptr<State> state, std::string address)
      : state_(std::move(state)), address_(std::move(address)) {}
  ~WebSocketSlot() {
    if (!taken_) return;
    state_->websockets.fetch_sub(1);
    if (state_->counters.websockets) state_->counters.websockets->add(-1);
    std::lock_guard lock(state_->per_address_mu);
    auto it = state_->websockets_per_address.find(address_);
    if (it != state_->websockets_per_address.end() && --it->second == 0)
      state_->websockets_per_address.erase(it);
  }
  WebSocketSlot(const WebSocketSlot&) = delete;
  WebSocketSlot& operator=(const WebSocketSlot&) = delete;

  // false with the status to answer (503: the server's cap, 429: this address's).
  bool take(int* refused_status) {
    const Limits& l = state_->options.limits;
    std::lock_guard lock(state_->per_address_mu);
    if (state_->websockets.load() >= l.max_websockets) {
      *refused_status = 503;
      return false;
    }
    size_t& n = state_->websockets_per_address[address_];
    if (n >= l.max_websockets_per_address) {
      *refused_status = 429;
      return false;
    }
    ++n;
    state_->websockets.fetch_add(1);
    if (state_->counters.websockets) state_->counters.websockets->add(1);
    taken_ = true;
    return true;
  }

 private:
  std::shared_ptr<State> state_;
  std::string address_;
  bool taken_ = false;
};

// One accepted WebSocket: the handler's WebSocketPeer, a bounded queue of messages that a
// writer coroutine drains onto the socket, and the close (by the handler, the client or stop).
// The reader runs in the connection's coroutine; both run on the connection's strand.
class WebSocketSession : public WebSocketPeer,
                         public std::enable_shared_from_this<WebSocketSession> {
 public:
  WebSocketSession(std::shared_ptr<State> state, beast::tcp_stream stream,
                   const WebSocketLimits& limits)
      : state_(std::move(state)),
        ws_(std::move(stream)),
        limits_(limits),
        wake_(ws_.get_executor()),
        grace_(ws_.get_executor()) {}

  websocket::stream<beast::tcp_stream>& ws() { return ws_; }
  void set_listener(std::shared_ptr<WebSocketListener> listener) {
    listener_ = std::move(listener);
  }

  using WebSocketPeer::try_send;
  bool try_send(std::shared_ptr<const std::string> text) override {
    {
      std::lock_guard lock(mu_);
      if (closing_ || queue_.size() >= limits_.max_queued_messages ||
          (!queue_.empty() && queued_bytes_ + text->size() > limits_.max_queued_bytes))
        return false;
      queued_bytes_ += text->size();
      queue_.push_back(std::move(text));
    }
    post([](WebSocketSession& s) { s.wake_.cancel(); });
    return true;
  }
  size_t queued() const override {
    std::lock_guard lock(mu_);
    return queue_.size();
  }
  void close(uint16_t code, std::string reason) override {
    {
      std::lock_guard lock(mu_);
      if (closing_) return;
      closing_ = true;
      close_code_ = code;
      if (reason.size() > 123) reason.resize(123);  // what a close frame holds
      close_reason_ = std::move(reason);
      queue_.clear();
      queued_bytes_ = 0;
    }
    post([](WebSocketSession& s) {
      s.wake_.cancel();
      // A client that reads nothing never takes the close frame: drop it after the grace.
      s.grace_.expires_after(s.limits_.close_grace);
      s.grace_.async_wait([self = s.shared_from_this()](beast::error_code ec) {
        if (!ec) beast::get_lowest_layer(self->ws_).close();
      });
    });
  }
  bool closed() const override {
    std::lock_guard lock(mu_);
    return closing_;
  }
  uint64_t written() const override { return written_.load(std::memory_order_relaxed); }

  // Drains the queue onto the socket until the connection ends or the handler closes it.
  asio::awaitable<void> write_loop() {
    for (;;) {
      std::shared_ptr<const std::string> next;
      bool closing = false;
      {
        std::lock_guard lock(mu_);
        closing = closing_;
        if (!closing && !queue_.empty()) {
          next = std::move(queue_.front());
          queue_.pop_front();
          queued_bytes_ -= next->size();
        }
      }
      if (ended_) co_return;
      if (closing) {
        co_await ws_.async_close(
            websocket::close_reason(static_cast<websocket::close_code>(close_code_),
                                    beast::string_view(close_reason_.data(), close_reason_.size())),
            kTuple);
        co_return;
      }
      if (!next) {
        wake_.expires_at(Clock::time_point::max());
        co_await wake_.async_wait(kTuple);
        continue;
      }
      ws_.text(true);
      auto [ec, n] = co_await ws_.async_write(asio::buffer(*next), kTuple);
      if (!ec) written_.fetch_add(1, std::memory_order_relaxed);
      if (ec) {
        std::lock_guard lock(mu_);
        closing_ = true;
        queue_.clear();
        queued_bytes_ = 0;
        co_return;
      }
    }
  }

  // The reader is done (the client closed, an error, a deadline): the writer stops and the
  // handler is told, once. On the strand.
  void end() {
    ended_ = true;
    {
      std::lock_guard lock(mu_);
      closing_ = true;
      queue_.clear();
      queued_bytes_ = 0;
    }
    wake_.cancel();
    grace_.cancel();
    beast::get_lowest_layer(ws_).close();  // a write still pending ends now
    notify_closed();
  }
  // Tells the handler the connection ended; by end(), or by Server::stop() once no I/O thread
  // runs (the io_context may never run the reader again). Lets go of the listener: it holds
  // the handler's state, which holds this peer.
  void notify_closed() {
    if (notified_.exchange(true)) return;
    auto listener = std::move(listener_);
    if (listener) listener->on_close();
  }

 private:
  // Runs `fn` on the connection's strand, unless the server is stopping.
  template <typename Fn>
  void post(Fn fn) {
    std::shared_lock lock(state_->stop_mu);
    if (state_->stopped) return;
    asio::post(ws_.get_executor(), [self = shared_from_this(), fn] { fn(*self); });
  }

  std::shared_ptr<State> state_;
  websocket::stream<beast::tcp_stream> ws_;
  const WebSocketLimits limits_;
  asio::steady_timer wake_;   // the writer waits on it for messages
  asio::steady_timer grace_;  // after a close: how long the client has to take it
  std::shared_ptr<WebSocketListener> listener_;
  bool ended_ = false;  // strand only
  std::atomic<bool> notified_{false};
  std::atomic<uint64_t> written_{0};
  mutable std::mutex mu_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  size_t queued_bytes_ = 0;
  bool closing_ = false;
  uint16_t close_code_ = kCloseNormal;
  std::string close_reason_;
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "a=1&b=x%20y" -> {a: 1, b: "x y"}; false on a bad escape.
bool parse_query(std::string_view q, std::map<std::string, std::string>* out) {
  auto decode = [](std::string_view s, std::string* d) {
    for (size_t i = 0; i < s.size(); ++i) {
      char c = s[i];
      if (c == '+') {
        c = ' ';
      } else if (c == '%') {
        int hi = i + 2 < s.size() ? hex_value(s[i + 1]) : -1;
        int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
        if (hi < 0 || lo < 0) return false;
        c = static_cast<char>(hi * 16 + lo);
        i += 2;
      }
      d->push_back(c);
    }
    return true;
  };
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string key, value;
    if (!decode(pair.substr(0, eq), &key)) return false;
    if (eq != std::string_view::npos && !decode(pair.substr(eq + 1), &value)) return false;
    (*out)[std::move(key)] = std::move(value);
  }
  return true;
}

// A client's X-Request-Id when it is short and plain (it goes into logs), else nothing.
bool sane_request_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '_' || c == '.';
  });
}

// For the access log: no spaces, quotes or control bytes from the network.
std::string log_safe(std::string_view s, size_t max = 200) {
  std::string out;
  for (char c : s.substr(0, max)) {
    auto u = static_cast<unsigned char>(c);
    out.push_back(u <= 0x20 || u >= 0x7f || c == '"' || c == '\\' ? '?' : c);
  }
  return out;
}

bool access_allows(Access need, Role have) {
  switch (need) {
    case Access::kPublic:
      return true;
    case Access::kViewer:
      return have == Role::kViewer || have == Role::kAdmin;
    case Access::kAdmin:
      return have == Role::kAdmin;
  }
  return false;
}

std::string_view bearer_token(const Request& req) {
  const std::string* auth = req.header("authorization");
  if (!auth) return {};
  std::string_view v = *auth;
  if (v.size() < 7 || !beast::iequals(v.substr(0, 7), "Bearer ")) return {};
  v.remove_prefix(7);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  return v;
}

// The comma-separated tokens of a Sec-WebSocket-Protocol header, trimmed.
std::vector<std::string_view> subprotocols(std::string_view header) {
  std::vector<std::string_view> out;
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// A WebSocket's token: the Authorization header, or else "bearer.<token>" among the offered
// subprotocols (what a browser can send). Never the URL: URLs land in access logs.
std::string_view websocket_token(const Request& req) {
  std::string_view token = bearer_token(req);
  if (!token.empty()) return token;
  const std::string* offered = req.header("sec-websocket-protocol");
  if (!offered) return {};
  for (std::string_view p : subprotocols(*offered))
    if (p.size() > kBearerSubprotocolPrefix.size() && p.rfind(kBearerSubprotocolPrefix, 0) == 0)
      return p.substr(kBearerSubprotocolPrefix.size());
  return {};
}

// A browser names the page's origin: a WebSocket is for pages of --cors-origin or of this very
// host (the UI scope serves), so that another site's page cannot ride a user's token.
bool websocket_origin_allowed(const Request& req, const std::string& cors_origin) {
  const std::string* origin = req.header("origin");
  if (!origin) return true;  // not a browser; the token is checked all the same
  if (!cors_origin.empty() && *origin == cors_origin) return true;
  const std::string* host = req.header("host");
  return host && !host->empty() && (*origin == "http://" + *host || *origin == "https://" + *host);
}

class Connection {
 public:
  Connection(std::shared_ptr<State> state, std::string address, asio::thread_pool& workers)
      : state_(std::move(state)), address_(std::move(address)), workers_(workers) {}

  asio::awaitable<void> serve(tcp::socket socket);

 private:
  struct Answer {
    Response response;
    bool close = false;   // the body was not read: close after answering
    bool linger = false;  // ... and read some of it first, so the client sees the answer
  };

  // What the header alone decides: the route, its caller, its limits. nullopt: go on.
  std::optional<Answer> check_header(const bhttp::request_parser<bhttp::string_body>& parser,
                                     Request& req, const Route** route);
  Response call(const Route& route, Request& req);
  // Upgrades to a WebSocket (every check done) and serves it until it closes.
  asio::awaitable<void> serve_websocket(beast::tcp_stream stream,
                                        bhttp::request_parser<bhttp::string_body>& parser,
                                        Request& req, const Route& route,
                                        Clock::time_point started);
  asio::awaitable<bool> write(beast::tcp_stream& stream, const Request& req, Response response,
                              unsigned version, bool keep_alive, Clock::time_point started);
  asio::awaitable<bool> write_file(beast::tcp_stream& stream, const Request& req, Response response,
                                   unsigned version, bool keep_alive, Clock::time_point started);
  void log_access(const Request& req, int status, size_t bytes, Clock::time_point started);
  void add_common_headers(const Request& req, Response& r) const;

  std::shared_ptr<State> state_;
  std::string address_;
  asio::thread_pool& workers_;
};

std::optional<Connection::Answer> Connection::check_header(
    const bhttp::request_parser<bhttp::string_body>& parser, Request& req, const Route** route) {
  const auto& h = parser.get();
  req.method = std::string(h.method_string());
  req.target = std::string(h.target());
  req.remote = address_;
  for (const auto& field : h) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    req.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  const std::string* id = req.header("x-request-id");
  if (id && sane_request_id(*id)) {
    req.request_id = *id;
  } else {
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%s-%" PRIx64, state_->request_id_prefix.c_str(),
                  state_->request_seq.fetch_add(1));
    req.request_id = buf;
  }
  bool has_body = parser.chunked() || parser.content_length().value_or(0) > 0;
  auto refuse = [&](int status, std::string_view code, std::string_view message) {
    return Answer{Response::error(status, code, message), has_body, has_body};
  };

  size_t q = req.target.find('?');
  req.path = req.target.substr(0, q);
  if (q != std::string::npos &&
      !parse_query(std::string_view(req.target).substr(q + 1), &req.query)) {
    Counters::add(state_->counters.bad_request);
    return refuse(400, "bad_request", "the query string has a bad %-escape");
  }

  // A CORS preflight for the configured origin: answered here, never authenticated.
  const std::string* origin = req.header("origin");
  if (req.method == "OPTIONS" && origin && !state_->options.cors_origin.empty() &&
      *origin == state_->options.cors_origin && req.header("access-control-request-method")) {
    Answer a{Response{}, has_body, has_body};
    a.response.status = 204;
    a.response.content_type.clear();
    a.response.headers = {
        {"Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE"},
        {"Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id"},
        {"Access-Control-Max-Age", "600"}};
    return a;
  }

  auto match = state_->router->match(req.method, req.path);
  if (!match.route) {
    if (match.other_method) return refuse(405, "method_not_allowed", "method not allowed here");
    return refuse(404, "not_found", "no such endpoint");
  }
  *route = match.route;
  req.params = std::move(match.params);

  const bool is_websocket = static_cast<bool>(match.route->websocket);
  if (is_websocket) {
    if (!websocket::is_upgrade(h)) {
      Answer a = refuse(426, "upgrade_required", "this endpoint is a WebSocket: send an upgrade");
      a.response.headers.emplace_back("Upgrade", "websocket");
      return a;
    }
    if (!websocket_origin_allowed(req, state_->options.cors_origin)) {
      Counters::add(state_->counters.origin);
      return refuse(403, "forbidden", "WebSockets from this origin are not allowed");
    }
    const std::string* offered = req.header("sec-websocket-protocol");
    if (offered) {
      auto list = subprotocols(*offered);
      if (std::find(list.begin(), list.end(), kWebSocketSubprotocol) == list.end()) {
        Counters::add(state_->counters.bad_request);
        return refuse(400, "bad_request",
                      "offer the subprotocol '" + std::string(kWebSocketSubprotocol) + "'");
      }
    }
  }

  const std::string_view sent_token = is_websocket ? websocket_token(req) : bearer_token(req);
  const bool wants_principal =
      match.route->access != Access::kPublic || (match.route->optional_auth && !sent_token.empty());
  if (wants_principal) {
    std::string_view token = sent_token;
    if (token.empty()) {
      Counters::add(state_->counters.unauthorized);
      Answer a =
          refuse(401, "unauthorized",
                 is_websocket ? "send 'Authorization: Bearer <token>' or offer the subprotocols "
                                "'scope.v1, bearer.<token>': an access token from "
                                "/api/v1/auth/login, or scope's admin token"
                              : "send 'Authorization: Bearer <token>': an access token from "
                                "/api/v1/auth/login, or scope's admin token");
      a.response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"scope\"");
      return a;
    }
    Result<Principal> who = state_->options.authenticate
                                ? state_->options.authenticate(token)
                                : Result<Principal>(make_error("no credentials are accepted here"));
    if (!who) {
      Counters::add(state_->counters.unauthorized);
      Answer a = refuse(401, "unauthorized", who.error());
      a.response.headers.emplace_back("WWW-Authenticate",
                                      "Bearer realm=\"scope\", error=\"invalid_token\"");
      return a;
    }
    req.principal = std::move(*who);
    if (!access_allows(match.route->access, req.principal.role)) {
      Counters::add(state_->counters.forbidden);
      return refuse(403, "forbidden", "this needs the admin role");
    }
  }

  if (has_body) {
    if (match.route->max_body == 0) {
      Counters::add(state_->counters.too_large);
      return refuse(413, "too_large", "this endpoint takes no body");
    }
    auto length = parser.content_length();
    if (length && *length > match.route->max_body) {
      Counters::add(state_->counters.too_large);
      return refuse(413, "too_large",
                    "the body is larger than " + std::to_string(match.route->max_body) +
                        " bytes, the most this endpoint takes");
    }
  }
  if (match.route->throttled) {
    double retry_s = 0;
    if (!state_->throttle.take(address_, &retry_s)) {
      Counters::add(state_->counters.throttled);
      Answer a = refuse(429, "throttled", "too many requests from this address: retry later");
      a.response.headers.emplace_back("Retry-After", std::to_string(static_cast<int>(retry_s) + 1));
      return a;
    }
  }
  return std::nullopt;
}

Response Connection::call(const Route& route, Request& req) {
  try {
    return route.handler(req);
  } catch (const std::exception& e) {
    Counters::add(state_->counters.errors);
    spdlog::error("scope: http {} {} (request {}): {}", req.method, log_safe(req.path),
                  req.request_id, e.what());
  } catch (...) {
    Counters::add(state_->counters.errors);
    spdlog::error("scope: http {} {} (request {}): unknown exception", req.method,
                  log_safe(req.path), req.request_id);
  }
  return Response::error(500, "internal",
                         "the handler failed: see scope's log for request " + req.request_id);
}

void Connection::add_common_headers(const Request& req, Response& r) const {
  r.headers.emplace_back("X-Request-Id", req.request_id);
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  // API answers are not cached unless the handler says otherwise (static documents).
  bool has_cache_control = false;
  for (const auto& [name, value] : r.headers) has_cache_control |= name == "Cache-Control";
  if (!has_cache_control) r.headers.emplace_back("Cache-Control", "no-store");
  const std::string* origin = req.header("origin");
  if (origin && !state_->options.cors_origin.empty() && *origin == state_->options.cors_origin) {
    r.headers.emplace_back("Access-Control-Allow-Origin", *origin);
    r.headers.emplace_back("Vary", "Origin");
  }
}

void Connection::log_access(const Request& req, int status, size_t bytes,
                            Clock::time_point started) {
  if (state_->counters.seconds)
    state_->counters.seconds->observe(
        std::chrono::duration<double>(Clock::now() - started).count());
  Counters::add(state_->counters.requests);
  if (!state_->access_log) return;
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  double took_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  std::string user = req.principal.user.empty() ? "-" : log_safe(req.principal.user, 64);
  std::lock_guard lock(state_->access_log_mu);
  std::fprintf(state_->access_log,
               "ts_ms=%lld remote=%s id=%s method=%s path=%s status=%d bytes=%zu ms=%.3f "
               "user=%s\n",
               static_cast<long long>(ms), log_safe(req.remote).c_str(),
               log_safe(req.request_id).c_str(), log_safe(req.method, 16).c_str(),
               log_safe(req.path).c_str(), status, bytes, took_ms, user.c_str());
  std::fflush(state_->access_log);
}

asio::awaitable<void> Connection::serve_websocket(beast::tcp_stream stream,
                                                  bhttp::request_parser<bhttp::string_body>& parser,
                                                  Request& req, const Route& route,
                                                  Clock::time_point started) {
  const unsigned version = parser.get().version();
  WebSocketSlot slot(state_, address_);
  int refused_status = 0;
  if (!slot.take(&refused_status)) {
    Counters::add(state_->counters.websocket_cap);
    Response r = refused_status == 429
                     ? Response::error(429, "throttled",
                                       "too many live streams from this address: close one")
                     : Response::error(503, "busy", "too many live streams open: retry later");
    r.headers.emplace_back("Retry-After", "5");
    co_await write(stream, req, std::move(r), version, false, started);
    co_return;
  }
  const bool echo_subprotocol = req.header("sec-websocket-protocol") != nullptr;
  stream.expires_never();  // the WebSocket's own deadlines from here on
  auto session =
      std::make_shared<WebSocketSession>(state_, std::move(stream), route.websocket_limits);
  auto& ws = session->ws();
  websocket::stream_base::timeout deadlines{};
  deadlines.handshake_timeout = state_->options.limits.write_timeout;
  deadlines.idle_timeout = route.websocket_limits.idle_timeout;
  deadlines.keep_alive_pings = true;  // a ping at half the idle time; no answer: closed
  ws.set_option(deadlines);
  ws.read_message_max(route.websocket_limits.max_message_bytes);
  ws.set_option(websocket::stream_base::decorator(
      [echo_subprotocol, id = req.request_id](websocket::response_type& res) {
        res.set(bhttp::field::server, "scope");
        res.set("X-Request-Id", id);
        if (echo_subprotocol) res.set(bhttp::field::sec_websocket_protocol, kWebSocketSubprotocol);
      }));
  auto [ec] = co_await ws.async_accept(parser.get(), kTuple);
  log_access(req, ec ? 400 : 101, 0, started);
  if (ec) co_return;

  {
    std::lock_guard lock(state_->sockets_mu);
    auto& all = state_->sockets;
    all.erase(std::remove_if(all.begin(), all.end(), [](const auto& w) { return w.expired(); }),
              all.end());
    all.push_back(session);
  }
  std::shared_ptr<WebSocketListener> listener;
  try {
    listener = route.websocket(req, session);
  } catch (const std::exception& e) {
    Counters::add(state_->counters.errors);
    spdlog::error("scope: websocket {} (request {}): {}", log_safe(req.path), req.request_id,
                  e.what());
  }
  if (!listener) session->close(1011, "the server could not serve this stream");
  session->set_listener(listener);
  asio::co_spawn(ws.get_executor(), session->write_loop(), asio::detached);

  beast::flat_buffer buffer;
  for (;;) {
    auto [read_ec, n] = co_await ws.async_read(buffer, kTuple);
    // Closed by either side, a message over the limit (Beast answers 1009), the idle deadline.
    if (read_ec) break;
    if (!ws.got_text()) {
      session->close(kCloseUnsupportedData, "send text (JSON) messages");
    } else if (listener && !session->closed()) {
      std::string refused = listener->on_message(beast::buffers_to_string(buffer.data()));
      if (!refused.empty()) session->close(kClosePolicy, std::move(refused));
    }
    buffer.consume(buffer.size());
  }
  session->end();
}

asio::awaitable<bool> Connection::write(beast::tcp_stream& stream, const Request& req,
                                        Response response, unsigned version, bool keep_alive,
                                        Clock::time_point started) {
  add_common_headers(req, response);
  if (response.file)
    co_return co_await write_file(stream, req, std::move(response), version, keep_alive, started);
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(response.status), version};
  res.set(bhttp::field::server, "scope");
  if (!response.content_type.empty()) res.set(bhttp::field::content_type, response.content_type);
  for (auto& [name, value] : response.headers) res.set(name, value);
  res.body() = std::move(response.body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  size_t bytes = res.body().size();
  stream.expires_after(state_->options.limits.write_timeout);
  auto [ec, n] = co_await bhttp::async_write(stream, res, kTuple);
  log_access(req, response.status, bytes, started);
  if (ec == beast::error::timeout) Counters::add(state_->counters.timeout_write);
  co_return !ec;
}

asio::awaitable<bool> Connection::write_file(beast::tcp_stream& stream, const Request& req,
                                             Response response, unsigned version, bool keep_alive,
                                             Clock::time_point started) {
  bhttp::response<bhttp::file_body> res{static_cast<bhttp::status>(response.status), version};
  res.set(bhttp::field::server, "scope");
  if (!response.content_type.empty()) res.set(bhttp::field::content_type, response.content_type);
  for (auto& [name, value] : response.headers) res.set(name, value);
  beast::file_posix file;
  file.native_handle(response.file->fd);
  response.file->fd = -1;  // the body owns it now
  beast::error_code ec;
  file.seek(0, ec);
  if (!ec) res.body().reset(std::move(file), ec);
  if (ec) {
    Response failed = Response::error(500, "internal", "the answer's file: " + ec.message());
    co_return co_await write(stream, req, std::move(failed), version, false, started);
  }
  res.keep_alive(keep_alive);
  res.prepare_payload();
  uint64_t bytes = res.body().size();
  // A large file takes as long as the client reads it: a second more a MiB (a client reading at
  // least 1 MiB/s finishes).
  stream.expires_after(state_->options.limits.write_timeout +
                       std::chrono::seconds(static_cast<int64_t>(bytes >> 20)));
  auto [wec, n] = co_await bhttp::async_write(stream, res, kTuple);
  log_access(req, response.status, static_cast<size_t>(bytes), started);
  if (wec == beast::error::timeout) Counters::add(state_->counters.timeout_write);
  co_return !wec;
}

asio::awaitable<void> Connection::serve(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  const Limits& limits = state_->options.limits;
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(limits.max_header_bytes));
    parser.body_limit(boost::none);  // the route's limit is set once the header names the route
    stream.expires_after(limits.header_timeout);
    auto waiting_since = Clock::now();
    auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, parser, kTuple);
    if (ec == beast::error::timeout) {
      if (buffer.size() > 0 || parser.got_some()) Counters::add(state_->counters.timeout_header);
      break;
    }
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted)
      break;
    Request req;
    auto started = Clock::now();
    if (ec) {
      Counters::add(state_->counters.bad_request);
      req.remote = address_;
      req.request_id = "-";
      Response r =
          ec == bhttp::error::header_limit
              ? Response::error(431, "too_large", "the request header is too large")
              : Response::error(400, "bad_request", "malformed HTTP request: " + ec.message());
      co_await write(stream, req, std::move(r), 11, false, started);
      break;
    }
    const unsigned version = parser.get().version();
    const Route* route = nullptr;
    if (auto answer = check_header(parser, req, &route)) {
      const bool keep = !answer->close && parser.keep_alive();
      const bool ok =
          co_await write(stream, req, std::move(answer->response), version, keep, started);
      if (ok && keep) continue;
      if (answer->linger && ok) {
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream.expires_after(kLingerTime);
        std::array<char, 8192> sink{};
        size_t drained = 0;
        while (drained < kLingerBytes) {
          auto [e, got] = co_await stream.async_read_some(asio::buffer(sink), kTuple);
          if (e) break;
          drained += got;
        }
      }
      break;
    }
    if (route->websocket) {
      co_await serve_websocket(std::move(stream), parser, req, *route, started);
      co_return;
    }
    if (!parser.is_done()) {
      const std::string* expect = req.header("expect");
      if (expect && beast::iequals(*expect, "100-continue")) {
        bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, version};
        stream.expires_after(limits.write_timeout);
        auto [e, sent] = co_await bhttp::async_write(stream, cont, kTuple);
        if (e) break;
      }
      parser.body_limit(route->max_body);
      stream.expires_at(waiting_since + limits.request_timeout);
      auto [e, got] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
      if (e == beast::error::timeout) {
        Counters::add(state_->counters.timeout_body);
        break;
      }
      if (e == bhttp::error::body_limit) {
        Counters::add(state_->counters.too_large);
        co_await write(
            stream, req,
            Response::error(413, "too_large",
                            "the body is larger than " + std::to_string(route->max_body) +
                                " bytes, the most this endpoint takes"),
            version, false, started);
        break;
      }
      if (e) {
        if (e != bhttp::error::end_of_stream && e != asio::error::eof &&
            e != asio::error::connection_reset) {
          Counters::add(state_->counters.bad_request);
          co_await write(stream, req,
                         Response::error(400, "bad_request", "malformed body: " + e.message()),
                         version, false, started);
        }
        break;
      }
    }
    req.body = std::move(parser.get().body());
    const bool keep_alive = parser.keep_alive();
    stream.expires_never();  // a handler's time is its own deadline's, not the socket's
    Response response;
    if (route->blocking) {
      if (state_->blocking.fetch_add(1) >= limits.max_blocking) {
        state_->blocking.fetch_sub(1);
        Counters::add(state_->counters.busy);
        response = Response::error(503, "busy", "too many requests in progress: retry later");
        response.headers.emplace_back("Retry-After", "1");
      } else {
        response = co_await asio::co_spawn(
            workers_,
            [this, route, &req]() -> asio::awaitable<Response> { co_return call(*route, req); },
            asio::use_awaitable);
        state_->blocking.fetch_sub(1);
      }
    } else {
      response = call(*route, req);
    }
    if (!co_await write(stream, req, std::move(response), version, keep_alive, started)) break;
    if (!keep_alive) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

}  // namespace

Result<std::pair<std::string, int>> parse_listen(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 >= listen.size())
    return make_error(Errc::kBadInput, "--listen '" + listen + "' is not HOST:PORT");
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "localhost") host = "127.0.0.1";
  char* end = nullptr;
  long port = std::strtol(listen.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port < 0 || port > 65535)
    return make_error(Errc::kBadInput, "--listen '" + listen + "': bad port");
  beast::error_code ec;
  asio::ip::make_address(host, ec);
  if (ec)
    return make_error(Errc::kBadInput, "--listen '" + listen + "': '" + host +
                                           "' is not an IP address (0.0.0.0 for every address)");
  return std::make_pair(host, static_cast<int>(port));
}

Authenticator single_token_authenticator(std::string token, Principal who) {
  return
      [token = std::move(token), who = std::move(who)](std::string_view got) -> Result<Principal> {
        bool same = !token.empty() && got.size() == token.size();
        unsigned char diff = 0;
        for (size_t i = 0; same && i < token.size(); ++i)
          diff |= static_cast<unsigned char>(got[i] ^ token[i]);
        if (same && diff == 0) return who;
        return make_error(Errc::kBadInput, "the token is not valid");
      };
}

struct Server::Impl {
  std::shared_ptr<State> state;
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  asio::thread_pool workers;
  std::vector<std::thread> threads;
  std::string host;
  int port = 0;
  bool stopped = false;

  Impl(std::shared_ptr<State> s, int worker_threads)
      : state(std::move(s)), workers(static_cast<size_t>(std::max(1, worker_threads))) {}

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(ioc), kTuple);
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec) {
        // Out of descriptors (EMFILE) and the like: pause rather than spin.
        spdlog::warn("scope: http accept: {}", ec.message());
        asio::steady_timer t(ioc, std::chrono::milliseconds(100));
        co_await t.async_wait(kTuple);
        continue;
      }
      beast::error_code addr_ec;
      auto remote = socket.remote_endpoint(addr_ec);
      if (addr_ec) continue;
      auto address = remote.address();
      if (address.is_v6() && address.to_v6().is_v4_mapped())
        address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
      auto slot = std::make_shared<ConnectionSlot>(state, address.to_string());
      if (!slot->take()) continue;  // the socket closes as it goes out of scope
      auto conn = std::make_shared<Connection>(state, address.to_string(), workers);
      auto executor = socket.get_executor();
      asio::co_spawn(executor, conn->serve(std::move(socket)),
                     [conn, slot](const std::exception_ptr& e) {
                       if (!e) return;
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& ex) {
                         spdlog::error("scope: http connection: {}", ex.what());
                       }
                     });
    }
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Server>> Server::start(ServerOptions options,
                                              std::shared_ptr<const Router> router) {
  auto addr = parse_listen(options.listen);
  if (!addr) return addr.failure();
  std::FILE* log = nullptr;
  if (options.access_log == "-") {
    log = stderr;
  } else if (!options.access_log.empty()) {
    log = std::fopen(options.access_log.c_str(), "ae");
    if (!log)
      return make_error(Errc::kBadInput,
                        "--access-log '" + options.access_log + "': " + std::strerror(errno));
  }
  int io_threads = std::max(1, options.io_threads);
  int worker_threads = options.worker_threads;
  auto state = std::make_shared<State>(std::move(options), std::move(router));
  state->access_log = log;
  auto impl = std::make_unique<Impl>(state, worker_threads);
  beast::error_code ec;
  tcp::endpoint endpoint(asio::ip::make_address(addr->first), static_cast<uint16_t>(addr->second));
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return make_error(Errc::kUnavailable,
                      "cannot listen on " + state->options.listen + ": " + ec.message());
  impl->host = addr->first;
  impl->port = impl->acceptor.local_endpoint().port();
  asio::co_spawn(impl->ioc, impl->accept_loop(), asio::detached);
  for (int i = 0; i < io_threads; ++i)
    impl->threads.emplace_back([&ioc = impl->ioc] { ioc.run(); });
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  {
    std::unique_lock lock(impl_->state->stop_mu);
    impl_->state->stopped = true;  // WebSockets post nothing more to the io_context
  }
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  // Their readers will not run again: tell the handlers, so that none keeps a peer past here.
  std::vector<std::weak_ptr<WebSocketSession>> sockets;
  {
    std::lock_guard lock(impl_->state->sockets_mu);
    sockets.swap(impl_->state->sockets);
  }
  for (auto& weak : sockets)
    if (auto s = weak.lock()) s->notify_closed();
  beast::error_code ignored;
  impl_->acceptor.close(ignored);  // no thread runs the io_context now: safe to touch
  // Handlers running on the pool finish (each has its own deadline); their answers are not sent.
  impl_->workers.join();
}

Server::~Server() { stop(); }

const std::string& Server::host() const { return impl_->host; }
int Server::port() const { return impl_->port; }
std::string Server::url() const {
  bool v6 = impl_->host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + impl_->host + "]" : impl_->host) + ":" +
         std::to_string(impl_->port);
}

}  // namespace scope::http
