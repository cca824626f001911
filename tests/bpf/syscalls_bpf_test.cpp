// The syscalls family against the real kernel: a tiny C workload, compiled
// here with `cc`, makes a known number of syscalls, and the in-kernel counters
// must show exactly those.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>

#include "run_scope.h"

using namespace scope::bpftest;

namespace {

// main: N getppid() and M write(-1) (EBADF), then T threads with K getppid()
// each; optionally S signals to itself (each handler's return is one
// rt_sigreturn), C getppid() in a child that outlives the command by 3 s, and
// Z sleeps of L ms (clock_nanosleep; L = 40 unless given).
// Nothing else writes: the workload prints nothing.
const char* kWorkload = R"(
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
static long k;
static void *worker(void *arg) {
  (void)arg;
  for (long i = 0; i < k; i++) syscall(SYS_getppid);
  return 0;
}
static void on_usr1(int sig) { (void)sig; }
int main(int argc, char **argv) {
  if (argc < 5) return 2;
  long n = atol(argv[1]), m = atol(argv[2]), t = atol(argv[3]);
  k = atol(argv[4]);
  long sigs = argc > 5 ? atol(argv[5]) : 0, c = argc > 6 ? atol(argv[6]) : 0;
  long z = argc > 7 ? atol(argv[7]) : 0, l = argc > 8 ? atol(argv[8]) : 40;
  for (long i = 0; i < z; i++) {
    struct timespec ts = {l / 1000, l % 1000 * 1000000};
    nanosleep(&ts, 0);
  }
  for (long i = 0; i < n; i++) syscall(SYS_getppid);
  for (long i = 0; i < m; i++) syscall(SYS_write, -1, "x", 1);
  pthread_t th[16];
  for (long i = 0; i < t && i < 16; i++) pthread_create(&th[i], 0, worker, 0);
  for (long i = 0; i < t && i < 16; i++) pthread_join(th[i], 0);
  if (sigs) signal(SIGUSR1, on_usr1);
  for (long i = 0; i < sigs; i++) syscall(SYS_kill, getpid(), SIGUSR1);
  if (c) {
    int p[2];
    if (pipe(p)) return 3;
    if (fork() == 0) {
      for (long i = 0; i < c; i++) syscall(SYS_getppid);
      syscall(SYS_write, p[1], "x", 1);
      sleep(3);
      _exit(0);
    }
    char x;
    if (read(p[0], &x, 1) != 1) return 4;
  }
  return 0;
}
)";

// A churn of short-lived threads, one after another, N of them, each making the same 20
// syscalls once (getppid among them) and then pausing P microseconds: thousands of
// {thread, syscall} keys whose threads are gone.
const char* kChurn = R"(
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/utsname.h>
#include <unistd.h>
static void *worker(void *arg) {
  (void)arg;
  struct utsname u; struct tms t; struct sysinfo si; struct rusage ru; struct rlimit rl;
  struct itimerval it; char cwd[256]; cpu_set_t cs;
  syscall(SYS_getppid); syscall(SYS_getpid); syscall(SYS_gettid); syscall(SYS_getuid);
  syscall(SYS_geteuid); syscall(SYS_getgid); syscall(SYS_getegid); syscall(SYS_getpgrp);
  syscall(SYS_getsid, 0); syscall(SYS_getpriority, 0, 0); syscall(SYS_sched_yield);
  syscall(SYS_umask, 022); syscall(SYS_uname, &u); syscall(SYS_times, &t);
  syscall(SYS_sysinfo, &si); syscall(SYS_getrusage, 0, &ru); syscall(SYS_getcwd, cwd, 256);
  syscall(SYS_sched_getaffinity, 0, sizeof cs, &cs); syscall(SYS_getitimer, 0, &it);
  syscall(SYS_getrlimit, 0, &rl);
  return 0;
}
int main(int argc, char **argv) {
  if (argc < 3) return 2;
  long n = atol(argv[1]), pause_us = atol(argv[2]);
  for (long i = 0; i < n; i++) {
    pthread_t th;
    if (pthread_create(&th, 0, worker, 0)) return 3;
    pthread_join(th, 0);
    usleep(pause_us);
  }
  return 0;
}
)";

