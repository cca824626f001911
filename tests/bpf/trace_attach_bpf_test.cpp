// Privileged tests: attaching to running processes (--pid, --comm), clean
// detach, bad input, and drops that are counted, never silent.
#include <stdlib.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "run_scope.h"

using nlohmann::json;
using namespace scope::bpftest;

namespace {

const std::string kDemo = kBin + "/cuda_demo";

bool one_clear_line(const std::string& err) {
  auto lines = lines_of(err);
  return !lines.empty() && lines[0].rfind("scope: ", 0) == 0;
}

// The kernel releases a closed link's uprobes after an RCU grace period, and a
// scope that another test just killed may still be exiting: allow 5 s.
void expect_no_uprobes_left(const std::string& when) {
  auto left = uprobes_under(kLib);
  for (int i = 0; i < 50 && !left.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    left = uprobes_under(kLib);
  }
  EXPECT_TRUE(left.empty()) << when << ": uprobes left on " << kLib << ":\n"
                            << (left.empty() ? "" : left[0]);
}

}  // namespace

// 9. Attach to a process started before scope: counts and kernel names.
TEST(TraceAttach, AttachToRunningProcess) {
  SCOPE_BPF_REQUIRE();
  Process demo;
  ASSERT_TRUE(demo.start({kDemo, "--loop", "--threads", "2"}));
  ASSERT_TRUE(demo.wait_for_output("ready ", 20)) << demo.err();
  pid_t pid = parse_ready_pid(demo.out());
  ASSERT_EQ(pid, demo.pid());
  Trace t = trace({"--json", "--pid", std::to_string(pid), "--duration", "3"}, 90);
  demo.signal(SIGTERM);
  RunResult d = demo.wait(20);
  EXPECT_FALSE(d.timed_out);
  ASSERT_FALSE(t.summary.is_null()) << t.describe();
  EXPECT_EQ(t.run.status, 0) << t.describe();
  EXPECT_GT(t.op("launch"), 0) << t.describe();
  EXPECT_TRUE(t.cuda().at("unnamed_launches").is_number_integer());
  EXPECT_LE(t.cuda().at("unnamed_launches").get<int64_t>(), t.op("launch"));
  std::set<std::string> kernels;
  for (const auto& k : t.cuda().at("kernels")) kernels.insert(k.at("kernel").get<std::string>());
  EXPECT_TRUE(kernels.count("vector_add(float*, float*, int)")) << t.cuda().at("kernels").dump();
  EXPECT_TRUE(kernels.count("void scope_demo::scale<float>(float*, float, int)"))
      << t.cuda().at("kernels").dump();
  for (const auto& e : t.events) EXPECT_EQ(e.at("pid"), pid);
  EXPECT_EQ(t.summary.at("dropped"), 0);
  // Attaching mid-run: an allocation seen without its free is not a leak of
  // the demo's, and every free it made after we attached matched.
  EXPECT_GT(t.op("sync"), 0);
}

// 10. --comm: only processes with that name, started after scope.
TEST(TraceAttach, CommFilter) {
  SCOPE_BPF_REQUIRE();
  Process scope;
  ASSERT_TRUE(scope.start({kScope, "trace", "--json", "--comm", "cuda_demo", "--duration", "4"}));
  usleep(1500 * 1000);  // scope loaded and scanning
  RunResult other = run({kBin + "/nocuda"}, 20);
  Process demo;
  ASSERT_TRUE(demo.start({kDemo, "--threads", "1", "--iterations", "400", "--no-leak"}));
  const pid_t demo_pid = demo.pid();
  RunResult d = demo.wait(20);
  ASSERT_EQ(d.status, 0) << d.err;
  Trace t = parse_trace(scope.wait(90));
  ASSERT_FALSE(t.summary.is_null()) << t.describe();
  EXPECT_EQ(t.run.status, 0) << t.describe();
  std::set<int64_t> pids;
  for (const auto& e : t.events) {
    pids.insert(e.at("pid").get<int64_t>());
    EXPECT_EQ(e.at("comm"), "cuda_demo");
  }
  EXPECT_EQ(pids, (std::set<int64_t>{demo_pid})) << t.describe();
  // Seen from when its libraries were attached (a --comm process is not held
  // at exec, so its first operations can be missed): some of each.
  EXPECT_GT(t.op("launch"), 0) << t.describe();
  EXPECT_GT(t.op("memcpy"), 0);
  EXPECT_GT(t.op("sync"), 0);
  // Launches already in flight when it attached may be unnamed; a few at most.
  EXPECT_LE(t.cuda().at("unnamed_launches").get<int64_t>(), 8);
  std::set<std::string> kernels;
  for (const auto& k : t.cuda().at("kernels")) kernels.insert(k.at("kernel").get<std::string>());
  EXPECT_TRUE(kernels.count("vector_add(float*, float*, int)")) << t.cuda().at("kernels").dump();
  EXPECT_EQ(t.summary.at("dropped"), 0);
  EXPECT_EQ(other.status, 0);
}

