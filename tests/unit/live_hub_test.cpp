// The live stream's hub without sockets: subscribe messages, filters, what a client receives,
// the once-a-second aggregate, and the lag policy (skipped → told → sampled → cut), with peers
// that stand in for WebSockets. Over real sockets: tests/integration/live_test.cpp.
#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "event/schema.h"
#include "server/live.h"

namespace scope::server {
namespace {

using namespace std::chrono_literals;

// A WebSocket as the hub sees it: a queue of `capacity` messages that the test drains.
class FakePeer : public http::WebSocketPeer {
 public:
  explicit FakePeer(size_t capacity = 1000, std::chrono::milliseconds send_cost = 0ms)
      : capacity_(capacity), send_cost_(send_cost) {}
  using WebSocketPeer::try_send;
  bool try_send(std::shared_ptr<const std::string> text) override {
    if (send_cost_ > 0ms) std::this_thread::sleep_for(send_cost_);
    std::lock_guard lock(mu_);
    if (closed_ || queue_.size() >= capacity_) return false;
    queue_.push_back(std::move(text));
    return true;
  }
  size_t queued() const override {
    std::lock_guard lock(mu_);
    return queue_.size();
  }
  uint64_t written() const override {
    std::lock_guard lock(mu_);
    return taken_;
  }
  void close(uint16_t code, std::string reason) override {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    code_ = code;
    reason_ = std::move(reason);
  }
  bool closed() const override {
    std::lock_guard lock(mu_);
    return closed_;
  }
  // What the client has read so far (drains the queue).
  std::vector<nlohmann::json> read() {
    std::lock_guard lock(mu_);
    std::vector<nlohmann::json> out;
    for (auto& m : queue_) out.push_back(nlohmann::json::parse(*m));
    taken_ += queue_.size();
    queue_.clear();
    return out;
  }
  // The texts queued and not yet read, as the hub handed them over (not copied).
  std::vector<std::shared_ptr<const std::string>> queued_texts() const {
    std::lock_guard lock(mu_);
    return {queue_.begin(), queue_.end()};
  }
  uint16_t code() const {
    std::lock_guard lock(mu_);
    return code_;
  }
  std::string reason() const {
    std::lock_guard lock(mu_);
    return reason_;
  }

