// The control plane end to end: a real `scope server` (Redis, PostgreSQL) and two real
// `scope agent`s with real probes. Families are switched per node at runtime through the API
// (and the CLI) and applied within 2 s without a restart; every probe off leaves nothing of the
// agent in the kernel (its fds and the kernel's program and link lists); an agent killed while a
// change is pending applies it when it comes back; a node that stops reporting is shown stale,
// then down, with its times.
#include <bpf/bpf.h>
#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "tests/integration/fleet_helpers.h"

namespace scope::fleettest {
namespace {

using nlohmann::json;

// Liveness shortened for the test: heartbeats every 300 ms, stale after 2 s, down after 5 s.
const std::vector<std::string> kServerLiveness = {"--test-stale-after-ms", "2000",
                                                  "--test-down-after-ms", "5000"};

Process& real_agent(Fleet& f, const std::string& node, const std::string& probes) {
  std::string dir = f.data_dir("agent-" + node);
  if (!std::filesystem::exists(dir + "/node.key")) f.enroll(node, dir);
  return f.start({kScope, "agent", "--redis", redis_url(), "--node", node, "--stream", f.stream(),
                  "--data-dir", dir, "--probes", probes, "--test-heartbeat-ms", "300"});
}

json get(Fleet& f, const std::string& path) {
  auto r = f.api("GET", path);
  EXPECT_EQ(r.status, 200) << path << ": " << r.body;
  return json::parse(r.body, nullptr, false);
}

json node_of(Fleet& f, const std::string& node) {
  auto all = get(f, "/api/v1/nodes");
  if (all.is_object())
    for (const auto& n : all["nodes"])
      if (n["name"] == node) return n;
  return nullptr;
}

std::set<std::string> running(const json& probes) {
  std::set<std::string> out;
  for (const auto& f : probes.value("running", json::array())) out.insert(f.get<std::string>());
  return out;
}

// What of BPF a process holds: its fds that are programs, maps or links (/proc/PID/fdinfo).
int bpf_objects_held(pid_t pid) {
  int n = 0;
  std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
  DIR* d = opendir(dir.c_str());
  if (!d) return -1;
  while (dirent* e = readdir(d)) {
    std::ifstream in(dir + "/" + e->d_name);
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("prog_id:", 0) == 0 || line.rfind("link_id:", 0) == 0 ||
          line.rfind("map_id:", 0) == 0) {
        ++n;
        break;
      }
  }
  closedir(d);
  return n;
}

std::set<uint32_t> kernel_ids(int (*next)(uint32_t, uint32_t*)) {
  std::set<uint32_t> ids;
  uint32_t id = 0;
  while (next(id, &id) == 0) ids.insert(id);
  return ids;
}

// PUT the plan; how long until the node reports it applied (seconds; < 0: not in `timeout_s`).
double switch_probes(Fleet& f, const std::string& node, const json& plan, double timeout_s = 10) {
  auto start = std::chrono::steady_clock::now();
  auto r = f.api("PUT", "/api/v1/nodes/" + node + "/probes", plan.dump());
  EXPECT_EQ(r.status, 202) << r.body;
  auto stored = json::parse(r.body, nullptr, false);
  int64_t version = stored.is_object() ? stored.value("version", int64_t{0}) : 0;
  bool applied = wait_until(
      [&] {
        auto p = get(f, "/api/v1/nodes/" + node + "/probes");
        return p.is_object() && p["applied"].is_object() &&
               p["applied"].value("version", int64_t{0}) >= version;
      },
      timeout_s);
  return applied ? std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()
                 : -1;
}

TEST(FleetControl, TwoAgentsSwitchFamiliesPerNodeAtRuntimeAndAllOffLeavesNothingLoaded) {
  SCOPE_FLEET_REQUIRE();
  if (geteuid() != 0) GTEST_SKIP() << "needs root to load probes";
  auto kernel_progs = kernel_ids(bpf_prog_get_next_id);
  auto kernel_links = kernel_ids(bpf_link_get_next_id);
  Fleet f("control");
  Process& server = f.server(kServerLiveness);
  ASSERT_FALSE(f.server_url().empty()) << describe(server);
  Process& a = real_agent(f, "node-a", "exec");
  Process& b = real_agent(f, "node-b", "exec");
  // Both report, each running what its flags said.
  ASSERT_TRUE(wait_until(
      [&] {
        for (const char* n : {"node-a", "node-b"}) {
          auto j = node_of(f, n);
          if (!j.is_object() || j["state"] != "up" ||
              j["report"].value("running", json::array()) != json{"exec"})
            return false;
        }
        return true;
      },
      20))
      << describe(a) << describe(b) << get(f, "/api/v1/nodes").dump(1);
  auto a_view = node_of(f, "node-a");
  EXPECT_EQ(a_view["enrolled"], true);
  EXPECT_EQ(a_view["report"]["kernel"].get<std::string>().empty(), false);
  EXPECT_GT(a_view["report"].value("cpus", 0), 0);
  EXPECT_EQ(a_view["probes"]["desired"], nullptr);
  EXPECT_EQ(a_view["probes"]["applied"]["version"], 0);

  // node-a: exec and open, only processes named cat. node-b keeps exec alone.
  double took = switch_probes(f, "node-a", {{"families", {"exec", "open"}}, {"comm", "cat"}});
  ASSERT_GT(took, 0) << describe(a);
  EXPECT_LT(took, 2.5) << "desired → applied";
  auto pa = get(f, "/api/v1/nodes/node-a/probes");
  EXPECT_EQ(running(pa), (std::set<std::string>{"exec", "open"}));
  EXPECT_EQ(pa["applied"]["plan"]["comm"], "cat");
  EXPECT_EQ(pa["pending"], false);
  EXPECT_EQ(running(get(f, "/api/v1/nodes/node-b/probes")), (std::set<std::string>{"exec"}));
  std::string marker = f.data_dir("marker") + "/opened-by-cat";
  std::ofstream(marker) << "x\n";
  bpftest::RunResult cat = bpftest::run({"/bin/cat", marker}, 10);
  ASSERT_EQ(cat.status, 0);
  ASSERT_TRUE(wait_until(
      [&] {
        return f.pg().scalar("SELECT count(*) FROM open_events WHERE node = 'node-a' AND path = '" +
                             marker + "'") == 1;
      },
      15))
      << describe(a);
  // Only cat's opens on node-a; none on node-b, which never ran the open family.
  EXPECT_EQ(f.pg().scalar("SELECT count(*) FROM open_events WHERE node = 'node-a' AND comm <> "
                          "'cat'"),
            0);
  EXPECT_EQ(f.pg().scalar("SELECT count(*) FROM open_events WHERE node = 'node-b'"), 0);

  // A family the host cannot run is reported with its reason, the rest run.
  // (Every family runs on this kernel; a cgroup that does not exist stands in.)
  took = switch_probes(f, "node-b", {{"families", {"exec"}}, {"cgroup", "/no/such/cgroup"}});
  ASSERT_GT(took, 0);
  auto pb = get(f, "/api/v1/nodes/node-b/probes");
  EXPECT_TRUE(pb["applied"]["errors"].contains("targets")) << pb.dump();
  EXPECT_TRUE(running(pb).empty());

  // Every probe off: nothing of either agent in the kernel.
  ASSERT_GT(switch_probes(f, "node-a", {{"families", json::array()}}), 0);
  ASSERT_GT(switch_probes(f, "node-b", {{"families", json::array()}}), 0);
  EXPECT_EQ(bpf_objects_held(a.pid()), 0) << "node-a's agent holds BPF objects";
  EXPECT_EQ(bpf_objects_held(b.pid()), 0) << "node-b's agent holds BPF objects";
  for (uint32_t id : kernel_ids(bpf_prog_get_next_id))
    EXPECT_TRUE(kernel_progs.count(id)) << "program " << id << " is new since the test began";
  for (uint32_t id : kernel_ids(bpf_link_get_next_id))
    EXPECT_TRUE(kernel_links.count(id)) << "link " << id << " is new since the test began";
  EXPECT_EQ(node_of(f, "node-a")["state"], "up") << "the agent still reports with no probes";

  // And back on, without a restart.
  ASSERT_GT(switch_probes(f, "node-a", {{"families", {"exec"}}}), 0);
  EXPECT_EQ(running(get(f, "/api/v1/nodes/node-a/probes")), (std::set<std::string>{"exec"}));
  EXPECT_GT(bpf_objects_held(a.pid()), 0);

  // The CLI on the same API.
  std::string url = f.server_url();
  bpftest::RunResult set = bpftest::run({kScope, "probes", "node-b", "--set", "exec,open", "--comm",
                                         "ollama", "--server", url, "--token", f.admin_token()},
                                        30);
  EXPECT_EQ(set.status, 0) << set.out << set.err;
  EXPECT_NE(set.out.find("running  exec,open"), std::string::npos) << set.out;
  EXPECT_NE(set.out.find("comm=ollama"), std::string::npos) << set.out;
  bpftest::RunResult list =
      bpftest::run({kScope, "nodes", "--server", url, "--token", f.admin_token()}, 30);
  EXPECT_EQ(list.status, 0) << list.err;
  EXPECT_NE(list.out.find("node-a"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find(" up "), std::string::npos) << list.out;
  bpftest::RunResult bad = bpftest::run({kScope, "probes", "node-b", "--set", "exec,bogus",
                                         "--server", url, "--token", f.admin_token()},
                                        30);
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("unknown probe family 'bogus'"), std::string::npos) << bad.err;
}

TEST(FleetControl, AnAgentKilledWhileAChangeIsPendingAppliesItWhenBackAndShowsStaleThenDown) {
  SCOPE_FLEET_REQUIRE();
  if (geteuid() != 0) GTEST_SKIP() << "needs root to load probes";
  Fleet f("pending");
  Process& server = f.server(kServerLiveness);
  ASSERT_FALSE(f.server_url().empty()) << describe(server);
  Process* a = &real_agent(f, "node-a", "exec");
  ASSERT_TRUE(wait_until([&] { return node_of(f, "node-a").value("state", "") == "up"; }, 20))
      << describe(*a);
  a->signal(SIGKILL);
  (void)a->wait(10);
  auto killed_at = std::chrono::steady_clock::now();
  // The change while it is away: stored, handed to its control stream, pending.
  auto r = f.api("PUT", "/api/v1/nodes/node-a/probes",
                 json{{"families", {"exec", "open"}}, {"comm", "cat"}}.dump());
  ASSERT_EQ(r.status, 202) << r.body;
  auto first = json::parse(r.body);
  EXPECT_EQ(first["delivered"], true);
  r = f.api("PUT", "/api/v1/nodes/node-a/probes", json{{"families", {"open"}}}.dump());
  ASSERT_EQ(r.status, 202) << r.body;
  int64_t latest = json::parse(r.body)["version"];
  EXPECT_EQ(latest, first["version"].get<int64_t>() + 1);
  EXPECT_EQ(get(f, "/api/v1/nodes/node-a/probes")["pending"], true);
  // Stale after 2 s without a heartbeat, down after 5 s, each with when it began.
  ASSERT_TRUE(wait_until([&] { return node_of(f, "node-a").value("state", "") == "stale"; }, 10));
  auto stale = node_of(f, "node-a");
  EXPECT_EQ(stale["since_ns"].get<int64_t>(), stale["last_seen_ns"].get<int64_t>() + 2'000'000'000);
  ASSERT_TRUE(wait_until([&] { return node_of(f, "node-a").value("state", "") == "down"; }, 10));
  EXPECT_GE(std::chrono::steady_clock::now() - killed_at, std::chrono::seconds(4));
  auto down = get(f, "/api/v1/nodes/node-a");
  EXPECT_EQ(down["state"], "down");
  EXPECT_GE(down["history"].size(), 1u) << down.dump();
  EXPECT_GT(down["history"][0].value("heartbeats", 0), 0);
  bpftest::RunResult list =
      bpftest::run({kScope, "nodes", "--server", f.server_url(), "--token", f.admin_token()}, 30);
  EXPECT_NE(list.out.find("down"), std::string::npos) << list.out;

  // Back with its flags saying exec: it runs the latest plan instead, at once.
  a = &real_agent(f, "node-a", "exec");
  ASSERT_TRUE(wait_until(
      [&] {
        auto p = get(f, "/api/v1/nodes/node-a/probes");
        return p.is_object() && p["applied"].is_object() &&
               p["applied"].value("version", int64_t{0}) == latest;
      },
      20))
      << describe(*a);
  auto p = get(f, "/api/v1/nodes/node-a/probes");
  EXPECT_EQ(running(p), (std::set<std::string>{"open"}));
  EXPECT_EQ(p["pending"], false);
  EXPECT_EQ(node_of(f, "node-a")["state"], "up");
  // A clean stop says so: stopped, not stale.
  a->signal(SIGTERM);
  EXPECT_EQ(a->wait(20).status, 0);
  ASSERT_TRUE(wait_until([&] { return node_of(f, "node-a").value("state", "") == "stopped"; }, 5));
}

TEST(FleetControl, HeartbeatsAreAuthenticatedAndReplaysAreNotTaken) {
  SCOPE_FLEET_REQUIRE();
  Fleet f("heartbeats");
  Process& server = f.server(kServerLiveness);
  ASSERT_FALSE(f.server_url().empty()) << describe(server);
  auto producer = f.signed_producer("node-h");  // enrolls node-h; its key signs below
  std::string dir = f.data_dir("signer-node-h-1");
  auto id = agent::load_node_identity(dir);
  ASSERT_TRUE(id && *id);
  auto& redis = f.redis();
  auto hb = [](int64_t ts) {
    return json{{"ts_ns", ts}, {"kernel", "forged"}, {"running", {"cuda"}}}.dump();
  };
  int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  std::string good = hb(now);
  std::string sig = auth::sign_detached((*id)->secret_key, good);
  // Unsigned, signed by nobody, an old one replayed, and an unknown node: none taken.
  std::string old = hb(now - 600'000'000'000);
  std::string old_sig = auth::sign_detached((*id)->secret_key, old);
  ASSERT_TRUE(redis.command({"XADD", f.stream(), "*", "h", good, "n", "node-h"}));
  ASSERT_TRUE(redis.command(
      {"XADD", f.stream(), "*", "h", good, "n", "node-h", "s", std::string(64, 'x')}));
  ASSERT_TRUE(redis.command({"XADD", f.stream(), "*", "h", old, "n", "node-h", "s", old_sig}));
  ASSERT_TRUE(redis.command({"XADD", f.stream(), "*", "h", good, "n", "node-x", "s", sig}));
  ASSERT_TRUE(wait_until(
      [&] {
        auto dead = redis.command({"XLEN", f.stream() + ":dead"});
        return dead && dead->integer >= 3;
      },
      10));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto n = node_of(f, "node-h");
  EXPECT_EQ(n["state"], "never") << n.dump() << " (enrolled, no heartbeat taken)";
  EXPECT_EQ(node_of(f, "node-x"), nullptr);
  // The real one is.
  ASSERT_TRUE(redis.command({"XADD", f.stream(), "*", "h", good, "n", "node-h", "s", sig}));
  ASSERT_TRUE(wait_until([&] { return node_of(f, "node-h").value("state", "") == "up"; }, 10));
  EXPECT_EQ(node_of(f, "node-h")["report"]["kernel"], "forged");
  // Plans only for nodes there are, only from admins, only well formed.
  EXPECT_EQ(f.api("PUT", "/api/v1/nodes/nobody/probes", R"({"families":[]})").status, 404);
  EXPECT_EQ(f.api("PUT", "/api/v1/nodes/node-h/probes", R"({"families":["x"]})").status, 400);
  EXPECT_EQ(f.api("PUT", "/api/v1/nodes/node-h/probes", R"({"families":[])").status, 400);
  EXPECT_EQ(f.api("PUT", "/api/v1/nodes/node-h/probes", R"({"families":[]})", "").status, 401);
  EXPECT_EQ(f.api("PUT", "/api/v1/nodes/node-h/probes",
                  json{{"families", json::array()}, {"comm", std::string(9000, 'x')}}.dump())
                .status,
            413);
  // Deleting the node forgets it.
  EXPECT_EQ(f.api("DELETE", "/api/v1/nodes/node-h").status, 204);
  EXPECT_EQ(node_of(f, "node-h"), nullptr);
}

}  // namespace
}  // namespace scope::fleettest