// 11. Probes are in the kernel while tracing and gone after scope exits.
TEST(TraceAttach, CleanDetach) {
  SCOPE_BPF_REQUIRE();
  if (!bpftool_available()) GTEST_FAIL() << "bpftool is needed to list uprobes";
  expect_no_uprobes_left("before");
  auto before = bpf_programs();
  Process scope;
  ASSERT_TRUE(
      scope.start({kScope, "trace", "--json", "--quiet", "--", kDemo, "--loop", "--threads", "1"}));
  ASSERT_TRUE(scope.wait_for_output("ready ", 30, /*in_stderr=*/true)) << scope.err();
  auto live = uprobes_under(kLib);
  std::string all;
  for (const auto& l : live) all += l + "\n";
  EXPECT_NE(all.find(kLib + "/libcuda.so.1"), std::string::npos) << all;
  EXPECT_NE(all.find(kLib + "/libcudart.so.13"), std::string::npos) << all;
  auto progs = bpf_program_names();
  EXPECT_NE(std::find(progs.begin(), progs.end(), "call_entry"), progs.end());
  // Programs loaded since scope started, with scope's program names.
  std::set<int64_t> ours;
  const std::set<std::string> names = {"call_entry",        "call_return", "driver_launch",
                                       "name_entry",        "name_return", "loader_debug_st",
                                       "loader_debug_state"};
  for (const auto& [id, name] : bpf_programs())
    if (!before.count(id) && names.count(name)) ours.insert(id);
  EXPECT_GE(ours.size(), 5u) << "scope's programs not found";
  // Ctrl-C: the terminal signals scope and the command (one process group).
  kill(-scope.pid(), SIGINT);
  RunResult r = scope.wait(90);
  EXPECT_FALSE(r.timed_out);
  EXPECT_NE(r.status, 134);
  EXPECT_NE(r.status, 139);
  Trace t = parse_trace(r);
  ASSERT_FALSE(t.summary.is_null()) << t.describe();
  EXPECT_GT(t.op("launch"), 0);
  expect_no_uprobes_left("after scope exited");
  // scope's programs are gone (other tracers may run their own: compare ids);
  // the kernel frees them after an RCU grace period.
  std::set<int64_t> left;
  for (int i = 0; i < 50; ++i) {
    left.clear();
    auto now = bpf_programs();
    for (int64_t id : ours)
      if (now.count(id)) left.insert(id);
    if (left.empty()) break;
    usleep(100 * 1000);
  }
  EXPECT_TRUE(left.empty()) << left.size() << " of scope's BPF programs still loaded, e.g. id "
                            << (left.empty() ? 0 : *left.begin());
}

// 12. Bad input: exit codes and one clear line; nothing left behind.
TEST(TraceAttach, BadInput) {
  SCOPE_BPF_REQUIRE();
  RunResult r = run_scope({"--probes", "bogus", "--", "true"}, 30);
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("unknown probe family"), std::string::npos) << r.err;

  r = run_scope({"--pid", "999999"}, 30);
  EXPECT_NE(r.status, 0);
  EXPECT_LT(r.status, 128) << r.err;
  EXPECT_TRUE(one_clear_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("999999"), std::string::npos) << r.err;

  r = run_scope({"--", "/nonexistent/cmd"}, 30);
  EXPECT_EQ(r.status, 127) << r.err;
  EXPECT_NE(r.err.find("command not found"), std::string::npos) << r.err;

  {
    Process nocuda;
    ASSERT_TRUE(nocuda.start({kBin + "/nocuda"}));
    usleep(50 * 1000);
    r = run_scope({"--pid", std::to_string(nocuda.pid())}, 30);
    EXPECT_NE(r.status, 0);
    EXPECT_LT(r.status, 128) << r.err;
    EXPECT_TRUE(one_clear_line(r.err)) << r.err;
    EXPECT_NE(r.err.find("no CUDA library"), std::string::npos) << r.err;
    nocuda.wait(10);
  }

  // A process that exits while scope attaches to it (reaped at once).
  for (int i = 0; i < 3; ++i) {
    Process sleeper;
    ASSERT_TRUE(sleeper.start({"/bin/sleep", "0.05"}));
    pid_t pid = sleeper.pid();
    std::thread reaper([&] { sleeper.wait(10); });
    r = run_scope({"--pid", std::to_string(pid)}, 30);
    reaper.join();
    EXPECT_NE(r.status, 0) << r.err;
    EXPECT_NE(r.status, 134) << r.err;
    EXPECT_NE(r.status, 139) << r.err;
    EXPECT_LT(r.status, 128) << r.err;
    EXPECT_TRUE(one_clear_line(r.err)) << r.err;
  }
  if (bpftool_available()) expect_no_uprobes_left("after bad input");
}