 private:
  const size_t capacity_;
  const std::chrono::milliseconds send_cost_;
  mutable std::mutex mu_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  uint64_t taken_ = 0;
  bool closed_ = false;
  uint16_t code_ = 0;
  std::string reason_;
};

// Polls `done` until it holds or `limit` passes.
template <typename Pred>
bool eventually(Pred done, std::chrono::milliseconds limit = 5000ms) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

event::EventRow row(std::string_view family, uint32_t pid, std::string comm) {
  return event::make_row(*event::schema_for(family), 1'700'000'000'000'000'000 + pid, pid, pid,
                         std::move(comm));
}

event::Batch batch(std::string node, uint64_t first_seq, std::vector<event::EventRow> rows) {
  return {std::move(node), "boot-1", first_seq, std::move(rows)};
}

// Reads from `peer` until `want` messages of type `type` came (or 5 s), returning every message.
std::vector<nlohmann::json> read_until(FakePeer& peer, const std::string& type, size_t want = 1) {
  std::vector<nlohmann::json> got;
  size_t seen = 0;
  eventually([&] {
    for (auto& m : peer.read()) {
      if (m["type"] == type) ++seen;
      got.push_back(std::move(m));
    }
    return seen >= want;
  });
  return got;
}

std::vector<nlohmann::json> events_in(const std::vector<nlohmann::json>& messages) {
  std::vector<nlohmann::json> out;
  for (const auto& m : messages)
    if (m["type"] == "events")
      for (const auto& e : m["events"]) out.push_back(e);
  return out;
}

TEST(LiveSubscribe, ParsesAFilter) {
  auto f = parse_subscribe(
      R"({"type":"subscribe","events":["cuda","exit"],"nodes":["gpu-1"],"pids":[42],"comms":["python3"]})");
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(f->families,
            (std::vector<uint8_t>{event::schema_for("cuda")->id, event::schema_for("exec")->id}));
  EXPECT_EQ(f->nodes, std::vector<std::string>{"gpu-1"});
  EXPECT_EQ(f->pids, std::vector<uint32_t>{42});
  EXPECT_EQ(f->comms, std::vector<std::string>{"python3"});
  auto any = parse_subscribe(R"({"type":"subscribe"})");
  ASSERT_TRUE(any);
  EXPECT_TRUE(any->families.empty() && any->nodes.empty() && any->pids.empty());
}

TEST(LiveSubscribe, RefusesWhatIsNotASubscribe) {
  std::string many = R"({"type":"subscribe","pids":[)";
  for (int i = 0; i < 65; ++i) many += (i ? "," : "") + std::to_string(i);
  many += "]}";
  const std::vector<std::string> refused = {
      "",
      "not json",
      "[]",
      "42",
      R"({"events":["cuda"]})",
      R"({"type":"unsubscribe"})",
      R"({"type":"subscribe","events":["nosuch"]})",
      R"({"type":"subscribe","events":"cuda"})",
      R"({"type":"subscribe","pids":[-1]})",
      R"({"type":"subscribe","pids":["1"]})",
      R"({"type":"subscribe","pids":[4294967296]})",
      R"({"type":"subscribe","comms":[""]})",
      R"({"type":"subscribe","comms":[1]})",
      R"({"type":"subscribe","extra":1})",
      R"({"type":"subscribe","nodes":[")" + std::string(65, 'n') + "\"]}",
      many};
  for (const auto& bad : refused) EXPECT_FALSE(parse_subscribe(bad)) << bad;
}

TEST(LiveFilter, MatchesEveryListItHas) {
  LiveFilter f;
  EXPECT_TRUE(f.matches("n1", row("cuda", 1, "a")));  // empty: anything
  f.families = {event::schema_for("exec")->id};
  f.nodes = {"n1"};
  f.pids = {7, 8};
  f.comms = {"python3"};
  EXPECT_TRUE(f.matches("n1", row("exec", 7, "python3")));
  EXPECT_TRUE(f.matches("n1", row("exec", 8, "python3")));
  EXPECT_FALSE(f.matches("n2", row("exec", 7, "python3")));
  EXPECT_FALSE(f.matches("n1", row("cuda", 7, "python3")));
  EXPECT_FALSE(f.matches("n1", row("exec", 9, "python3")));
  EXPECT_FALSE(f.matches("n1", row("exec", 7, "bash")));
}

TEST(LiveHub, SendsNothingBeforeASubscribeAndTakesNoBatch) {
  LiveHub hub;
  auto peer = std::make_shared<FakePeer>();
  auto listener = hub.attach(peer);
  auto b = batch("n1", 0, {row("cuda", 1, "a")});
  hub.publish(std::move(b));
  // No client subscribed: publish is a no-op and leaves the publisher's batch as it was.
  EXPECT_EQ(b.events.size(), 1u);  // NOLINT(bugprone-use-after-move): that is the point
  EXPECT_EQ(hub.stats().batches_published, 0u);
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(peer->read().empty());
}

TEST(LiveHub, SendsExactlyTheMatchingEventsWithTheirNodeAndSeq) {
  LiveHub hub;
  auto peer = std::make_shared<FakePeer>();
  auto listener = hub.attach(peer);
  ASSERT_EQ(listener->on_message(R"({"type":"subscribe","events":["exec"],"pids":[7]})"), "");
  auto first = peer->read();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0]["type"], "subscribed");
  EXPECT_EQ(first[0]["filter"]["events"], nlohmann::json::array({"exec"}));

  hub.publish(
      batch("gpu-1", 100,
            {row("exec", 7, "a"), row("cuda", 7, "a"), row("exec", 8, "b"), row("exec", 7, "c")}));
  auto events = events_in(read_until(*peer, "events"));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["event"], "exec");
  EXPECT_EQ(events[0]["pid"], 7);
  EXPECT_EQ(events[0]["comm"], "a");
  EXPECT_EQ(events[0]["node"], "gpu-1");
  EXPECT_EQ(events[0]["seq"], 100);
  EXPECT_EQ(events[1]["comm"], "c");
  EXPECT_EQ(events[1]["seq"], 103);

  // A new subscribe replaces the filter.
  ASSERT_EQ(listener->on_message(R"({"type":"subscribe","nodes":["gpu-2"]})"), "");
  hub.publish(batch("gpu-1", 200, {row("exec", 7, "a")}));
  hub.publish(batch("gpu-2", 300, {row("cuda", 9, "z")}));
  auto later = events_in(read_until(*peer, "events"));
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0]["node"], "gpu-2");
  EXPECT_EQ(later[0]["event"], "cuda");

  EXPECT_NE(listener->on_message(R"({"type":"subscribe","bogus":1})"), "");
}

TEST(LiveHub, SplitsLargeBatchesIntoMessages) {
  LiveOptions o;
  o.max_events_per_message = 10;
  LiveHub hub(o);
  auto peer = std::make_shared<FakePeer>();
  auto listener = hub.attach(peer);
  ASSERT_EQ(listener->on_message(R"({"type":"subscribe"})"), "");
  std::vector<event::EventRow> rows;
  for (uint32_t i = 0; i < 25; ++i) rows.push_back(row("open", i, "x"));
  hub.publish(batch("n", 0, std::move(rows)));
  auto messages = read_until(*peer, "events", 3);
  auto events = events_in(messages);
  ASSERT_EQ(events.size(), 25u);
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i]["seq"], i);
}

