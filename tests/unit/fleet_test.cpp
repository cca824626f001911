// The control plane without a network: probe plans as the API and the control stream take
// them (hostile ones refused with the field named), the registry's liveness states and
// per-minute history on a real SQLite auth database, heartbeats trimmed to what a heartbeat
// has, plans versioned and redelivered to a node that reports an older one, and the host facts
// a node reports (from a procfs made here).
#include "server/fleet.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "auth/auth_db.h"
#include "common/host.h"
#include "event/probe_plan.h"
#include "server/node_registry.h"

namespace scope {
namespace {

using nlohmann::json;

TEST(ProbePlan, ParsesWhatTheApiTakesAndWritesItBack) {
  auto p = event::parse_probe_plan(
      json{{"families", {"llama", "cuda"}}, {"comm", "ollama"}, {"pid", 42}});
  ASSERT_TRUE(p) << p.error();
  EXPECT_EQ(p->families, (std::set<std::string>{"cuda", "llama"}));
  EXPECT_EQ(p->comm, "ollama");
  EXPECT_EQ(p->pid, 42u);
  // Families in their known order; fields unset are left out.
  EXPECT_EQ(event::probe_plan_json(*p),
            (json{{"families", {"cuda", "llama"}}, {"comm", "ollama"}, {"pid", 42}}));
  auto off = event::parse_probe_plan(json{{"families", json::array()}});
  ASSERT_TRUE(off);
  EXPECT_TRUE(off->families.empty());
  EXPECT_EQ(event::parse_probe_plan(event::probe_plan_json(*p)).value(), *p);
}

TEST(ProbePlan, RefusesAnythingElseNamingTheField) {
  const std::pair<json, const char*> bad[] = {
      {json::array(), "object"},
      {json::object(), "\"families\" is required"},
      {json{{"families", "cuda"}}, "\"families\" must be an array"},
      {json{{"families", {"cuda", "bpf_override"}}}, "unknown family"},
      {json{{"families", {1}}}, "unknown family"},
      {json{{"families", json::array()}, {"comm", "a-name-longer-than-15"}}, "\"comm\""},
      {json{{"families", json::array()}, {"comm", "ol\nlama"}}, "\"comm\""},
      {json{{"families", json::array()}, {"comm", 7}}, "\"comm\""},
      {json{{"families", json::array()}, {"cgroup", "relative/path"}}, "\"cgroup\""},
      {json{{"families", json::array()}, {"cgroup", "/a/../../etc"}}, "\"cgroup\""},
      {json{{"families", json::array()}, {"cgroup", "/a/.."}}, "\"cgroup\""},
      {json{{"families", json::array()}, {"pid", -1}}, "\"pid\""},
      {json{{"families", json::array()}, {"pid", 1e12}}, "\"pid\""},
      {json{{"families", json::array()}, {"pid", "1"}}, "\"pid\""},
      {json{{"families", json::array()}, {"uid", 0}}, "unknown field \"uid\""},
  };
  for (const auto& [j, why] : bad) {
    auto p = event::parse_probe_plan(j);
    ASSERT_FALSE(p) << j.dump();
    EXPECT_EQ(p.code(), Errc::kBadInput);
    EXPECT_NE(p.error().find(why), std::string::npos) << j.dump() << ": " << p.error();
  }
}

class Registry : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string d = std::filesystem::temp_directory_path() / "scope-fleet-XXXXXX";
    dir_ = mkdtemp(d.data());
    auto db = auth::open_sqlite_auth_db(dir_ + "/auth.db");
    ASSERT_TRUE(db) << db.error();
    db_ = std::move(*db);
    registry_ = std::make_unique<server::NodeRegistry>(
        *db_, server::Liveness{std::chrono::seconds(15), std::chrono::seconds(60)});
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static std::string heartbeat(int64_t version = 0, uint64_t events = 100) {
    return json{{"ts_ns", 1},
                {"kernel", "6.18.0"},
                {"cpus", 2},
                {"running", {"cuda"}},
                {"applied", {{"version", version}, {"plan", {{"families", {"cuda"}}}}}},
                {"events_since_last", events},
                {"dropped_since_last", 1}}
        .dump();
  }