// A thread other than the leader makes 100 getppid and execs the program again ("after"), which
// makes 37: the kernel gives the exec'ing thread the tgid as its tid (de_thread). Prints the
// thread's first tid on stderr.
const char* kThreadExec = R"(
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
static char *self;
static void *worker(void *arg) {
  (void)arg;
  for (int i = 0; i < 100; i++) syscall(SYS_getppid);
  fprintf(stderr, "thread_tid %ld\n", (long)syscall(SYS_gettid));
  char *argv[] = {self, "after", 0};
  execv("/proc/self/exe", argv);
  return 0;
}
int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "after") == 0) {
    for (int i = 0; i < 37; i++) syscall(SYS_getppid);
    return 0;
  }
  self = argv[0];
  pthread_t th;
  pthread_create(&th, 0, worker, 0);
  pthread_join(th, 0); /* never returns: the exec ends this thread */
  return 1;
}
)";

// Compiles `source` into /tmp once per test binary; empty with `why` set on failure.
std::string build_c(const std::string& name, const char* source, std::string* why) {
  static std::map<std::string, std::pair<std::string, std::string>> built;  // path, error
  auto [it, added] = built.try_emplace(name);
  if (added) {
    char dir[] = "/tmp/scope-syscalls-test.XXXXXX";
    if (!mkdtemp(dir)) {
      it->second.second = "mkdtemp failed";
    } else {
      std::string src = std::string(dir) + "/" + name + ".c";
      std::ofstream(src) << source;
      std::string bin = std::string(dir) + "/" + name;
      RunResult r = run({"/bin/sh", "-c", "cc -O2 -pthread -o " + bin + " " + src}, 60);
      if (r.status == 0)
        it->second.first = bin;
      else
        it->second.second = "cannot compile the workload with cc: " + r.err;
    }
  }
  *why = it->second.second;
  return it->second.first;
}

std::string workload(std::string* why) { return build_c("sc_workload", kWorkload, why); }

const nlohmann::json* find_syscall(const nlohmann::json& arr, const std::string& name) {
  for (const auto& e : arr)
    if (e.value("name", "") == name) return &e;
  return nullptr;
}

}  // namespace

// 3,000 threads with 20 syscalls each leave ~80,000 {thread, syscall} keys, more than the
// kernel map holds (65,536): scope moves the exited threads' counters out as it goes, and every
// call is counted with nothing dropped.
TEST(SyscallsBpf, ThreadChurnBeyondTheMapIsCountedExactly) {
  SCOPE_FAMILY_REQUIRE("syscalls");
  std::string why;
  std::string bin = build_c("sc_churn", kChurn, &why);
  if (bin.empty()) GTEST_SKIP() << why;
  constexpr int kThreads = 3000;
  Trace t = trace(
      {"--probes", "syscalls", "--json", "--quiet", "--", bin, std::to_string(kThreads), "1500"},
      120);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  EXPECT_EQ(t.summary.at("dropped"), 0) << t.describe();
  for (const char* name : {"getppid", "uname", "sysinfo", "getrlimit"}) {
    const auto* s = find_syscall(t.summary.at("syscalls"), name);
    ASSERT_NE(s, nullptr) << name;
    EXPECT_EQ(s->at("count"), kThreads) << name;
  }
}