TEST(LiveHub, ClientsWithTheSameFilterShareOneTextOthersGetTheirOwn) {
  LiveHub hub;
  std::vector<std::shared_ptr<FakePeer>> peers;
  std::vector<std::shared_ptr<http::WebSocketListener>> listeners;
  for (const char* subscribe :
       {R"({"type":"subscribe","events":["exec"]})", R"({"type":"subscribe","events":["exec"]})",
        R"({"type":"subscribe","events":["cuda"]})"}) {
    peers.push_back(std::make_shared<FakePeer>());
    listeners.push_back(hub.attach(peers.back()));
    ASSERT_EQ(listeners.back()->on_message(subscribe), "");
    peers.back()->read();  // the "subscribed" answer
  }
  hub.publish(batch("n", 1, {row("exec", 1, "a"), row("cuda", 2, "b"), row("exec", 3, "c")}));
  ASSERT_TRUE(eventually([&] {
    for (const auto& p : peers)
      if (p->queued() == 0) return false;
    return true;
  }));
  auto a = peers[0]->queued_texts(), b = peers[1]->queued_texts(), c = peers[2]->queued_texts();
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(a[0].get(), b[0].get());  // one text, two clients
  EXPECT_NE(a[0].get(), c[0].get());
  EXPECT_EQ(events_in(peers[0]->read()).size(), 2u);
  EXPECT_EQ(events_in(peers[2]->read()).size(), 1u);
}

TEST(LiveHub, SendsRatesPerFamilyOncePerInterval) {
  LiveOptions o;
  o.aggregate_every = 200ms;
  LiveHub hub(o);
  auto peer = std::make_shared<FakePeer>();
  auto listener = hub.attach(peer);
  ASSERT_EQ(listener->on_message(R"({"type":"subscribe","events":["cuda"]})"), "");
  hub.publish(batch("n", 0, {row("cuda", 1, "a"), row("cuda", 1, "a"), row("exec", 1, "a")}));
  std::vector<nlohmann::json> aggregates;
  eventually([&] {
    for (auto& m : peer->read())
      if (m["type"] == "aggregate") aggregates.push_back(m);
    return aggregates.size() >= 2;
  });
  ASSERT_GE(aggregates.size(), 2u);
  // The first interval holds the two cuda events (the exec one does not match).
  const auto& first = aggregates[0];
  EXPECT_GT(first["interval_ms"].get<int64_t>(), 0);
  EXPECT_GT(first["events_per_s"]["cuda"].get<double>(), 0);
  EXPECT_FALSE(first["events_per_s"].contains("exec"));
  EXPECT_EQ(first["sample_every"], 1);
  EXPECT_EQ(first["skipped"], 0);
  EXPECT_TRUE(aggregates[1]["events_per_s"].empty());
}

