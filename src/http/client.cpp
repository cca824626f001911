#include "http/client.h"

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

namespace scope::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

struct Url {
  std::string host;
  std::string port = "80";
  std::string target = "/";
};

Result<Url> parse_url(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0)
    return make_error(Errc::kBadInput, "'" + url + "' is not an http:// URL");
  std::string rest = url.substr(kScheme.size());
  Url u;
  size_t slash = rest.find_first_of("/?");
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) u.target = rest.substr(slash);
  if (u.target.front() == '?') u.target = "/" + u.target;
  if (authority.find('@') != std::string::npos)
    return make_error(Errc::kBadInput,
                      "'" + url + "': give credentials with --token, not in the URL");
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return make_error(Errc::kBadInput, "'" + url + "': bad host");
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':')
        return make_error(Errc::kBadInput, "'" + url + "': bad host");
      u.port = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) u.port = authority.substr(colon + 1);
  }
  if (u.host.empty() || u.port.empty() ||
      !std::all_of(u.port.begin(), u.port.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return make_error(Errc::kBadInput, "'" + url + "': bad host or port");
  return u;
}

}  // namespace

const std::string* ClientResponse::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers)
    if (name == lower_name) return &value;
  return nullptr;
}

std::string error_message(const ClientResponse& response) {
  auto j = nlohmann::json::parse(response.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object() &&
      j["error"].contains("message") && j["error"]["message"].is_string())
    return j["error"]["message"].get<std::string>();
  return response.body.empty() ? "HTTP " + std::to_string(response.status) : response.body;
}

Result<ClientResponse> fetch(const ClientRequest& request) {
  auto url = parse_url(request.url);
  if (!url) return url.failure();
  bhttp::verb verb = bhttp::string_to_verb(request.method);
  if (verb == bhttp::verb::unknown)
    return make_error(Errc::kBadInput, "unknown HTTP method " + request.method);

  asio::io_context ioc;
  bool done = false;
  Result<ClientResponse> out = make_error(Errc::kUnavailable, "no answer");
  auto run = [&]() -> asio::awaitable<void> {
    constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
    auto fail = [&](std::string_view what, const beast::error_code& ec) {
      out = make_error(Errc::kUnavailable, "cannot reach " + request.url + ": " +
                                               std::string(what) + ": " + ec.message());
    };
    tcp::resolver resolver(ioc);
    auto [rec, endpoints] = co_await resolver.async_resolve(url->host, url->port, kTuple);
    if (rec) co_return fail("resolve", rec);
    beast::tcp_stream stream(ioc);
    auto [cec, endpoint] = co_await stream.async_connect(endpoints, kTuple);
    if (cec) co_return fail("connect", cec);
    bhttp::request<bhttp::string_body> req{verb, url->target, 11};
    req.set(bhttp::field::host, url->host);
    req.set(bhttp::field::user_agent, "scope");
    for (const auto& [name, value] : request.headers) req.set(name, value);
    if (!request.body.empty()) req.set(bhttp::field::content_type, request.content_type);
    req.body() = request.body;
    req.keep_alive(false);
    req.prepare_payload();
    auto [wec, written] = co_await bhttp::async_write(stream, req, kTuple);
    if (wec) co_return fail("send", wec);
    beast::flat_buffer buffer;
    ClientResponse r;
    auto take_header = [&r](const auto& res) {
      r.status = static_cast<int>(res.result_int());
      for (const auto& field : res) {
        std::string name(field.name_string());
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        r.headers.emplace_back(std::move(name), std::string(field.value()));
      }
    };
    bhttp::response_parser<bhttp::empty_body> head;
    head.body_limit(request.save_to.empty() ? request.max_body : UINT64_MAX);
    auto [hec, hgot] = co_await bhttp::async_read_header(stream, buffer, head, kTuple);
    if (hec) co_return fail("read the answer", hec);
    if (!request.save_to.empty() && head.get().result_int() == 200) {
      bhttp::response_parser<bhttp::file_body> parser(std::move(head));
      parser.body_limit(boost::none);  // a trace of any size: it goes to disk
      beast::error_code fec;
      parser.get().body().open(request.save_to.c_str(), beast::file_mode::write, fec);
      if (fec) {
        out = make_error(Errc::kBadInput, request.save_to + ": " + fec.message());
        co_return;
      }
      auto [rdec, got] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
      if (rdec) co_return fail("read the answer", rdec);
      take_header(parser.get());
    } else {
      bhttp::response_parser<bhttp::string_body> parser(std::move(head));
      parser.body_limit(request.max_body);
      auto [rdec, got] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
      if (rdec) co_return fail("read the answer", rdec);
      take_header(parser.get());
      r.body = std::move(parser.get().body());
    }
    out = std::move(r);
    done = true;
  };
  asio::co_spawn(ioc, run(), asio::detached);
  ioc.run_for(request.timeout);
  if (!done && out.error() == "no answer")
    return make_error(Errc::kUnavailable, "no answer from " + request.url + " within " +
                                              std::to_string(request.timeout.count()) + " ms");
  return out;
}

}  // namespace scope::http
