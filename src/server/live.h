// The live stream (GET /api/v1/live, a WebSocket): committed events pushed to clients as they
// are stored, filtered per client, and once a second the rates of what matches.
//
// Publishers (ingest's store_batch, scope up's store writer) hand each committed batch to
// LiveHub::publish, which moves it into a bounded hand-off and returns: no filtering, no JSON,
// no socket on the publisher's thread, and nothing at all when no client is subscribed. The
// hub's thread filters, makes JSON once per event and queues messages on each client's bounded
// queue (http::WebSocketPeer). A slow client never slows ingest: when its queue is full its
// events are skipped and counted; it is told how many ({"type":"lagged"}) as soon as its queue
// has room, gets every Nth event from then on, and is closed (1008, with the reason) when it is
// still behind after cut_after. A client that takes nothing for a whole aggregate interval
// while messages wait for it is behind too, even with room left in its queue.
//
// Protocol (docs/api/openapi.json, LiveClientMessage / LiveServerMessage):
//   client → {"type":"subscribe","events":["cuda","exec"],"nodes":["gpu-1"],"pids":[42],
//             "comms":["python3"]}   every list optional (absent or empty: any); replaces the
//             filter; nothing is sent before the first subscribe
//   server → {"type":"subscribed","filter":{...}}
//            {"type":"events","events":[{event JSON, as scope trace --json, plus node, seq}]}
//            {"type":"aggregate","ts_ns":...,"interval_ms":1000,"events_per_s":{"cuda":n},
//             "sample_every":1,"skipped":0}
//            {"type":"lagged","skipped":n,"sample_every":10,"message":"..."}
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/result.h"
#include "event/batch.h"
#include "http/router.h"
#include "http/websocket.h"

namespace scope::metrics {
class Registry;
class Counter;
class Gauge;
}  // namespace scope::metrics

namespace scope::server {

// What a client subscribed to. An empty list matches anything.
struct LiveFilter {
  std::vector<uint8_t> families;  // event::FamilySchema::id ("exit" is the exec family)
  std::vector<std::string> nodes;
  std::vector<uint32_t> pids;
  std::vector<std::string> comms;

  bool matches(const std::string& node, const event::EventRow& row) const;
  nlohmann::json to_json() const;
};

// The most entries a filter list may hold, and the longest string in one.
inline constexpr size_t kMaxFilterEntries = 64;
inline constexpr size_t kMaxFilterString = 64;

// A client's {"type":"subscribe",...} message; an error line for anything else (unknown keys,
// unknown families, too many entries, wrong types).
Result<LiveFilter> parse_subscribe(std::string_view text);

struct LiveOptions {
  std::chrono::milliseconds aggregate_every{1000};
  size_t max_events_per_message = 500;  // a batch's events are split into messages this large
  size_t sample_every_when_lagged = 10;
  std::chrono::milliseconds cut_after{5000};       // behind this long: closed
  std::chrono::milliseconds recover_after{10000};  // no skip for this long: every event again
  // Events handed over and not yet filtered; a batch that would pass it is skipped for every
  // client (counted), so that a stalled hub costs memory that is bounded.
  size_t max_pending_events = 500'000;
  // The nice value of the hub's thread (its JSON is most of the stream's CPU).
  int hub_nice = 10;
};

struct LiveStats {
  uint64_t batches_published = 0;  // handed to the hub with a client subscribed
  uint64_t batches_dropped = 0;    // skipped because the hub itself was behind
  uint64_t events_sent = 0;        // queued to clients (one per client it went to)
  uint64_t events_skipped = 0;     // matched a client but skipped: it was behind
  uint64_t clients_lagged = 0;     // times a client fell behind
  uint64_t clients_cut = 0;        // clients closed for staying behind
  size_t clients = 0;              // connected now
};

class LiveHub {
 public:
  explicit LiveHub(LiveOptions options = {}, metrics::Registry* registry = nullptr);
  ~LiveHub();
  LiveHub(const LiveHub&) = delete;
  LiveHub& operator=(const LiveHub&) = delete;

  // A committed batch. Never blocks on a client; takes the batch's events by moving them (the
  // caller's batch is left empty) when a client is subscribed, and touches nothing otherwise.
  void publish(event::Batch&& batch);
  // A new client on `peer`; the listener is what the WebSocket route gives the server.
  std::shared_ptr<http::WebSocketListener> attach(std::shared_ptr<http::WebSocketPeer> peer);
  LiveStats stats() const;
  const LiveOptions& options() const { return options_; }
  // Ends the hub's thread (the destructor does too); publish is a no-op afterwards.
  void stop();

 private:
  struct Client;
  class Listener;
  void run();
  void deliver(const event::Batch& batch, std::chrono::steady_clock::time_point now);
  void send_events(Client& c, std::shared_ptr<const std::string> message, size_t count,
                   std::chrono::steady_clock::time_point now);
  void skipped(Client& c, size_t events, std::chrono::steady_clock::time_point now);
  bool report_lag(Client& c);
  void tick(std::chrono::steady_clock::time_point now);
  void detach(const std::shared_ptr<Client>& c);
  void subscribed(Client& c, LiveFilter filter);

  const LiveOptions options_;
  std::atomic<size_t> subscribed_{0};  // clients with a filter: publish is a no-op at 0

  std::mutex pending_mu_;
  std::condition_variable pending_cv_;
  // Set while the hub's thread waits: a publisher signals only then, and once (glibc's
  // pthread_cond_signal can wait for an earlier signalled waiter to be scheduled; a publisher
  // signalling a busy hub again and again could wait on it).
  bool hub_waiting_ = false;
  std::vector<event::Batch> pending_;
  size_t pending_events_ = 0;
  bool stopping_ = false;

  mutable std::mutex clients_mu_;  // the client list; held by the hub's thread while it delivers
  std::list<std::shared_ptr<Client>> clients_;

  std::atomic<uint64_t> batches_published_{0}, batches_dropped_{0}, events_sent_{0},
      events_skipped_{0}, clients_lagged_{0}, clients_cut_{0};
  metrics::Counter* m_sent_ = nullptr;
  metrics::Counter* m_skipped_ = nullptr;
  metrics::Counter* m_dropped_ = nullptr;
  metrics::Counter* m_cut_ = nullptr;
  metrics::Gauge* m_clients_ = nullptr;

  std::thread thread_;
};

// GET /api/v1/live (viewer or admin) on `router`, served by `hub`.
void add_live_route(http::Router& router, LiveHub& hub);

}  // namespace scope::server
