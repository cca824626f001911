// The live stream (GET /api/v1/live) of the real binaries over real WebSockets: `scope up` (its
// store writer publishes) for the checks made before the upgrade, the filter and the exact
// events; `scope server` with a synthetic agent (ingest publishes) for slow clients, which are
// told they lagged or are cut while every event is still stored.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <thread>

#include "fleet_helpers.h"
#include "scope_up.h"
#include "tests/support/ws_client.h"

namespace scope::itest {
namespace {

using namespace std::chrono_literals;
using testnet::WsClient;
using Clock = std::chrono::steady_clock;

int port_of(const std::string& url) { return std::stoi(url.substr(url.rfind(':') + 1)); }

std::string error_code_of(const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  return j.is_object() && j.contains("error") ? j["error"].value("code", "") : "";
}

// Reads messages until one of `type` arrives (returned) or `limit` passes (null).
json read_type(WsClient& ws, const std::string& type, std::chrono::milliseconds limit = 10s) {
  auto until = Clock::now() + limit;
  while (Clock::now() < until) {
    auto m = ws.read(std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()));
    if (!m) return nullptr;
    json j = json::parse(*m, nullptr, false);
    if (j.is_object() && j["type"] == type) return j;
  }
  return nullptr;
}

// A viewer's access token: an admin invites, the viewer registers and logs in.
std::string viewer_token(const std::string& url, const std::string& admin) {
  const std::string pw = "correct horse battery";
  // The first user is the admin, registered with the admin token; viewers come by invite.
  auto first =
      http_post(url + "/api/v1/auth/register", json{{"username", "ada"}, {"password", pw}}.dump(),
                {{"Authorization", "Bearer " + admin}});
  EXPECT_EQ(first.status, 201) << first.body;
  auto invite = http_post(url + "/api/v1/auth/invites", json{{"role", "viewer"}}.dump(),
                          {{"Authorization", "Bearer " + admin}});
  EXPECT_EQ(invite.status, 201) << invite.body;
  auto code = json::parse(invite.body, nullptr, false).value("invite", "");
  auto reg = http_post(url + "/api/v1/auth/register",
                       json{{"username", "vera"}, {"password", pw}, {"invite", code}}.dump());
  EXPECT_EQ(reg.status, 201) << reg.body;
  auto login =
      http_post(url + "/api/v1/auth/login", json{{"username", "vera"}, {"password", pw}}.dump());
  EXPECT_EQ(login.status, 200) << login.body;
  return json::parse(login.body, nullptr, false).value("access_token", "");
}

class LiveUp : public ::testing::Test {
 protected:
  void SetUp() override {
    SCOPE_BPF_REQUIRE();
    dir_ = make_temp_dir("scope-live");
    ASSERT_TRUE(up_.start(dir_, {"--probes", "exec"})) << up_.process().err();
    port_ = port_of(up_.url());
  }
  void TearDown() override {
    if (!HasFailure() && !dir_.empty()) std::filesystem::remove_all(dir_);
  }
  WsClient::Headers admin() const { return {{"Authorization", "Bearer " + up_.token()}}; }

