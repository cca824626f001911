// The fleet end to end: `scope agent` → Redis stream → `scope server` →
// PostgreSQL, with real servers, and the faults it must survive with every
// event stored exactly once. Agents generate synthetic cuda launches (the
// --test-synthetic-* hook) so that no root and no probes are needed.
#include <signal.h>

#include <fstream>

#include "event/batch.h"
#include "event/cuda_event.h"
#include "families/cuda_output.h"
#include "fleet_helpers.h"
#include "http/client.h"
#include "tests/unit/batch_bombs.h"

namespace scope::fleettest {

double metric(int port, const std::string& series) {
  http::ClientRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/metrics";
  req.timeout = std::chrono::seconds(5);
  auto res = http::fetch(req);
  if (!res || res->status != 200) return -1;
  for (const auto& line : bpftest::lines_of(res->body))
    if (line.rfind(series + " ", 0) == 0) return std::atof(line.c_str() + series.size() + 1);
  return -1;
}

namespace {

TEST(Fleet, TwoAgentsWithTheirNodeNames) {
  SCOPE_FLEET_REQUIRE();
  Fleet f("two_agents");
  Process& server = f.server();
  Process& a = f.agent("node-a", 30000, 0);
  Process& b = f.agent("node-b", 20000, 0);
  ASSERT_TRUE(f.wait_stored(50000, 60)) << f.stored() << "\n" << describe(server) << describe(a);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // nothing more arrives
  expect_exactly_once(f, 50000);
  EXPECT_EQ(f.pg().scalar("SELECT count(*) FROM cuda_events WHERE node = 'node-a'"), 30000);
  EXPECT_EQ(f.pg().scalar("SELECT count(*) FROM cuda_events WHERE node = 'node-b'"), 20000);
  EXPECT_EQ(f.pg().scalar("SELECT count(*) FROM scope_batches"),
            f.pg().scalar("SELECT count(DISTINCT (node, boot_id, first_seq)) FROM scope_batches"));
  int port = metrics_port(server);
  ASSERT_GT(port, 0) << describe(server);
  EXPECT_EQ(metric(port, "scope_events_stored_total"), 50000);
  // scope sql through the server (read-only transaction on PostgreSQL).
  const std::string dir = f.data_dir("server");
  auto by_node =
      bpftest::run({kScope, "sql", "--data-dir", dir, "--csv",
                    "SELECT node, count(*) FROM cuda_events GROUP BY node ORDER BY node"});
  EXPECT_EQ(by_node.status, 0) << by_node.err;
  EXPECT_EQ(by_node.out, "node,count\nnode-a,30000\nnode-b,20000\n");
  auto write = bpftest::run({kScope, "sql", "--data-dir", dir, "DELETE FROM cuda_events"});
  EXPECT_EQ(write.status, 1);
  EXPECT_NE(write.err.find("read-only"), std::string::npos) << write.err;
  a.signal(SIGTERM);
  b.signal(SIGTERM);
  auto ra = a.wait(30);
  auto sa = summary_of(ra);
  ASSERT_TRUE(sa.is_object()) << ra.out << ra.err;
  EXPECT_EQ(sa["received"], 30000);
  EXPECT_EQ(sa["shipped"], 30000);
  EXPECT_EQ(sa["dropped"]["queue_full"], 0);
  b.wait(30);
  server.signal(SIGTERM);
  auto rs = server.wait(30);
  EXPECT_EQ(rs.status, 0) << rs.err;
  auto ss = summary_of(rs);
  ASSERT_TRUE(ss.is_object()) << rs.out;
  EXPECT_EQ(ss["stored"], 50000);
}

// The real probes: the CUDA demo traced by `scope agent`, its operations
// counted in PostgreSQL exactly as the demo reports them.
TEST(Fleet, CudaDemoThroughAgentRedisServerPostgres) {
  SCOPE_FLEET_REQUIRE();
  if (std::string why = bpftest::skip_reason(); !why.empty()) {
    std::printf("skipped: %s\n", why.c_str());
    GTEST_SKIP() << why;
  }
  Fleet f("cuda_demo");
  Process& server = f.server();
  f.enroll("demo-node", f.data_dir("agent"));
  Process& agent = f.start({kScope, "agent", "--redis", redis_url(), "--node", "demo-node",
                            "--stream", f.stream(), "--probes", "cuda", "--listen", "127.0.0.1:0",
                            "--data-dir", f.data_dir("agent"), "--batch-delay-ms", "50"});
  // The probes are attached once the agent says it ships.
  ASSERT_TRUE(wait_until(
      [&] {
        agent.pump(0);
        return agent.err().find("shipping to") != std::string::npos;
      },
      60))
      << describe(agent);
  RunResult demo = bpftest::run({bpftest::kBin + "/cuda_demo"}, 120);
  ASSERT_EQ(demo.status, 0) << demo.err;
  nlohmann::json expect;
  for (const auto& line : bpftest::lines_of(demo.out))
    if (line.rfind("expect ", 0) == 0)
      expect = nlohmann::json::parse(line.substr(7), nullptr, false);
  ASSERT_TRUE(expect.is_object()) << demo.out;
  int64_t total = 0;
  for (const auto& [op, key] : bpftest::kDemoOps) total += expect.at(key).get<int64_t>();
  // Other processes on the host may use CUDA too: count the demo's comm only.
  auto demo_count = [&] {
    return f.pg().scalar(
        "SELECT count(*) FROM cuda_events WHERE comm = 'cuda_demo' AND node = "
        "'demo-node'");
  };
  ASSERT_TRUE(wait_until([&] { return demo_count() >= total; }, 60))
      << demo_count() << " of " << total << "\n"
      << describe(agent) << describe(server);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(demo_count(), total);
  for (const auto& [op, key] : bpftest::kDemoOps)
    EXPECT_EQ(f.pg().scalar(std::string("SELECT count(*) FROM cuda_events WHERE comm = "
                                        "'cuda_demo' AND op = '") +
                            op + "'"),
              expect.at(key).get<int64_t>())
        << op;
  EXPECT_EQ(f.pg().scalar("SELECT count(*) FROM cuda_events WHERE comm = 'cuda_demo' AND op = "
                          "'launch' AND kernel IS NULL"),
            0);
}

TEST(Fleet, ServerKilledMidRunThenRestarted) {
  SCOPE_FLEET_REQUIRE();
  Fleet f("server_kill");
  const int64_t n = 300000;
  Process& server = f.server();
  Process& agent = f.agent("node-k", n, 60000);
  ASSERT_TRUE(f.wait_stored(30000, 60)) << describe(server);
  server.signal(SIGKILL);
  server.wait(10);
  int64_t at_kill = f.stored();
  EXPECT_LT(at_kill, n) << "the run ended before the kill: nothing was tested";
  std::this_thread::sleep_for(std::chrono::seconds(1));
  Process& again = f.server();  // same consumer name: finds its pending entries
  ASSERT_TRUE(f.wait_stored(n, 90)) << f.stored() << "\n" << describe(again) << describe(agent);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  expect_exactly_once(f, n);
}

TEST(Fleet, AnotherServerClaimsWhatADeadOneLeftPending) {
  SCOPE_FLEET_REQUIRE();
  Fleet f("claim");
  const int64_t n = 100000;
  // A consumer that read entries and died before acknowledging them.
  transport::StreamConsumer ghost(f.redis(), {f.stream(), "scope-server", "ghost"});
  ASSERT_TRUE(ghost.ensure_group());
  Process& agent = f.agent("node-c", n, 0);
  size_t taken = 0;
  ASSERT_TRUE(wait_until(
      [&] {
        auto got = ghost.read(4, 100);
        taken += got ? got->size() : 0;
        return taken >= 4;
      },
      30))
      << describe(agent);
  // A different consumer: it has to take the ghost's pending entries over. The agent started
  // before any server, so it could not enroll: its batches are unsigned.
  Process& server = f.server({"--claim-idle-ms", "1000", "--allow-unsigned-batches"}, "server-b");
  ASSERT_TRUE(f.wait_stored(n, 90)) << f.stored() << "\n" << describe(server) << describe(agent);
  EXPECT_TRUE(wait_until(
      [&] {
        auto pending = f.redis().command({"XPENDING", f.stream(), "scope-server"});
        return pending && pending->elements.at(0).integer == 0;
      },
      20))
      << "entries left unacknowledged\n"
      << describe(server);
  server.signal(SIGTERM);
  auto s = summary_of(server.wait(30));
  ASSERT_TRUE(s.is_object());
  EXPECT_EQ(s["claimed"].get<int64_t>(), static_cast<int64_t>(taken));
  expect_exactly_once(f, n);
}

TEST(Fleet, RedisRestartedMidRun) {
  SCOPE_FLEET_REQUIRE(true);
  Fleet f("redis_restart");
  const int64_t n = 200000;
  Process& server = f.server();
  Process& agent = f.agent("node-r", n, 40000);
  ASSERT_TRUE(f.wait_stored(20000, 60)) << describe(server);
  services("stop-redis");
  std::this_thread::sleep_for(std::chrono::seconds(2));
  services("start-redis");
  ASSERT_TRUE(f.wait_stored(n, 120)) << f.stored() << "\n" << describe(server) << describe(agent);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  expect_exactly_once(f, n);
  agent.signal(SIGTERM);
  auto s = summary_of(agent.wait(30));
  ASSERT_TRUE(s.is_object());
  EXPECT_GT(s["spooled"].get<int64_t>(), 0) << "Redis was never seen down: nothing was tested";
  EXPECT_EQ(s["replayed"], s["spooled"]);
}

TEST(Fleet, PostgresStoppedAndStarted) {
  SCOPE_FLEET_REQUIRE(true);
  Fleet f("pg_restart");
  const int64_t n = 200000;
  Process& server = f.server();
  Process& agent = f.agent("node-p", n, 40000);
  ASSERT_TRUE(f.wait_stored(20000, 60)) << describe(server);
  services("stop-postgres");
  std::this_thread::sleep_for(std::chrono::seconds(3));
  services("start-postgres");
  ASSERT_TRUE(f.wait_stored(n, 120)) << f.stored() << "\n" << describe(server) << describe(agent);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  expect_exactly_once(f, n);
  int port = metrics_port(server);
  EXPECT_GT(metric(port, "scope_store_errors_total"), 0) << "the store never failed";
}

TEST(Fleet, AgentKilledWithBatchesInItsSpoolReplaysThemAfterRestart) {
  SCOPE_FLEET_REQUIRE(true);
  Fleet f("agent_spool");
  const int64_t n = 50000;
  services("stop-redis");
  std::string dir = f.data_dir("agent-spool");
  Process& first = f.agent("node-s", n, 0, {}, dir);
  int port = metrics_port(first);
  ASSERT_GT(port, 0) << describe(first);
  bool spooled = wait_until([&] { return metric(port, "scope_spool_events") == n; }, 60);
  first.signal(SIGKILL);
  first.wait(10);
  services("start-redis");
  ASSERT_TRUE(spooled) << describe(first);
  Process& server = f.server();
  Process& second = f.agent("node-s", 0, 0, {}, dir);  // no new events: only the spool
  ASSERT_TRUE(f.wait_stored(n, 60)) << f.stored() << "\n" << describe(second) << describe(server);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  expect_exactly_once(f, n);
}

TEST(Fleet, AFullSpoolDropsTheOldestAndCountsThem) {
  SCOPE_FLEET_REQUIRE(true);
  Fleet f("spool_full");
  const int64_t n = 400000;
  services("stop-redis");
  Process& agent = f.agent("node-f", n, 0, {"--test-spool-max-kb", "8"});
  int port = metrics_port(agent);
  ASSERT_GT(port, 0) << describe(agent);
  bool done = wait_until(
      [&] {
        agent.pump(0);
        return agent.err().find("synthetic events done") != std::string::npos;
      },
      60);
  std::this_thread::sleep_for(std::chrono::seconds(1));  // the last batches reach the spool
  services("start-redis");
  ASSERT_TRUE(done) << describe(agent);
  Process& server = f.server({"--allow-unsigned-batches"});  // the agent could not enroll
  ASSERT_TRUE(wait_until([&] { return metric(port, "scope_spool_events") == 0; }, 60))
      << describe(agent);
  agent.signal(SIGTERM);
  auto r = agent.wait(30);
  auto s = summary_of(r);
  ASSERT_TRUE(s.is_object()) << r.out << r.err;
  int64_t dropped = s["dropped"]["spool_full"].get<int64_t>() +
                    s["dropped"]["queue_full"].get<int64_t>() +
                    s["dropped"]["spool_error"].get<int64_t>();
  EXPECT_GT(s["dropped"]["spool_full"].get<int64_t>(), 0) << "the spool never filled";
  EXPECT_NE(r.err.find("spool full"), std::string::npos) << "the drop was silent";
  ASSERT_TRUE(f.wait_stored(n - dropped, 60)) << f.stored() << " + " << dropped << "\n"
                                              << describe(server);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  expect_exactly_once(f, n - dropped);
}

TEST(Fleet, ACorruptEntryIsMovedAsideAndIngestGoesOn) {
  SCOPE_FLEET_REQUIRE();
  Fleet f("corrupt");
  // Unsigned entries would be refused before decoding; this test is about decoding.
  Process& server = f.server({"--allow-unsigned-batches"});
  ASSERT_TRUE(f.redis().command({"XADD", f.stream(), "*", "b", "SCPB\x01\x01 not a batch"}));
  ASSERT_TRUE(f.redis().command({"XADD", f.stream(), "*", "x", "no b field"}));
  Process& agent = f.agent("node-x", 10000, 0);
  ASSERT_TRUE(f.wait_stored(10000, 60)) << describe(server) << describe(agent);
  EXPECT_TRUE(wait_until(
      [&] {
        auto len = f.redis().command({"XLEN", f.stream() + ":dead"});
        return len && len->integer == 2;
      },
      10));
  auto dead = f.redis().command({"XRANGE", f.stream() + ":dead", "-", "+"});
  ASSERT_TRUE(dead);
  ASSERT_EQ(dead->elements.size(), 2u);
  int port = metrics_port(server);
  EXPECT_EQ(metric(port, "scope_batches_corrupt_total"), 2);
  expect_exactly_once(f, 10000);
  server.signal(SIGTERM);
  auto s = summary_of(server.wait(30));
  ASSERT_TRUE(s.is_object());
  EXPECT_EQ(s["corrupt_batches"], 2);
}

// KiB of /proc/PID/status's `field`, -1 when unreadable.
long proc_status_kib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return -1;
}

// Batches a broken or hostile agent could XADD, among good ones from a real agent and from
// this test: each bad one is refused once, moved to the dead-letter stream and counted by
// cause; every good event is stored; the server's memory stays bounded and it keeps running.
// All are signed with an enrolled node's key: the limits hold against a node that was taken
// over, not only against entries nobody signed.
TEST(Fleet, HostileBatchesAreDeadLetteredOnceAndGoodOnesAllStored) {
  SCOPE_FLEET_REQUIRE();
  using testbombs::header;
  using testbombs::kMiB;
  using testbombs::skippable;
  using testbombs::zeros_frame;
  Fleet f("hostile");
  Process& server = f.server();
  int port = metrics_port(server);
  ASSERT_GT(port, 0) << describe(server);
  long rss_before = proc_status_kib(server.pid(), "VmRSS");
  Process& agent = f.agent("node-a", 20000, 20000);
  auto node_b = f.signed_producer("node-b");

  // 1 GiB of zeros in 33 KB: claiming 16 MiB, refused for its ratio before decompressing;
  // padded past the ratio, decompressed and cut at 16 MiB.
  std::string bomb = zeros_frame(size_t{1} << 30, false);
  std::map<std::string, std::string> bad = {
      {"ratio", header(16 * kMiB) + bomb},
      {"too_large", header(16 * kMiB) + bomb + skippable(100 << 10)},
      {"bad_node", event::encode_batch(synthetic_batch("node;DROP TABLE cuda_events", 1, 10))},
      {"too_many_events", event::encode_batch(synthetic_batch("node-b", 1, 100'001))},
      {"undecodable", std::string("SCPB\x01\x01\0\0\x10\0\0\0 not zstd", 21)},
  };
  // Good batches from node-b between the bad ones, each sent once.
  int64_t direct = 0;
  uint64_t seq = 1'000'000;
  auto good = [&] {
    auto b = synthetic_batch("node-b", seq, 500);
    seq += 500;
    direct += 500;
    ASSERT_TRUE(node_b->add(event::encode_batch(b)));
  };
  for (const auto& [cause, bytes] : bad) {
    good();
    ASSERT_TRUE(node_b->add(bytes)) << cause;
    good();
  }

  ASSERT_TRUE(f.wait_stored(20000 + direct, 90)) << f.stored() << "\n"
                                                 << describe(server) << describe(agent);
  ASSERT_TRUE(wait_until(
      [&] {
        auto len = f.redis().command({"XLEN", f.stream() + ":dead"});
        return len && len->integer == static_cast<long long>(bad.size());
      },
      20))
      << describe(server);
  std::this_thread::sleep_for(std::chrono::seconds(2));  // no retry adds another
  auto dead = f.redis().command({"XRANGE", f.stream() + ":dead", "-", "+"});
  ASSERT_TRUE(dead);
  ASSERT_EQ(dead->elements.size(), bad.size());
  std::map<std::string, int> dead_causes;
  for (const auto& entry : dead->elements) {
    auto kv = fields_of(entry);
    std::string cause = kv["error"].substr(0, kv["error"].find(':'));
    ++dead_causes[cause];
    EXPECT_TRUE(bad.count(cause)) << kv["error"];
    // The padded bomb (135 KB) is kept cut to 64 KiB, with its whole size.
    if (cause == "too_large") {
      EXPECT_EQ(kv["truncated"], "1");
      EXPECT_EQ(kv["bytes"], std::to_string(bad["too_large"].size()));
      EXPECT_EQ(kv["b"].size(), 64u << 10);
    }
  }
  for (const auto& [cause, bytes] : bad) {
    EXPECT_EQ(dead_causes[cause], 1) << cause;
    EXPECT_EQ(metric(port, rejected(cause)), 1) << cause;
  }
  EXPECT_EQ(metric(port, "scope_batches_corrupt_total"), static_cast<double>(bad.size()));
  auto pending = f.redis().command({"XPENDING", f.stream(), "scope-server"});
  ASSERT_TRUE(pending);
  EXPECT_EQ(pending->elements.at(0).integer, 0) << "entries left unacknowledged";
  expect_exactly_once(f, 20000 + direct);
  EXPECT_EQ(f.pg().scalar("SELECT count(*) FROM cuda_events WHERE node = 'node-b'"), direct);
  EXPECT_EQ(f.pg().scalar("SELECT count(*) FROM cuda_events WHERE node LIKE 'node;%'"), 0);

  long peak = proc_status_kib(server.pid(), "VmHWM");
  std::printf("  scope server: VmRSS %ld KiB before the batches, VmHWM %ld KiB after\n", rss_before,
              peak);
  EXPECT_GT(peak, 0);
  EXPECT_LT(peak, 256 * 1024) << "the server's resident set grew past 256 MiB";

  // Still up, and it still ingests.
  good();
  ASSERT_TRUE(f.wait_stored(20000 + direct, 30)) << describe(server);
  agent.signal(SIGTERM);
  agent.wait(30);
  auto s = stopped_summary(server);
  ASSERT_TRUE(s.is_object());
  for (const auto& [cause, bytes] : bad) EXPECT_EQ(s["refused"][cause], 1) << cause;
  EXPECT_EQ(s["stored"], 20000 + direct);
}

// The dead-letter stream is capped (XADD MAXLEN ~): a node that sends nothing but garbage
// cannot grow it without end.
TEST(Fleet, TheDeadLetterStreamIsCapped) {
  SCOPE_FLEET_REQUIRE();
  Fleet f("dead_cap");
  Process& server = f.server({"--dead-letter-max-len", "100"});
  int port = metrics_port(server);
  ASSERT_GT(port, 0) << describe(server);
  for (int i = 0; i < 500; ++i)
    ASSERT_TRUE(f.redis().command({"XADD", f.stream(), "*", "b", "garbage " + std::to_string(i)}));
  // Unsigned: refused before decoding, and dead-lettered like any refused entry.
  ASSERT_TRUE(wait_until([&] { return metric(port, rejected("unsigned")) == 500; }, 30))
      << describe(server);
  auto len = f.redis().command({"XLEN", f.stream() + ":dead"});
  ASSERT_TRUE(len);
  // MAXLEN ~ trims whole nodes of the stream (100 entries each by default): about 100 kept.
  EXPECT_GE(len->integer, 100);
  EXPECT_LT(len->integer, 250);
  auto last = f.redis().command({"XREVRANGE", f.stream() + ":dead", "+", "-", "COUNT", "1"});
  ASSERT_TRUE(last);
  EXPECT_EQ(last->elements.at(0).elements.at(1).elements.at(1).str, "garbage 499");
}

TEST(Fleet, ClearErrorsForBadUrlsAndRetriesForUnreachableServers) {
  SCOPE_FLEET_REQUIRE();
  auto bad = bpftest::run(
      {kScope, "agent", "--redis", "localhost:6379", "--data-dir", temp_dir("badurl")}, 30);
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("invalid Redis URL"), std::string::npos) << bad.err;
  auto bad_pg = bpftest::run({kScope, "server", "--redis", redis_url(), "--postgres",
                              "postgresql://[broken", "--data-dir", temp_dir("badurl")},
                             30);
  EXPECT_EQ(bad_pg.status, 2);
  EXPECT_NE(bad_pg.err.find("invalid PostgreSQL URL"), std::string::npos) << bad_pg.err;

  // A node name the server would refuse every batch of: refused at start.
  auto bad_node = bpftest::run({kScope, "agent", "--redis", redis_url(), "--node", "a b",
                                "--data-dir", temp_dir("badnode"), "--test-synthetic-count", "1"},
                               30);
  EXPECT_EQ(bad_node.status, 2);
  EXPECT_NE(bad_node.err.find("--node 'a b'"), std::string::npos) << bad_node.err;
  auto big = bpftest::run({kScope, "agent", "--redis", redis_url(), "--batch-events", "100001",
                           "--data-dir", temp_dir("badnode")},
                          30);
  EXPECT_NE(big.status, 0);
  EXPECT_NE(big.err.find("--batch-events"), std::string::npos) << big.err;

  // Unreachable PostgreSQL: the server waits for it, saying so, and stops on SIGTERM.
  Process server;
  ASSERT_TRUE(server.start({kScope, "server", "--redis", redis_url(), "--postgres",
                            "postgresql://postgres@127.0.0.1:1/none", "--listen", "127.0.0.1:0",
                            "--data-dir", temp_dir("unreach")}));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  server.signal(SIGTERM);
  auto rs = server.wait(30);
  EXPECT_EQ(rs.status, 0);
  EXPECT_NE(rs.err.find("retrying"), std::string::npos) << rs.err;

  // Unreachable Redis: the agent keeps its events in the spool.
  Process agent;
  ASSERT_TRUE(agent.start({kScope, "agent", "--redis", "redis://127.0.0.1:1", "--node", "n",
                           "--data-dir", temp_dir("unreach"), "--test-synthetic-count", "1000"}));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  agent.signal(SIGTERM);
  auto ra = agent.wait(30);
  EXPECT_EQ(ra.status, 0) << ra.err;
  EXPECT_NE(ra.err.find("unreachable"), std::string::npos) << ra.err;
  auto s = summary_of(ra);
  ASSERT_TRUE(s.is_object()) << ra.out;
  EXPECT_EQ(s["spool_pending"], 1000);
}

}  // namespace
}  // namespace scope::fleettest