  std::string dir_;
  std::unique_ptr<auth::AuthDb> db_;
  std::unique_ptr<server::NodeRegistry> registry_;
};

constexpr int64_t kS = 1'000'000'000;
constexpr int64_t kT0 = 1'800'000'000 * kS;  // on a minute's start

TEST_F(Registry, StatesFollowTheLastHeartbeatWithTheirTimes) {
  ASSERT_TRUE(registry_->record("gpu-1", kT0, heartbeat()));
  ASSERT_TRUE(registry_->record("gpu-1", kT0 + 5 * kS, heartbeat()));
  auto at = [&](int64_t now) { return registry_->status("gpu-1", now).value().value(); };
  EXPECT_EQ(at(kT0 + 10 * kS)["state"], "up");
  EXPECT_EQ(at(kT0 + 10 * kS)["since_ns"], kT0);
  EXPECT_EQ(at(kT0 + 21 * kS)["state"], "stale");
  EXPECT_EQ(at(kT0 + 21 * kS)["since_ns"], kT0 + 20 * kS);
  EXPECT_EQ(at(kT0 + 66 * kS)["state"], "down");
  EXPECT_EQ(at(kT0 + 66 * kS)["since_ns"], kT0 + 65 * kS);
  EXPECT_EQ(at(kT0 + 66 * kS)["heartbeat"]["kernel"], "6.18.0");
  // Back after a gap: up since it came back, not since it was first seen.
  ASSERT_TRUE(registry_->record("gpu-1", kT0 + 100 * kS, heartbeat()));
  EXPECT_EQ(at(kT0 + 101 * kS)["state"], "up");
  EXPECT_EQ(at(kT0 + 101 * kS)["since_ns"], kT0 + 100 * kS);
  EXPECT_EQ(at(kT0 + 101 * kS)["first_seen_ns"], kT0);
  // Its agent says it stops: stopped at once, not stale 15 s later.
  auto last = json::parse(heartbeat());
  last["stopping"] = true;
  ASSERT_TRUE(registry_->record("gpu-1", kT0 + 102 * kS, last.dump()));
  EXPECT_EQ(at(kT0 + 103 * kS)["state"], "stopped");
  EXPECT_FALSE(registry_->status("gpu-2", kT0).value().has_value());
}

TEST_F(Registry, KeepsADayPerMinute) {
  for (int i = 0; i < 24; ++i)  // two minutes of heartbeats, 5 s apart
    ASSERT_TRUE(registry_->record("gpu-1", kT0 + i * 5 * kS, heartbeat(0, 10)));
  auto h = registry_->history("gpu-1", kT0).value();
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0], (json{{"minute_ns", kT0}, {"heartbeats", 12}, {"events", 120}, {"dropped", 12}}));
  EXPECT_EQ(h[1]["minute_ns"], kT0 + 60 * kS);
  EXPECT_EQ(registry_->history("gpu-1", kT0 + 61 * kS).value().size(), 1u);
  // A day later the old minutes are gone.
  ASSERT_TRUE(registry_->record("gpu-1", kT0 + 86'400 * kS + 120 * kS, heartbeat()));
  EXPECT_EQ(registry_->history("gpu-1", 0).value().size(), 1u);
}

TEST_F(Registry, HeartbeatsKeepOnlyWhatAHeartbeatHas) {
  auto hb = json::parse(heartbeat());
  hb["extra"] = std::string(100, 'x');
  hb["gpus"] = {{{"model", "NVIDIA H100"}, {"bus", "0000:01:00.0"}}};
  auto clean = server::sanitize_heartbeat(hb.dump());
  ASSERT_TRUE(clean) << clean.error();
  EXPECT_FALSE(clean->contains("extra"));
  EXPECT_EQ((*clean)["gpus"][0]["model"], "NVIDIA H100");
  const std::string bad[] = {
      "not json",
      "[1]",
      json{{"kernel", std::string(300, 'k')}}.dump(),
      json{{"cpus", -2}}.dump(),
      json{{"cpus", "2"}}.dump(),
      json{{"running", {"cuda", "rootkit"}}}.dump(),
      json{{"applied", {{"plan", {{"families", {"nope"}}}}}}}.dump(),
      json{{"gpus", {{{"model", 1}}}}}.dump(),
      json{{"dropped", {{"kernel", -1}}}}.dump(),
      json{{"stopping", "yes"}}.dump(),
      std::string(server::kMaxHeartbeatBytes + 1, ' '),
  };
  for (const auto& text : bad) {
    EXPECT_FALSE(server::sanitize_heartbeat(text)) << text.substr(0, 80);
    EXPECT_FALSE(registry_->record("gpu-9", kT0, text)) << text.substr(0, 80);
  }
  EXPECT_FALSE(registry_->status("gpu-9", kT0).value().has_value());
}

TEST_F(Registry, PlansAreVersionedAndRedeliveredToANodeBehind) {
  std::vector<std::pair<std::string, int64_t>> delivered;
  server::Fleet fleet(*registry_, {.deliver =
                                       [&](const std::string& node, const server::DesiredPlan& d) {
                                         delivered.emplace_back(node, d.version);
                                         return Status(Ok{});
                                       },
                                   .redeliver_every = std::chrono::milliseconds(0)});
  event::ProbePlan plan{.families = {"cuda"}, .comm = "ollama"};
  auto v1 = fleet.set_plan("gpu-1", plan, "ana");
  ASSERT_TRUE(v1) << v1.error();
  EXPECT_EQ(v1->first.version, 1);
  EXPECT_TRUE(v1->second);
  plan.families = {};
  EXPECT_EQ(fleet.set_plan("gpu-1", plan, "ana").value().first.version, 2);
  auto d = registry_->desired("gpu-1").value();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->version, 2);
  EXPECT_TRUE(d->plan.families.empty());
  EXPECT_EQ(d->plan.comm, "ollama");
  EXPECT_EQ(d->updated_by, "ana");
  ASSERT_EQ(delivered.size(), 2u);
  // A heartbeat that applied version 1: delivered again. One that applied 2: not.
  ASSERT_TRUE(fleet.heartbeat("gpu-1", kT0, heartbeat(1)));
  EXPECT_EQ(delivered.size(), 3u);
  ASSERT_TRUE(fleet.heartbeat("gpu-1", kT0 + kS, heartbeat(2)));
  EXPECT_EQ(delivered.size(), 3u);
  // Deleted: forgotten.
  ASSERT_TRUE(registry_->forget("gpu-1"));
  EXPECT_FALSE(registry_->desired("gpu-1").value());
  EXPECT_FALSE(registry_->status("gpu-1", kT0).value());
}