// 13. A reader that falls behind: drops are counted, nothing silently lost. The calls only
// (a dropped batch of GPU runs would count once for up to 32).
TEST(TraceAttach, DropsCounted) {
  SCOPE_BPF_REQUIRE();
  Trace t = trace({"--json", "--quiet", "--no-gpu-times", "--ring-buffer-mb", "1", "--", kDemo,
                   "--threads", "4", "--iterations", "200", "--no-leak"},
                  120, {{"SCOPE_TEST_READER_STALL_MS", "2000"}});
  ASSERT_FALSE(t.summary.is_null()) << t.describe();
  EXPECT_EQ(t.run.status, 0) << t.describe();
  json ex = expect_line(t);
  ASSERT_TRUE(ex.is_object()) << t.describe();
  int64_t expected = ex["launches"].get<int64_t>() + ex["allocs"].get<int64_t>() +
                     ex["frees"].get<int64_t>() + ex["memcpy"].get<int64_t>() +
                     ex["memset"].get<int64_t>() + ex["syncs"].get<int64_t>() +
                     ex["graph_launches"].get<int64_t>();
  EXPECT_EQ(expected, 10441);
  int64_t events = t.summary.at("events"), dropped = t.summary.at("dropped");
  EXPECT_GT(dropped, 0) << "a 1 MiB ring left unread for 2 s should overflow\n" << t.describe();
  // Every CUDA operation is either an event or a drop; `dropped` also counts
  // lost bookkeeping records (a process exit, a name), at most a few here.
  EXPECT_LE(events, expected);
  EXPECT_GE(events + dropped, expected) << t.describe();
  EXPECT_LE(events + dropped, expected + 4) << t.describe();
}

// `-- COMMAND` holds each of its processes until scope has looked at what it maps: a dynamic
// executable at the loader's hook only (its interpreter already has the hook), once its
// libraries are mapped, so not at exec too; a static one, which has no loader, at exec.
TEST(TraceAttach, HeldAtTheLoaderHookAndAtExecOnlyWithoutOne) {
  SCOPE_BPF_REQUIRE();
  Trace dyn = trace({"--json", "--quiet", "--", "/bin/sh", "-c", "/bin/true; /bin/true"}, 30);
  ASSERT_EQ(dyn.run.status, 0) << dyn.describe();
  ASSERT_TRUE(dyn.summary.contains("held")) << dyn.describe();
  EXPECT_EQ(dyn.summary["held"]["at_exec"], 0) << dyn.summary["held"].dump();
  // sh and both true, once each: glibc's loader calls the hook before mapping the libraries
  // (RT_ADD, not held) and once they are mapped (RT_CONSISTENT, held).
  EXPECT_EQ(dyn.summary["held"]["at_loader"], 3) << dyn.summary["held"].dump();

  char dir[] = "/tmp/scope-static.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string src = std::string(dir) + "/s.c", bin = std::string(dir) + "/s";
  std::ofstream(src) << "int main(void) { return 0; }\n";
  RunResult cc = run({"/bin/sh", "-c", "cc -static -O2 -o " + bin + " " + src}, 60);
  if (cc.status != 0) GTEST_SKIP() << "no static C library to link with: " << cc.err;
  Trace st = trace({"--json", "--quiet", "--", bin}, 30);
  ASSERT_EQ(st.run.status, 0) << st.describe();
  EXPECT_EQ(st.summary["held"]["at_exec"], 1) << st.summary["held"].dump();
  EXPECT_EQ(st.summary["held"]["at_loader"], 0) << st.summary["held"].dump();
}
