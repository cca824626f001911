// The sched family end to end: the real `scope trace --probes sched` against
// a sleeping command and two busy threads sharing one CPU.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "run_scope.h"

namespace scope::bpftest {
namespace {

// Threads of the summary's `sched` array whose comm is `comm`.
std::vector<nlohmann::json> sched_threads(const Trace& t, const std::string& comm) {
  std::vector<nlohmann::json> out;
  if (!t.summary.contains("sched")) return out;
  for (const auto& e : t.summary["sched"])
    if (e.value("comm", "") == comm) out.push_back(e);
  return out;
}

uint64_t u(const nlohmann::json& e, const char* key) { return e.at(key).get<uint64_t>(); }

TEST(SchedBpf, SleepIsOffCpuForItsDuration) {
  SCOPE_BPF_REQUIRE();
  Trace t = trace({"--probes", "sched", "--json", "--", "/bin/sleep", "0.2"}, 30);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  ASSERT_TRUE(t.summary.contains("sched")) << t.describe();
  EXPECT_TRUE(t.events.empty()) << "sched is aggregated: no per-switch lines\n" << t.describe();
  EXPECT_EQ(t.summary["dropped"], 0) << t.describe();

  auto sleeps = sched_threads(t, "sleep");
  ASSERT_EQ(sleeps.size(), 1u) << t.describe();
  const auto& s = sleeps[0];
  EXPECT_EQ(s["pid"], s["tid"]) << "the main thread";
  EXPECT_GE(u(s, "offcpu_ns"), 190'000'000u) << t.describe();
  EXPECT_LT(u(s, "offcpu_ns"), 1'000'000'000u) << t.describe();
  EXPECT_GE(u(s, "voluntary"), 1u) << t.describe();
  EXPECT_EQ(u(s, "switches"), u(s, "voluntary") + u(s, "involuntary"));
  EXPECT_LE(u(s, "runq_max_ns"), u(s, "runq_ns"));
  // Only the command is traced: every thread reported is the sleep process.
  for (const auto& e : t.summary["sched"]) EXPECT_EQ(e["pid"], s["pid"]) << e.dump();
  EXPECT_GE(t.summary["events"].get<uint64_t>(), u(s, "switches"));
}

TEST(SchedBpf, HumanSummaryHasBothTables) {
  SCOPE_BPF_REQUIRE();
  RunResult r = run_scope({"--probes", "sched", "--", "/bin/sleep", "0.1"}, 30);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("most off-CPU threads"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sleep"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("context switches"), std::string::npos) << r.out;
}

// Two threads pinned to CPU 0, each spinning 300 ms of wall time: each waits
// in the run queue while the other runs (about half the time) and is preempted.
constexpr const char* kSpinSource = R"(
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <time.h>
static pthread_barrier_t barrier;
static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}
static void *spin(void *name) {
  pthread_setname_np(pthread_self(), (const char *)name);
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) return (void *)1;
  pthread_barrier_wait(&barrier);
  volatile unsigned long n = 0;
  double end = now() + 0.3;
  while (now() < end) n++;
  return 0;
}
int main(void) {
  pthread_t a, b;
  void *ra, *rb;
  pthread_barrier_init(&barrier, 0, 2);
  pthread_create(&a, 0, spin, "spin0");
  pthread_create(&b, 0, spin, "spin1");
  pthread_join(a, &ra);
  pthread_join(b, &rb);
  return ra || rb;
}
)";

TEST(SchedBpf, BusyThreadsOnOneCpuWaitInTheRunQueue) {
  SCOPE_BPF_REQUIRE();
  char dir[] = "/tmp/scope_sched_XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string src = std::string(dir) + "/spin.c", bin = std::string(dir) + "/spin";
  std::ofstream(src) << kSpinSource;
  RunResult cc = run({"/usr/bin/cc", "-O1", "-pthread", "-o", bin, src}, 60);
  if (cc.status != 0) GTEST_SKIP() << "no C compiler to build the workload: " << cc.err;

  Trace t = trace({"--probes", "sched", "--json", "--", bin}, 30);
  std::remove(src.c_str());
  std::remove(bin.c_str());
  rmdir(dir);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  EXPECT_EQ(t.summary["dropped"], 0) << t.describe();
  uint64_t total_runq = 0;
  for (const char* name : {"spin0", "spin1"}) {
    auto threads = sched_threads(t, name);
    ASSERT_EQ(threads.size(), 1u) << name << "\n" << t.describe();
    const auto& s = threads[0];
    EXPECT_NE(s["pid"], s["tid"]) << name << " is not the main thread";
    EXPECT_GT(u(s, "runq_ns"), 50'000'000u) << name << "\n" << t.describe();
    EXPECT_LT(u(s, "runq_ns"), 3'000'000'000u) << name;  // sanity: the run lasts ~0.3 s
    EXPECT_GT(u(s, "involuntary"), 0u) << name << "\n" << t.describe();
    // A spinning thread leaves the CPU because it is preempted, not because it blocks
    // (its few voluntary switches: the barrier and the move to CPU 0).
    EXPECT_GT(u(s, "involuntary"), u(s, "voluntary")) << name << "\n" << t.describe();
    EXPECT_EQ(u(s, "switches"), u(s, "voluntary") + u(s, "involuntary")) << name;
    EXPECT_GT(u(s, "runq_max_ns"), 0u) << name;
    EXPECT_LE(u(s, "runq_max_ns"), u(s, "runq_ns")) << name;
    // Waiting in the run queue is part of being off CPU.
    EXPECT_GE(u(s, "offcpu_ns"), u(s, "runq_ns")) << name;
    total_runq += u(s, "runq_ns");
  }
  // While one spins the other waits: together they wait most of the 300 ms.
  EXPECT_GT(total_runq, 200'000'000u) << t.describe();
}

}  // namespace
}  // namespace scope::bpftest