  std::string dir_;
  ScopeUp up_;
  int port_ = 0;
};

TEST_F(LiveUp, RefusesBeforeTheUpgradeWithoutAValidTokenOrFromAnotherSite) {
  {
    WsClient ws;
    EXPECT_EQ(ws.connect(port_, {}), 401);
    EXPECT_EQ(error_code_of(ws.response().body()), "unauthorized");
  }
  {
    WsClient ws;  // a token in the URL is not one: URLs land in access logs
    EXPECT_EQ(ws.connect(port_, {}, "/api/v1/live?access_token=" + up_.token()), 401);
  }
  {
    WsClient ws;
    EXPECT_EQ(ws.connect(port_, {{"Authorization", "Bearer not-a-token"}}), 401);
  }
  {
    WsClient ws;
    EXPECT_EQ(ws.connect(port_, {{"Sec-WebSocket-Protocol", "scope.v1, bearer.not-a-token"}}), 401);
  }
  {
    WsClient ws;  // a browser that does not speak scope.v1
    EXPECT_EQ(ws.connect(port_, {{"Sec-WebSocket-Protocol", "bearer." + up_.token()}}), 400);
  }
  {
    WsClient ws;  // another site's page riding the user's token
    auto h = admin();
    h.emplace_back("Origin", "https://evil.example");
    EXPECT_EQ(ws.connect(port_, h), 403);
  }
  {
    WsClient ws;  // the UI scope serves itself
    auto h = admin();
    h.emplace_back("Origin", "http://127.0.0.1:" + std::to_string(port_));
    EXPECT_EQ(ws.connect(port_, h), 101);
  }
  // A plain GET is told to upgrade.
  auto plain = http_get(up_.url() + "/api/v1/live", {{"Authorization", "Bearer " + up_.token()}});
  EXPECT_EQ(plain.status, 426) << plain.body;
}

TEST_F(LiveUp, AViewerGetsExactlyTheEventsItSubscribedTo) {
  std::string token = viewer_token(up_.url(), up_.token());
  ASSERT_FALSE(token.empty());
  WsClient ws;
  ASSERT_EQ(ws.connect(port_, {{"Sec-WebSocket-Protocol", "scope.v1, bearer." + token}}), 101)
      << ws.response().body();
  // Only the subprotocol comes back, never the token.
  EXPECT_EQ(ws.response()[boost::beast::http::field::sec_websocket_protocol], "scope.v1");

  // A marker program of our own, so that exactly its execs can be counted.
  std::string marker = dir_ + "/live-marker";
  std::filesystem::copy_file("/bin/true", marker);
  ASSERT_TRUE(ws.send(R"({"type":"subscribe","events":["exec"],"comms":["live-marker"]})"));
  json subscribed = read_type(ws, "subscribed");
  ASSERT_TRUE(subscribed.is_object()) << ws.error().message();
  EXPECT_EQ(subscribed["filter"]["events"], json::array({"exec"}));

  constexpr int kRuns = 5;
  for (int i = 0; i < kRuns; ++i) ASSERT_EQ(bpftest::run({marker}, 10).status, 0);
  int execs = 0;
  std::set<int64_t> seqs;
  auto until = Clock::now() + 15s;
  while (execs < kRuns && Clock::now() < until) {
    json m = read_type(ws, "events", 15s);
    ASSERT_TRUE(m.is_object()) << ws.error().message();
    for (const auto& e : m["events"]) {
      // The filter holds: nothing but the marker's exec-family events.
      EXPECT_EQ(e["comm"], "live-marker") << e;
      EXPECT_TRUE(e["event"] == "exec" || e["event"] == "exit") << e;
      EXPECT_TRUE(e.contains("node") && e.contains("seq") && e.contains("ts_ns")) << e;
      if (e["event"] == "exec") {
        EXPECT_EQ(e["filename"], marker) << e;
        ++execs;
      }
      seqs.insert(e["seq"].get<int64_t>());
    }
  }
  EXPECT_EQ(execs, kRuns);
  // What the client saw is what the store holds.
  EXPECT_EQ(up_.wait_count("SELECT count(*) FROM exec_events WHERE filename = '" + marker +
                               "' AND call <> 'exit'",
                           kRuns),
            kRuns);

  // Once a second: the rates of what matches.
  json aggregate = read_type(ws, "aggregate", 5s);
  ASSERT_TRUE(aggregate.is_object());
  EXPECT_EQ(aggregate["sample_every"], 1);
  EXPECT_EQ(aggregate["skipped"], 0);
  EXPECT_TRUE(aggregate["events_per_s"].is_object());
}

TEST_F(LiveUp, ClosesOnMessagesThatAreTooLargeMalformedOrBinary) {
  {
    WsClient ws;
    ASSERT_EQ(ws.connect(port_, admin()), 101);
    ASSERT_TRUE(ws.send(R"({"type":"subscribe","comms":[")" + std::string(8000, 'x') + "\"]}"));
    EXPECT_FALSE(ws.read(5s));
    EXPECT_TRUE(ws.closed_by_server()) << ws.error().message();
    EXPECT_EQ(ws.close_reason().code, 1009);
  }
  {
    WsClient ws;
    ASSERT_EQ(ws.connect(port_, admin()), 101);
    ASSERT_TRUE(ws.send("{not json"));
    EXPECT_FALSE(ws.read(5s));
    EXPECT_TRUE(ws.closed_by_server()) << ws.error().message();
    EXPECT_EQ(ws.close_reason().code, 1008);
    EXPECT_FALSE(std::string(ws.close_reason().reason.c_str()).empty());
  }
  {
    WsClient ws;
    ASSERT_EQ(ws.connect(port_, admin()), 101);
    ASSERT_TRUE(ws.send(R"({"type":"subscribe","events":["nosuch"]})"));
    EXPECT_FALSE(ws.read(5s));
    EXPECT_EQ(ws.close_reason().code, 1008);
    EXPECT_NE(std::string(ws.close_reason().reason.c_str()).find("nosuch"), std::string::npos);
  }
  {
    WsClient ws;
    ASSERT_EQ(ws.connect(port_, admin()), 101);
    ASSERT_TRUE(ws.send(R"({"type":"subscribe"})", /*binary=*/true));
    EXPECT_FALSE(ws.read(5s));
    EXPECT_EQ(ws.close_reason().code, 1003);
  }
  // The server is fine.
  EXPECT_EQ(http_get(up_.url() + "/health").status, 200);
}

TEST_F(LiveUp, CapsLiveClientsPerAddress) {
  std::vector<std::unique_ptr<WsClient>> open;
  for (int i = 0; i < 32; ++i) {
    open.push_back(std::make_unique<WsClient>());
    ASSERT_EQ(open.back()->connect(port_, admin()), 101) << i;
  }
  WsClient one_more;
  EXPECT_EQ(one_more.connect(port_, admin()), 429);
  open.pop_back();  // a place comes free once the server has seen the close
  EXPECT_TRUE(fleettest::wait_until(
      [&] {
        WsClient again;
        return again.connect(port_, admin()) == 101;
      },
      10));
}