TEST_F(Registry, ANewNodeGetsTheDefaultPlanOnlyWhenOneIsConfigured) {
  std::vector<int64_t> delivered;
  server::Fleet keep(*registry_, {.deliver = [&](const std::string&, const server::DesiredPlan& d) {
    delivered.push_back(d.version);
    return Status(Ok{});
  }});
  ASSERT_TRUE(keep.heartbeat("gpu-1", kT0, heartbeat()));
  EXPECT_FALSE(registry_->desired("gpu-1").value());
  server::Fleet none(*registry_, {.deliver =
                                      [&](const std::string&, const server::DesiredPlan& d) {
                                        delivered.push_back(d.version);
                                        return Status(Ok{});
                                      },
                                  .default_plan = event::ProbePlan{}});
  ASSERT_TRUE(none.heartbeat("gpu-2", kT0, heartbeat()));
  auto d = registry_->desired("gpu-2").value();
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->plan.families.empty());
  EXPECT_EQ(d->updated_by, "default");
  EXPECT_EQ(delivered, std::vector<int64_t>{1});
}

TEST(HostFacts, ReadsMemoryAndEveryNvidiaGpuTheDriverLists) {
  std::string d = std::filesystem::temp_directory_path() / "scope-proc-XXXXXX";
  std::string proc = mkdtemp(d.data());
  std::ofstream(proc + "/meminfo") << "MemTotal:       131072 kB\nMemFree: 1 kB\n";
  for (const char* gpu : {"0000:02:00.0", "0000:01:00.0"}) {
    std::filesystem::create_directories(proc + "/driver/nvidia/gpus/" + gpu);
    std::ofstream(proc + "/driver/nvidia/gpus/" + gpu + "/information")
        << "Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:             37\nGPU UUID: \t GPU-" << gpu
        << "\nBus Location: \t " << gpu << "\n";
  }
  auto f = read_host_facts(proc);
  EXPECT_EQ(f.memory_bytes, 131072ull * 1024);
  ASSERT_EQ(f.gpus.size(), 2u);
  EXPECT_EQ(f.gpus[0].at("model"), "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(f.gpus[0].at("bus"), "0000:01:00.0");
  EXPECT_EQ(f.gpus[1].at("uuid"), "GPU-0000:02:00.0");
  EXPECT_FALSE(f.kernel.empty());
  EXPECT_GT(f.cpus, 0u);
  EXPECT_FALSE(f.scope_version.empty());
  EXPECT_TRUE(read_host_facts(proc + "/nothing").gpus.empty());
  std::filesystem::remove_all(proc);
}

}  // namespace
}  // namespace scope