TEST(LiveHub, ASlowClientIsToldItLaggedThenSampledThenCut) {
  LiveOptions o;
  o.max_events_per_message = 1;
  o.sample_every_when_lagged = 10;
  o.cut_after = 400ms;
  o.aggregate_every = 10s;  // out of the way
  LiveHub hub(o);
  auto peer = std::make_shared<FakePeer>(/*capacity=*/3);
  auto listener = hub.attach(peer);
  ASSERT_EQ(listener->on_message(R"({"type":"subscribe"})"), "");
  peer->read();

  // 5 events, one message each, and room for 3: 2 are skipped.
  std::vector<event::EventRow> rows;
  for (uint32_t i = 0; i < 5; ++i) rows.push_back(row("cuda", i, "x"));
  hub.publish(batch("n", 0, rows));
  ASSERT_TRUE(eventually([&] { return hub.stats().events_skipped == 2; }));
  EXPECT_EQ(hub.stats().events_sent, 3u);
  EXPECT_EQ(hub.stats().clients_lagged, 1u);
  EXPECT_EQ(events_in(peer->read()).size(), 3u);

  // It read what it had: it is told what it missed before anything else, then sampled.
  std::vector<event::EventRow> twenty;
  for (uint32_t i = 0; i < 20; ++i) twenty.push_back(row("cuda", i, "x"));
  hub.publish(batch("n", 5, twenty));
  ASSERT_TRUE(eventually([&] { return peer->queued() >= 3; }));
  auto after = peer->read();
  ASSERT_FALSE(after.empty());
  EXPECT_EQ(after[0]["type"], "lagged");
  EXPECT_EQ(after[0]["skipped"], 2);
  EXPECT_EQ(after[0]["sample_every"], 10);
  EXPECT_EQ(events_in(after).size(), 2u);  // every 10th of 20
  EXPECT_FALSE(peer->closed());

  // It stops reading: still behind after cut_after, it is closed with the reason.
  auto until = std::chrono::steady_clock::now() + 2s;
  while (!peer->closed() && std::chrono::steady_clock::now() < until) {
    hub.publish(batch("n", 100, twenty));
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(peer->closed());
  EXPECT_EQ(peer->code(), http::kClosePolicy);
  EXPECT_NE(peer->reason().find("too slow"), std::string::npos) << peer->reason();
  EXPECT_LE(peer->reason().size(), 123u);
  EXPECT_EQ(hub.stats().clients_cut, 1u);
}

TEST(LiveHub, AClientThatTakesNothingIsCutEvenWithRoomInItsQueue) {
  LiveOptions o;
  o.aggregate_every = 100ms;
  o.cut_after = 400ms;
  LiveHub hub(o);
  auto peer = std::make_shared<FakePeer>(/*capacity=*/1000);
  auto listener = hub.attach(peer);
  ASSERT_EQ(listener->on_message(R"({"type":"subscribe"})"), "");
  hub.publish(batch("n", 0, {row("cuda", 1, "x")}));
  // Nothing is ever read: no message is refused, but none is taken either.
  ASSERT_TRUE(eventually([&] { return peer->closed(); }, 3000ms));
  EXPECT_EQ(peer->code(), http::kClosePolicy);
  EXPECT_NE(peer->reason().find("too slow"), std::string::npos) << peer->reason();
  EXPECT_EQ(hub.stats().clients_cut, 1u);
}

TEST(LiveHub, AFastClientIsNotHeldBackByASlowOne) {
  LiveOptions o;
  o.max_events_per_message = 1;
  o.cut_after = 10s;
  LiveHub hub(o);
  auto slow = std::make_shared<FakePeer>(1);
  auto fast = std::make_shared<FakePeer>();
  auto l1 = hub.attach(slow);
  auto l2 = hub.attach(fast);
  ASSERT_EQ(l1->on_message(R"({"type":"subscribe"})"), "");
  ASSERT_EQ(l2->on_message(R"({"type":"subscribe"})"), "");
  slow->read();  // the "subscribed" answers
  fast->read();
  std::vector<event::EventRow> rows;
  for (uint32_t i = 0; i < 50; ++i) rows.push_back(row("cuda", i, "x"));
  hub.publish(batch("n", 0, rows));
  size_t got = 0;
  ASSERT_TRUE(eventually([&] {
    got += events_in(fast->read()).size();
    return got == 50;
  }));
  // The slow one had room for one message: the rest was skipped or sampled away.
  EXPECT_EQ(events_in(slow->read()).size(), 1u);
  EXPECT_GT(hub.stats().events_skipped, 0u);
  EXPECT_EQ(hub.stats().clients_lagged, 1u);
}

TEST(LiveHub, PublishNeverWaitsForAStalledHub) {
  LiveOptions o;
  o.max_pending_events = 1000;
  LiveHub hub(o);
  // Every message costs the hub's thread 50 ms: the hub falls behind the publisher.
  auto peer = std::make_shared<FakePeer>(100000, 50ms);
  auto listener = hub.attach(peer);
  ASSERT_EQ(listener->on_message(R"({"type":"subscribe"})"), "");
  std::vector<event::EventRow> rows(100, row("cuda", 1, "x"));
  auto slowest = std::chrono::nanoseconds(0);
  for (int i = 0; i < 200; ++i) {
    auto start = std::chrono::steady_clock::now();
    hub.publish(batch("n", static_cast<uint64_t>(i) * 100, rows));
    slowest = std::max(slowest, std::chrono::steady_clock::now() - start);
  }
  EXPECT_LT(slowest, 20ms);  // a mutex and a move, whatever the hub's thread is doing
  EXPECT_GT(hub.stats().batches_dropped, 0u);
  EXPECT_LE(hub.stats().batches_published + hub.stats().batches_dropped, 200u);
}

TEST(LiveHub, ForgetsAClientThatClosed) {
  LiveHub hub;
  auto peer = std::make_shared<FakePeer>();
  auto listener = hub.attach(peer);
  ASSERT_EQ(listener->on_message(R"({"type":"subscribe"})"), "");
  EXPECT_EQ(hub.stats().clients, 1u);
  listener->on_close();
  EXPECT_EQ(hub.stats().clients, 0u);
  auto b = batch("n", 0, {row("cuda", 1, "a")});
  hub.publish(std::move(b));
  EXPECT_EQ(b.events.size(), 1u);  // NOLINT(bugprone-use-after-move): no subscriber, not taken
}

}  // namespace
}  // namespace scope::server