// scope server with an agent making `count` synthetic events at `rate`/s, and the admin token.
struct LiveFleet {
  explicit LiveFleet(const std::string& name) : fleet(name) {}
  fleettest::Fleet fleet;
  int port = 0;
  std::string token;
  void start_server() {
    auto& server = fleet.server();
    port = fleettest::metrics_port(server);
    ASSERT_GT(port, 0) << server.err();
    token = fleet.admin_token();
  }
  double metric(const std::string& series) { return fleettest::metric(port, series); }
};

TEST(LiveServer, AClientThatNeverReadsIsCutWhileIngestAndAFastClientKeepUp) {
  SCOPE_FLEET_REQUIRE();
  LiveFleet f("live_cut");
  ASSERT_NO_FATAL_FAILURE(f.start_server());
  WsClient::Headers h = {{"Authorization", "Bearer " + f.token}};
  WsClient stalled, fast;
  ASSERT_EQ(stalled.connect(f.port, h), 101);
  ASSERT_EQ(fast.connect(f.port, h), 101);
  ASSERT_TRUE(stalled.send(R"({"type":"subscribe"})"));
  ASSERT_TRUE(fast.send(R"({"type":"subscribe","events":["cuda"]})"));
  ASSERT_TRUE(read_type(stalled, "subscribed").is_object());
  ASSERT_TRUE(read_type(fast, "subscribed").is_object());

  constexpr int64_t kEvents = 50'000;
  auto& agent = f.fleet.agent("live-node", kEvents, 10'000);
  // The fast client reads everything, in order, while the stalled one reads nothing.
  std::set<int64_t> seen;
  int64_t skipped_reported = 0;
  auto until = Clock::now() + 60s;
  while (static_cast<int64_t>(seen.size()) < kEvents && Clock::now() < until) {
    auto m = fast.read(20s);
    ASSERT_TRUE(m) << fast.error().message() << fleettest::describe(agent);
    json j = json::parse(*m);
    if (j["type"] == "lagged") skipped_reported += j["skipped"].get<int64_t>();
    if (j["type"] != "events") continue;
    for (const auto& e : j["events"]) {
      EXPECT_EQ(e["node"], "live-node");
      seen.insert(e["seq"].get<int64_t>());
    }
  }
  EXPECT_EQ(static_cast<int64_t>(seen.size()), kEvents);
  EXPECT_EQ(skipped_reported, 0);
  EXPECT_TRUE(f.fleet.wait_stored(kEvents, 30)) << f.fleet.stored();

  // The stalled client (its messages queued or skipped, none taken) is cut (1008) once it has
  // been behind for 5 s; ingest never waited on it.
  EXPECT_TRUE(
      fleettest::wait_until([&] { return f.metric("scope_live_clients_cut_total") >= 1; }, 20));
  // What it has buffered is readable, then the connection is over.
  auto stop = Clock::now() + 30s;
  while (stalled.read(5s) && Clock::now() < stop) {
  }
  EXPECT_NE(stalled.error(), boost::beast::error::timeout) << "still open";
  // The fast one is still served.
  EXPECT_TRUE(read_type(fast, "aggregate", 5s).is_object());
}

TEST(LiveServer, AClientThatPausesIsToldWhatItMissedAndSampled) {
  SCOPE_FLEET_REQUIRE();
  LiveFleet f("live_lag");
  ASSERT_NO_FATAL_FAILURE(f.start_server());
  WsClient ws;
  ASSERT_EQ(ws.connect(f.port, {{"Authorization", "Bearer " + f.token}}), 101);
  ASSERT_TRUE(ws.send(R"({"type":"subscribe","events":["cuda"],"nodes":["lag-node"]})"));
  ASSERT_TRUE(read_type(ws, "subscribed").is_object());
  f.fleet.agent("lag-node", 400'000, 25'000);
  // It reads nothing until the server has had to skip events for it.
  ASSERT_TRUE(
      fleettest::wait_until([&] { return f.metric("scope_live_events_skipped_total") > 0; }, 30));
  json lagged = read_type(ws, "lagged", 30s);
  ASSERT_TRUE(lagged.is_object()) << ws.error().message();
  EXPECT_GT(lagged["skipped"].get<int64_t>(), 0);
  EXPECT_EQ(lagged["sample_every"], 10);
  // Then it keeps up with every 10th event, and is not cut.
  json aggregate = read_type(ws, "aggregate", 10s);
  ASSERT_TRUE(aggregate.is_object()) << ws.error().message();
  EXPECT_EQ(aggregate["sample_every"], 10);
  EXPECT_GT(aggregate["skipped"].get<int64_t>(), 0);
  EXPECT_TRUE(read_type(ws, "events", 10s).is_object()) << ws.error().message();
  EXPECT_EQ(f.metric("scope_live_clients_cut_total"), 0);
}

}  // namespace
}  // namespace scope::itest
