#include "server/live.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <utility>

#include "event/schema.h"
#include "export/metrics.h"
#include "http/message.h"

namespace scope::server {

using Clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view kEventsHead = R"({"type":"events","events":[)";

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

template <typename T>
bool contains(const std::vector<T>& list, const T& v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

// The event's JSON (the vocabulary's, as `scope trace --json` prints it) with where it came from.
std::string event_json(const event::Batch& batch, size_t i) {
  nlohmann::json j = event::row_json(batch.events[i]);
  j["node"] = batch.node;
  j["seq"] = batch.first_seq + i;
  return dump(j);
}

// A list of at most kMaxFilterEntries strings of 1 to kMaxFilterString bytes, or an error.
Result<std::vector<std::string>> string_list(const nlohmann::json& j, const char* key) {
  if (!j.is_array()) return make_error(Errc::kBadInput, std::string(key) + " must be an array");
  if (j.size() > kMaxFilterEntries)
    return make_error(Errc::kBadInput, std::string(key) + " has more than " +
                                           std::to_string(kMaxFilterEntries) + " entries");
  std::vector<std::string> out;
  for (const auto& v : j) {
    if (!v.is_string() || v.get_ref<const std::string&>().empty() ||
        v.get_ref<const std::string&>().size() > kMaxFilterString)
      return make_error(Errc::kBadInput, std::string(key) + " must hold strings of 1 to " +
                                             std::to_string(kMaxFilterString) + " bytes");
    out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

bool LiveFilter::matches(const std::string& node, const event::EventRow& row) const {
  if (!families.empty() && !contains(families, row.family)) return false;
  if (!pids.empty() && !contains(pids, row.pid)) return false;
  if (!nodes.empty() && !contains(nodes, node)) return false;
  if (!comms.empty() && !contains(comms, row.comm)) return false;
  return true;
}

nlohmann::json LiveFilter::to_json() const {
  nlohmann::json events = nlohmann::json::array();
  for (uint8_t id : families) events.push_back(event::schemas()[id].family);
  return {{"events", events}, {"nodes", nodes}, {"pids", pids}, {"comms", comms}};
}

Result<LiveFilter> parse_subscribe(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return make_error(Errc::kBadInput, "send a JSON object such as {\"type\":\"subscribe\"}");
  auto type = j.find("type");
  if (type == j.end() || *type != "subscribe")
    return make_error(Errc::kBadInput, "the only message a client sends is type 'subscribe'");
  LiveFilter f;
  for (const auto& [key, value] : j.items()) {
    if (key == "type") continue;
    if (key == "events" || key == "nodes" || key == "comms") {
      auto list = string_list(value, key.c_str());
      if (!list) return list.failure();
      if (key == "nodes") {
        f.nodes = std::move(*list);
      } else if (key == "comms") {
        f.comms = std::move(*list);
      } else {
        for (const auto& name : *list) {
          const event::FamilySchema* schema = event::schema_for(name);
          if (!schema) return make_error(Errc::kBadInput, "no event family '" + name + "'");
          if (!contains(f.families, schema->id)) f.families.push_back(schema->id);
        }
      }
    } else if (key == "pids") {
      if (!value.is_array() || value.size() > kMaxFilterEntries)
        return make_error(Errc::kBadInput, "pids must be an array of at most " +
                                               std::to_string(kMaxFilterEntries) + " pids");
      for (const auto& v : value) {
        if (!v.is_number_unsigned() || v.get<uint64_t>() > UINT32_MAX)
          return make_error(Errc::kBadInput, "pids must hold process ids");
        f.pids.push_back(v.get<uint32_t>());
      }
    } else {
      return make_error(Errc::kBadInput,
                        "unknown key '" + key.substr(0, 32) + "' (events, nodes, pids, comms)");
    }
  }
  return f;
}

struct LiveHub::Client {
  explicit Client(std::shared_ptr<http::WebSocketPeer> p) : peer(std::move(p)) {}
  const std::shared_ptr<http::WebSocketPeer> peer;

  std::mutex filter_mu;                      // the filter is set on the connection's thread
  std::shared_ptr<const LiveFilter> filter;  // null: nothing subscribed yet
  std::string filter_key;                    // the filter's JSON: equal filters, equal keys

  // The hub's thread only (under clients_mu_).
  std::vector<uint64_t> matched = std::vector<uint64_t>(event::schemas().size());
  bool counting = false;  // since its first subscribe: rates are per second of that
  Clock::time_point interval_start;
  size_t sample_every = 1;
  uint64_t sample_seq = 0;
  uint64_t skipped_unreported = 0;  // skipped since the last lagged message it got
  uint64_t skipped_total = 0;
  bool behind = false;
  Clock::time_point behind_since, last_skip;
  uint64_t written_at_tick = 0;  // peer->written() at the last tick
  bool cut = false;
};

class LiveHub::Listener : public http::WebSocketListener {
 public:
  Listener(LiveHub& hub, std::shared_ptr<Client> client) : hub_(hub), client_(std::move(client)) {}
  std::string on_message(std::string_view text) override {
    auto filter = parse_subscribe(text);
    if (!filter) return filter.error();
    hub_.subscribed(*client_, std::move(*filter));
    return {};
  }
  void on_close() override { hub_.detach(client_); }

 private:
  LiveHub& hub_;
  std::shared_ptr<Client> client_;
};

LiveHub::LiveHub(LiveOptions options, metrics::Registry* registry) : options_(options) {
  if (registry) {
    m_sent_ = &registry->counter("scope_live_events_sent_total",
                                 "Events queued to live-stream clients (once per client)");
    m_skipped_ = &registry->counter("scope_live_events_skipped_total",
                                    "Events a live-stream client missed: it was behind");
    m_dropped_ = &registry->counter("scope_live_batches_dropped_total",
                                    "Committed batches the live stream skipped: it was behind");
    m_cut_ = &registry->counter("scope_live_clients_cut_total",
                                "Live-stream clients closed for staying behind");
    m_clients_ = &registry->gauge("scope_live_clients", "Live-stream clients connected");
  }
  thread_ = std::thread([this] { run(); });
}

LiveHub::~LiveHub() { stop(); }

void LiveHub::stop() {
  {
    std::lock_guard lock(pending_mu_);
    stopping_ = true;
  }
  pending_cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void LiveHub::publish(event::Batch&& batch) {
  if (subscribed_.load(std::memory_order_relaxed) == 0 || batch.events.empty()) return;
  bool wake = false;
  {
    std::lock_guard lock(pending_mu_);
    if (stopping_) return;
    if (pending_events_ + batch.events.size() > options_.max_pending_events) {
      ++batches_dropped_;
      if (m_dropped_) m_dropped_->add();
      return;
    }
    pending_events_ += batch.events.size();
    pending_.push_back(std::move(batch));
    wake = std::exchange(hub_waiting_, false);
  }
  ++batches_published_;
  if (wake) pending_cv_.notify_one();
}

std::shared_ptr<http::WebSocketListener> LiveHub::attach(
    std::shared_ptr<http::WebSocketPeer> peer) {
  auto client = std::make_shared<Client>(std::move(peer));
  {
    std::lock_guard lock(clients_mu_);
    clients_.push_back(client);
  }
  if (m_clients_) m_clients_->add(1);
  return std::make_shared<Listener>(*this, std::move(client));
}

void LiveHub::subscribed(Client& c, LiveFilter filter) {
  // The answer is queued before the filter takes effect: the client sees it before any event.
  std::string key = dump(filter.to_json());
  c.peer->try_send(R"({"type":"subscribed","filter":)" + key + "}");
  std::lock_guard lock(c.filter_mu);
  if (!c.filter) subscribed_.fetch_add(1);
  c.filter = std::make_shared<const LiveFilter>(std::move(filter));
  c.filter_key = std::move(key);
}

void LiveHub::detach(const std::shared_ptr<Client>& c) {
  {
    std::lock_guard lock(clients_mu_);
    auto it = std::find(clients_.begin(), clients_.end(), c);
    if (it == clients_.end()) return;
    clients_.erase(it);
  }
  if (m_clients_) m_clients_->add(-1);
  std::lock_guard lock(c->filter_mu);
  if (c->filter) subscribed_.fetch_sub(1);
}

LiveStats LiveHub::stats() const {
  LiveStats s;
  s.batches_published = batches_published_;
  s.batches_dropped = batches_dropped_;
  s.events_sent = events_sent_;
  s.events_skipped = events_skipped_;
  s.clients_lagged = clients_lagged_;
  s.clients_cut = clients_cut_;
  std::lock_guard lock(clients_mu_);
  s.clients = clients_.size();
  return s;
}

void LiveHub::run() {
  // Below ingest and queries: when the CPU is short, the stream falls behind (and its clients
  // are told), not ingest. Raising one's own nice needs no privilege; failing it changes nothing.
  if (options_.hub_nice > 0)
    setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), options_.hub_nice);
  auto next_tick = Clock::now() + options_.aggregate_every;
  std::vector<event::Batch> batches;
  for (;;) {
    {
      std::unique_lock lock(pending_mu_);
      if (pending_.empty() && !stopping_) {
        hub_waiting_ = true;
        pending_cv_.wait_until(lock, next_tick, [&] { return stopping_ || !pending_.empty(); });
        hub_waiting_ = false;
      }
      if (stopping_) return;
      batches.swap(pending_);
      pending_events_ = 0;
    }
    auto now = Clock::now();
    {
      std::lock_guard lock(clients_mu_);
      for (const auto& batch : batches) deliver(batch, now);
      if (now >= next_tick) {
        tick(now);
        next_tick = std::max(next_tick + options_.aggregate_every, now);
      }
    }
    batches.clear();  // the events are freed here, not on the publisher's thread
  }
}

namespace {

// The events of `batch` that `filter` matches, as messages of at most `per_message` events,
// and how many of each family matched. `json` caches each event's JSON across clients.
struct Messages {
  std::vector<std::pair<std::shared_ptr<const std::string>, size_t>> messages;  // and events
  std::vector<uint64_t> matched = std::vector<uint64_t>(event::schemas().size());
};

Messages messages_for(const event::Batch& batch, const LiveFilter& filter, size_t per_message,
                      std::vector<std::string>& json) {
  Messages out;
  std::string message;
  size_t count = 0;
  auto flush = [&] {
    message += "]}";
    out.messages.emplace_back(std::make_shared<const std::string>(std::move(message)), count);
    message.clear();
    count = 0;
  };
  for (size_t i = 0; i < batch.events.size(); ++i) {
    const event::EventRow& row = batch.events[i];
    if (!filter.matches(batch.node, row)) continue;
    if (row.family < out.matched.size()) ++out.matched[row.family];
    if (json[i].empty()) json[i] = event_json(batch, i);
    message += count == 0 ? kEventsHead : std::string_view(",");
    message += json[i];
    if (++count == per_message) flush();
  }
  if (count > 0) flush();
  return out;
}

}  // namespace

void LiveHub::deliver(const event::Batch& batch, Clock::time_point now) {
  std::vector<std::string> json(batch.events.size());  // made once, when a client first wants it
  // Clients taking every event of the same filter (a UI's pages mostly ask the same) get the
  // same messages, made once and shared: 20 such clients cost one JSON text, not 20 copies.
  std::map<std::string, Messages, std::less<>> shared;  // by the filter's JSON
  for (const auto& client : clients_) {
    Client& c = *client;
    if (c.cut) continue;
    std::shared_ptr<const LiveFilter> filter;
    std::string key;
    {
      std::lock_guard lock(c.filter_mu);
      filter = c.filter;
      key = c.filter_key;
    }
    if (!filter) continue;
    if (!c.counting) {
      c.counting = true;
      c.interval_start = now;
    }
    if (c.sample_every == 1) {
      auto it = shared.find(key);
      if (it == shared.end())
        it = shared
                 .emplace(std::move(key),
                          messages_for(batch, *filter, options_.max_events_per_message, json))
                 .first;
      for (size_t f = 0; f < c.matched.size(); ++f) c.matched[f] += it->second.matched[f];
      for (const auto& [message, count] : it->second.messages) {
        if (c.cut) break;
        send_events(c, message, count, now);
      }
      continue;
    }
    std::string message;  // sampled: this client's own every Nth event
    size_t count = 0;
    auto flush = [&] {
      message += "]}";
      send_events(c, std::make_shared<const std::string>(std::move(message)), count, now);
      message.clear();
      count = 0;
    };
    for (size_t i = 0; i < batch.events.size() && !c.cut; ++i) {
      const event::EventRow& row = batch.events[i];
      if (!filter->matches(batch.node, row)) continue;
      if (row.family < c.matched.size()) ++c.matched[row.family];
      if (c.sample_seq++ % c.sample_every != 0) continue;
      if (json[i].empty()) json[i] = event_json(batch, i);
      message += count == 0 ? kEventsHead : std::string_view(",");
      message += json[i];
      if (++count == options_.max_events_per_message) flush();
    }
    if (count > 0 && !c.cut) flush();
  }
}

void LiveHub::send_events(Client& c, std::shared_ptr<const std::string> message, size_t count,
                          Clock::time_point now) {
  // A client told nothing of what it missed gets no more events until it is.
  if ((c.skipped_unreported == 0 || report_lag(c)) && c.peer->try_send(std::move(message))) {
    events_sent_ += count;
    if (m_sent_) m_sent_->add(count);
    return;
  }
  skipped(c, count, now);
}

void LiveHub::skipped(Client& c, size_t events, Clock::time_point now) {
  c.skipped_unreported += events;
  c.skipped_total += events;
  events_skipped_ += events;
  if (m_skipped_) m_skipped_->add(events);
  c.last_skip = now;
  if (!c.behind) {
    c.behind = true;
    c.behind_since = now;
    c.sample_every = std::max(c.sample_every, options_.sample_every_when_lagged);
    ++clients_lagged_;
    return;
  }
  if (now - c.behind_since < options_.cut_after) return;
  c.cut = true;
  ++clients_cut_;
  if (m_cut_) m_cut_->add();
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now - c.behind_since).count();
  c.peer->close(http::kClosePolicy, "too slow: behind for " + std::to_string(seconds) + " s, " +
                                        std::to_string(c.skipped_total) +
                                        " events skipped; read faster or subscribe to less");
}

bool LiveHub::report_lag(Client& c) {
  nlohmann::json lagged = {
      {"type", "lagged"},
      {"skipped", c.skipped_unreported},
      {"sample_every", c.sample_every},
      {"message", "you fell behind: " + std::to_string(c.skipped_unreported) +
                      " events were skipped; now every " + std::to_string(c.sample_every) +
                      "th event is sent, and a client still behind after " +
                      std::to_string(options_.cut_after.count() / 1000) + " s is closed"}};
  if (!c.peer->try_send(dump(lagged))) return false;
  c.skipped_unreported = 0;
  return true;
}

void LiveHub::tick(Clock::time_point now) {
  const auto unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  for (const auto& client : clients_) {
    Client& c = *client;
    bool subscribed = false;
    {
      std::lock_guard lock(c.filter_mu);
      subscribed = c.filter != nullptr;
    }
    if (c.cut || !subscribed) continue;
    if (!c.counting) {  // subscribed since the last tick: its first interval starts now
      c.counting = true;
      c.interval_start = now;
      continue;
    }
    // Messages waiting and none taken for a whole interval: a stalled client is behind even
    // when its queue still has room for small messages.
    const uint64_t written = c.peer->written();
    const bool stalled = c.peer->queued() > 0 && written == c.written_at_tick;
    c.written_at_tick = written;
    if (stalled) {
      skipped(c, 0, now);
      if (c.cut) continue;
    }
    if (c.behind && now - c.last_skip >= options_.recover_after) {
      c.behind = false;
      c.sample_every = 1;
    }
    if (c.skipped_unreported > 0) report_lag(c);
    double seconds = std::chrono::duration<double>(now - c.interval_start).count();
    nlohmann::json rates = nlohmann::json::object();
    for (size_t id = 0; id < c.matched.size(); ++id) {
      if (c.matched[id] == 0) continue;
      rates[event::schemas()[id].family] =
          seconds > 0 ? static_cast<double>(c.matched[id]) / seconds : 0.0;
      c.matched[id] = 0;
    }
    c.interval_start = now;
    nlohmann::json aggregate = {
        {"type", "aggregate"},
        {"ts_ns", unix_ns},
        {"interval_ms", static_cast<int64_t>(seconds * 1000)},
        {"events_per_s", rates},
        {"sample_every", c.sample_every},
        {"skipped", c.skipped_total},
    };
    if (!c.peer->try_send(dump(aggregate))) skipped(c, 0, now);
  }
}

void add_live_route(http::Router& router, LiveHub& hub) {
  auto& route =
      router.add_websocket("/api/v1/live", http::Access::kViewer,
                           [&hub](const http::Request&, std::shared_ptr<http::WebSocketPeer> peer) {
                             return hub.attach(std::move(peer));
                           });
  // What a slow client may hold: 4 MiB (some 10,000 events), 512 MiB at the cap of 128 streams.
  route.websocket_limits.max_queued_bytes = 4 << 20;
}

}  // namespace scope::server