// Latency: five 40 ms sleeps are each timed (a syscall made this rarely is timed every time), and
// their total and maximum are what the sleeps took.
TEST(SyscallsBpf, SleepLatency) {
  SCOPE_FAMILY_REQUIRE("syscalls");
  std::string why;
  std::string bin = workload(&why);
  if (bin.empty()) GTEST_SKIP() << why;

  Trace t =
      trace({"--probes", "syscalls", "--json", "--", bin, "0", "0", "0", "0", "0", "0", "5"}, 60);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  const auto* sleep = find_syscall(t.summary.at("syscalls"), "clock_nanosleep");
  ASSERT_NE(sleep, nullptr) << t.describe();
  EXPECT_EQ(sleep->at("count"), 5) << sleep->dump();
  EXPECT_EQ(sleep->at("timed"), 5) << sleep->dump();
  EXPECT_GE(sleep->at("total_ns").get<uint64_t>(), 200'000'000u) << sleep->dump();
  EXPECT_LT(sleep->at("total_ns").get<uint64_t>(), 1'000'000'000u) << sleep->dump();
  EXPECT_GE(sleep->at("max_ns").get<uint64_t>(), 40'000'000u) << sleep->dump();
  EXPECT_LE(sleep->at("max_ns").get<uint64_t>(), sleep->at("total_ns").get<uint64_t>());
}

// A call longer than a thread slot's 32-bit maximum (4.29 s) keeps its whole time.
TEST(SyscallsBpf, LongCallLatency) {
  SCOPE_FAMILY_REQUIRE("syscalls");
  std::string why;
  std::string bin = workload(&why);
  if (bin.empty()) GTEST_SKIP() << why;

  Trace t = trace(
      {"--probes", "syscalls", "--json", "--", bin, "0", "0", "0", "0", "0", "0", "1", "4400"}, 60);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  const auto* sleep = find_syscall(t.summary.at("syscalls"), "clock_nanosleep");
  ASSERT_NE(sleep, nullptr) << t.describe();
  EXPECT_EQ(sleep->at("count"), 1) << sleep->dump();
  EXPECT_EQ(sleep->at("timed"), 1) << sleep->dump();
  EXPECT_GE(sleep->at("max_ns").get<uint64_t>(), 4'400'000'000u) << sleep->dump();
  EXPECT_GE(sleep->at("total_ns").get<uint64_t>(), 4'400'000'000u) << sleep->dump();
}

TEST(SyscallsBpf, ExactCountsErrorsAndThreads) {
  SCOPE_FAMILY_REQUIRE("syscalls");
  std::string why;
  std::string bin = workload(&why);
  if (bin.empty()) GTEST_SKIP() << why;

  Trace t = trace({"--probes", "syscalls", "--json", "--", bin, "1000", "500", "3", "200"}, 60);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  ASSERT_TRUE(t.summary.contains("syscalls")) << t.describe();
  EXPECT_TRUE(t.events.empty()) << "aggregated family printed per-event lines: "
                                << t.events.front().dump();
  EXPECT_EQ(t.summary.at("dropped"), 0) << t.describe();
  const auto& sc = t.summary.at("syscalls");
  ASSERT_TRUE(sc.is_array());

  // Sorted by total time, descending.
  for (size_t i = 1; i < sc.size(); ++i)
    EXPECT_GE(sc[i - 1].at("total_ns").get<uint64_t>(), sc[i].at("total_ns").get<uint64_t>());

  const auto* getppid = find_syscall(sc, "getppid");
  ASSERT_NE(getppid, nullptr) << t.describe();
  EXPECT_EQ(getppid->at("count"), 1000 + 3 * 200) << getppid->dump();
  EXPECT_EQ(getppid->at("errors"), 0);
  EXPECT_GT(getppid->at("total_ns").get<uint64_t>(), 0u);
  EXPECT_GE(getppid->at("total_ns").get<uint64_t>(), getppid->at("max_ns").get<uint64_t>());

  // Main thread 1000, three workers 200 each, all one process named sc_workload.
  const auto& top = getppid->at("top_threads");
  ASSERT_EQ(top.size(), 4u) << getppid->dump();
  uint32_t pid = top[0].at("pid");
  int with_1000 = 0, with_200 = 0;
  for (const auto& th : top) {
    EXPECT_EQ(th.at("pid"), pid) << th.dump();
    EXPECT_EQ(th.at("comm"), "sc_workload") << th.dump();
    if (th.at("count") == 1000) {
      ++with_1000;
      EXPECT_EQ(th.at("tid"), pid);
    }
    if (th.at("count") == 200) ++with_200;
  }
  EXPECT_EQ(with_1000, 1);
  EXPECT_EQ(with_200, 3);

  // write(-1, ...) fails with EBADF every time, and the workload writes nothing else.
  const auto* write = find_syscall(sc, "write");
  ASSERT_NE(write, nullptr) << t.describe();
  EXPECT_EQ(write->at("count"), 500) << write->dump();
  EXPECT_EQ(write->at("errors"), 500) << write->dump();

  // Only the traced command (scope's own syscalls and other processes are not counted),
  // and the command's exit is the last syscall: exit_group never returns, so it is absent.
  for (const auto& e : sc)
    for (const auto& th : e.at("top_threads"))
      EXPECT_EQ(th.at("pid"), pid) << e.at("name") << " " << th.dump();
  EXPECT_NE(find_syscall(sc, "execve"), nullptr);
  EXPECT_EQ(find_syscall(sc, "exit_group"), nullptr);
  // events = syscalls counted.
  uint64_t total = 0;
  for (const auto& e : sc) total += e.at("count").get<uint64_t>();
  EXPECT_EQ(t.summary.at("events").get<uint64_t>(), total);
}

// A fork, vfork or clone is one call (the child's return is not a call of its own); a successful
// execveat is counted as execveat (it returns with execve's number).
TEST(SyscallsBpf, ForksAndClonesOnceAndExecveatAsItself) {
  SCOPE_FAMILY_REQUIRE("syscalls");
  Trace t = trace({"--probes", "syscalls", "--json", "-q", "--", kBin + "/syscall_workload"}, 60);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  const auto& sc = t.summary.at("syscalls");
  auto count = [&](const char* name) {
    const auto* s = find_syscall(sc, name);
    return s ? s->at("count").get<int64_t>() : 0;
  };
  EXPECT_EQ(count("clone"), 2) << t.describe();   // two fork()s
  EXPECT_EQ(count("clone3"), 4) << t.describe();  // four threads
  EXPECT_EQ(count("vfork"), 1) << t.describe();
  EXPECT_EQ(count("execve"), 2) << t.describe();  // the workload, /bin/echo
  EXPECT_EQ(count("execveat"), 1) << t.describe();
  EXPECT_EQ(count("getppid"), 1234) << t.describe();
}

TEST(SyscallsBpf, HumanTables) {
  SCOPE_FAMILY_REQUIRE("syscalls");
  std::string why;
  std::string bin = workload(&why);
  if (bin.empty()) GTEST_SKIP() << why;

  RunResult r = run_scope({"--probes", "syscalls", "--", bin, "300", "40", "0", "0"}, 60);
  ASSERT_EQ(r.status, 0) << r.err;
  // strace -c: calls, then errors (blank when none), then the name.
  EXPECT_NE(r.out.find("% time     seconds  usecs/call     calls    errors syscall"),
            std::string::npos)
      << r.out;
  bool getppid = false, write = false;
  for (const auto& line : lines_of(r.out)) {
    std::istringstream in(line);
    std::string pct, secs, usecs, calls, a, b;
    in >> pct >> secs >> usecs >> calls >> a >> b;
    if (a == "getppid" && calls == "300") getppid = true;
    if (a == "40" && b == "write" && calls == "40") write = true;
  }
  EXPECT_TRUE(getppid) << r.out;
  EXPECT_TRUE(write) << r.out;
  EXPECT_NE(r.out.find("Syscalls by process"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" sc_workload "), std::string::npos) << r.out;
  // No per-event lines: the two tables and the totals line only.
  EXPECT_LT(lines_of(r.out).size(), 80u) << r.out;
}

// (rt_)sigreturn leaves -1 as the syscall number at exit (no restart): it is still counted under
// its name, once per handler return.
TEST(SyscallsBpf, SigreturnCounted) {
  SCOPE_FAMILY_REQUIRE("syscalls");
  std::string why;
  std::string bin = workload(&why);
  if (bin.empty()) GTEST_SKIP() << why;

  Trace t = trace({"--probes", "syscalls", "--json", "--", bin, "0", "0", "0", "0", "37"}, 60);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  const auto& sc = t.summary.at("syscalls");
  const auto* sigreturn = find_syscall(sc, "rt_sigreturn");
  ASSERT_NE(sigreturn, nullptr) << t.describe();
  EXPECT_EQ(sigreturn->at("count"), 37) << sigreturn->dump();
  const auto* kill = find_syscall(sc, "kill");
  ASSERT_NE(kill, nullptr) << t.describe();
  EXPECT_EQ(kill->at("count"), 37) << kill->dump();
  for (const auto& e : sc)
    EXPECT_EQ(e.at("name").get<std::string>().rfind("syscall_", 0), std::string::npos) << e.dump();
}

// A thread still running when scope stops has part of its counts in its per-thread slot, not yet
// in the `stats` map: the summary must add them. The child makes its calls and is still asleep
// when the command (its parent) exits and scope reads the counters for the last time.
TEST(SyscallsBpf, ExactCountsOfAThreadStillRunningAtTheEnd) {
  SCOPE_FAMILY_REQUIRE("syscalls");
  std::string why;
  std::string bin = workload(&why);
  if (bin.empty()) GTEST_SKIP() << why;

  Trace t =
      trace({"--probes", "syscalls", "--json", "--", bin, "10", "0", "0", "0", "0", "4321"}, 60);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  const auto* getppid = find_syscall(t.summary.at("syscalls"), "getppid");
  ASSERT_NE(getppid, nullptr) << t.describe();
  EXPECT_EQ(getppid->at("count"), 10 + 4321) << getppid->dump();
  bool child = false;
  for (const auto& th : getppid->at("top_threads")) {
    if (th.at("pid") == th.at("tid") && th.at("count") == 4321) child = true;
  }
  EXPECT_TRUE(child) << getppid->dump();
}

// A thread's slot follows the thread (its kernel stack), and its tid changes when it execs from a
// non-leader: the calls before the exec stay under its old tid, those after go under the new one
// (the pid), and none are lost.
TEST(SyscallsBpf, ExecFromANonLeaderThreadMovesItsCounts) {
  SCOPE_FAMILY_REQUIRE("syscalls");
  std::string why;
  std::string bin = build_c("sc_thread_exec", kThreadExec, &why);
  if (bin.empty()) GTEST_SKIP() << why;
  Trace t = trace({"--probes", "syscalls", "--json", "--", bin}, 60);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  auto at = t.run.err.find("thread_tid ");
  ASSERT_NE(at, std::string::npos) << t.run.err;
  int64_t old_tid = std::stoll(t.run.err.substr(at + 11));
  const auto* getppid = find_syscall(t.summary.at("syscalls"), "getppid");
  ASSERT_NE(getppid, nullptr) << t.describe();
  EXPECT_EQ(getppid->at("count"), 137) << getppid->dump();
  const auto& top = getppid->at("top_threads");
  ASSERT_EQ(top.size(), 2u) << getppid->dump();
  int64_t pid = top[0].at("pid");
  for (const auto& th : top) {
    if (th.at("tid") == old_tid) {
      EXPECT_EQ(th.at("count"), 100) << getppid->dump();
    } else {
      EXPECT_EQ(th.at("tid"), pid) << getppid->dump();
      EXPECT_EQ(th.at("count"), 37) << getppid->dump();
    }
  }
  EXPECT_NE(old_tid, pid);
}

// With the syscalls family, the exec, open and net families run as handlers of its raw_syscalls
// programs: nothing of scope's is left on a syscalls:* tracepoint (whose perf handler would cost
// every syscall on the host). Such a tracepoint link holds a perf event open in scope, so the
// traced command lists its parent's (scope's) descriptors: none with the syscalls family, some
// without it. The same command's exec and opens are reported either way.
TEST(SyscallsBpf, HostFamiliesRideTheRawSyscallsPrograms) {
  SCOPE_FAMILY_REQUIRE("syscalls");
  auto perf_fds = [](const Trace& t) {
    int n = 0;
    for (const auto& l : t.other_lines) n += l.find("anon_inode:[perf_event]") != std::string::npos;
    return n;
  };
  const std::vector<std::string> cmd = {"/bin/sh", "-c", "ls -l /proc/$PPID/fd; cat /etc/hostname"};
  for (const std::string probes : {"exec,open,net,syscalls", "exec,open,net"}) {
    std::vector<std::string> args = {"--probes", probes, "--json", "--"};
    args.insert(args.end(), cmd.begin(), cmd.end());
    Trace t = trace(args, 60);
    ASSERT_EQ(t.run.status, 0) << probes << ": " << t.describe();
    bool dispatched = probes.find("syscalls") != std::string::npos;
    if (dispatched) {
      EXPECT_EQ(perf_fds(t), 0) << t.run.out;
    } else {
      EXPECT_GE(perf_fds(t), 4) << t.run.out;  // at least execve's and openat's enter and exit
    }
    EXPECT_EQ(t.summary.at("exec").at("execs"), 3) << probes << ": " << t.describe();
    int hostname = 0;
    for (const auto& e : t.where("event", "open"))
      hostname += e.value("path", "") == "/etc/hostname";
    EXPECT_EQ(hostname, 1) << probes << ": " << t.describe();
  }
}
