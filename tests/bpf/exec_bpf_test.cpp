// Privileged tests of the exec family: the real scope binary tracing execs
// (successful and failed, argv whole), exits, a --comm match that only the
// new program's name makes, argv truncation, and a 2000-exec flood where
// every exec is either reported or counted as dropped.
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "run_scope.h"

namespace scope::bpftest {
namespace {

std::vector<nlohmann::json> exec_events(const Trace& t) { return t.where("event", "exec"); }

const nlohmann::json* find_exec(const Trace& t, const std::string& filename) {
  for (const auto& e : t.events)
    if (e.value("event", "") == "exec" && e.value("filename", "") == filename) return &e;
  return nullptr;
}

const nlohmann::json* find_exit(const Trace& t, int64_t pid) {
  for (const auto& e : t.events)
    if (e.value("event", "") == "exit" && e.value("pid", int64_t{-1}) == pid) return &e;
  return nullptr;
}

// The exec family alone (on the syscalls:* tracepoints) and with the syscalls
// family (its handlers tail-called from raw_syscalls): the same events.
class ExecBpfProbes : public ::testing::TestWithParam<std::string> {};
INSTANTIATE_TEST_SUITE_P(AloneAndDispatched, ExecBpfProbes,
                         ::testing::Values("exec", "exec,syscalls"), [](const auto& info) {
                           return info.param == "exec" ? "Alone" : "UnderSyscalls";
                         });

TEST_P(ExecBpfProbes, ShellExecsFailuresAndExits) {
  SCOPE_BPF_REQUIRE();
  Trace t = trace({"--probes", GetParam(), "--json", "--", "/bin/sh", "-c",
                   R"(/bin/echo "a b" "it's" x; /nonexistent/cmd; true)"},
                  30);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  ASSERT_FALSE(t.summary.is_null()) << t.describe();
  EXPECT_EQ(t.bad_json_lines, 0);

  // The command itself: scope's child execs /bin/sh.
  const nlohmann::json* sh = find_exec(t, "/bin/sh");
  ASSERT_NE(sh, nullptr) << t.run.out;
  EXPECT_EQ((*sh)["ret"], 0);
  EXPECT_EQ((*sh)["comm"], "sh");
  EXPECT_EQ((*sh)["argv"], (nlohmann::json{"/bin/sh", "-c",
                                           R"(/bin/echo "a b" "it's" x; /nonexistent/cmd; true)"}));
  int64_t sh_pid = (*sh)["pid"];

  const nlohmann::json* echo = find_exec(t, "/bin/echo");
  ASSERT_NE(echo, nullptr) << t.run.out;
  EXPECT_EQ((*echo)["argv"], (nlohmann::json{"/bin/echo", "a b", "it's", "x"}));
  EXPECT_EQ((*echo)["ret"], 0);
  EXPECT_EQ((*echo)["comm"], "echo");
  EXPECT_EQ((*echo)["ppid"], sh_pid);
  EXPECT_EQ((*echo)["argv_truncated"], false);
  EXPECT_EQ((*echo)["call"], "execve");
  for (const char* k : {"ts_ns", "pid", "tid", "uid", "duration_ns"})
    EXPECT_TRUE((*echo).contains(k)) << k;
  EXPECT_NE((*echo)["pid"], sh_pid);

  const nlohmann::json* bad = find_exec(t, "/nonexistent/cmd");
  ASSERT_NE(bad, nullptr) << t.run.out;
  EXPECT_EQ((*bad)["ret"], -2);  // ENOENT
  EXPECT_EQ((*bad)["argv"], (nlohmann::json{"/nonexistent/cmd"}));
  EXPECT_EQ((*bad)["comm"], "sh");  // the forked shell that failed to exec
  EXPECT_EQ((*bad)["ppid"], sh_pid);

  // Exits: echo (0), the child that failed to exec (127), sh itself (0).
  const nlohmann::json* echo_exit = find_exit(t, (*echo)["pid"]);
  ASSERT_NE(echo_exit, nullptr) << t.run.out;
  EXPECT_EQ((*echo_exit)["exit_code"], 0);
  EXPECT_EQ((*echo_exit)["comm"], "echo");
  EXPECT_EQ((*echo_exit)["ppid"], sh_pid);
  EXPECT_FALSE((*echo_exit).contains("signal"));
  int64_t lifetime = (*echo_exit)["lifetime_ns"];
  EXPECT_GT(lifetime, 0);
  EXPECT_LT(lifetime, 10'000'000'000);
  const nlohmann::json* bad_exit = find_exit(t, (*bad)["pid"]);
  ASSERT_NE(bad_exit, nullptr) << t.run.out;
  EXPECT_EQ((*bad_exit)["exit_code"], 127);
  const nlohmann::json* sh_exit = find_exit(t, sh_pid);
  ASSERT_NE(sh_exit, nullptr) << t.run.out;
  EXPECT_EQ((*sh_exit)["exit_code"], 0);
  EXPECT_EQ((*sh_exit)["comm"], "sh");
  // Exec events come before their process's exit.
  EXPECT_LE((*echo)["ts_ns"].get<uint64_t>(), (*echo_exit)["ts_ns"].get<uint64_t>());

  const auto& s = t.summary.at("exec");
  EXPECT_EQ(s["execs"], 3) << t.describe();
  EXPECT_EQ(s["failed"], 1);
  EXPECT_EQ(s["exits"], 3);
  EXPECT_EQ(s["dropped_execs"], 0);
  EXPECT_EQ(s["dropped_exits"], 0);
  if (GetParam() == "exec") {
    EXPECT_EQ(t.summary["events"], 6);
  }
  EXPECT_EQ(t.summary["dropped"], 0);
  EXPECT_EQ(exec_events(t).size(), 3u);
}

TEST(ExecBpf, HumanOutput) {
  SCOPE_BPF_REQUIRE();
  RunResult r = run_scope({"--probes", "exec", "--", "/bin/sh", "-c", R"(/bin/echo "a b" x)"}, 30);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find(R"( exec  ppid=)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(R"(ret=0 /bin/echo /bin/echo "a b" x)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" exit  ppid="), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("exec: 2 execs (0 failed), 2 exits"), std::string::npos) << r.out;
}

// Credentials in argv are "***" in every line scope prints, unless --no-redact-args.
TEST(ExecBpf, CredentialsInArgvAreRedacted) {
  SCOPE_BPF_REQUIRE();
  const std::vector<std::string> cmd = {"--", "/bin/sh", "-c", "true", "--password=hunter2"};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), cmd.begin(), cmd.end());
    return args;
  };
  Trace t = trace(with({"--probes", "exec", "--json"}), 30);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  const nlohmann::json* sh = find_exec(t, "/bin/sh");
  ASSERT_NE(sh, nullptr) << t.run.out;
  EXPECT_EQ((*sh)["argv"], (nlohmann::json{"/bin/sh", "-c", "true", "--password=***"}));
  EXPECT_EQ(t.run.out.find("hunter2"), std::string::npos) << t.run.out;

  RunResult human = run_scope(with({"--probes", "exec"}), 30);
  ASSERT_EQ(human.status, 0) << human.err;
  EXPECT_NE(human.out.find(R"(/bin/sh -c true "--password=***")"), std::string::npos) << human.out;
  EXPECT_EQ(human.out.find("hunter2"), std::string::npos) << human.out;

  Trace kept = trace(with({"--probes", "exec", "--json", "--no-redact-args"}), 30);
  ASSERT_EQ(kept.run.status, 0) << kept.describe();
  sh = find_exec(kept, "/bin/sh");
  ASSERT_NE(sh, nullptr) << kept.run.out;
  EXPECT_EQ((*sh)["argv"], (nlohmann::json{"/bin/sh", "-c", "true", "--password=hunter2"}));
}

TEST(ExecBpf, ArgvTruncation) {
  SCOPE_BPF_REQUIRE();
  std::string big(5000, 'y');
  Trace t = trace({"--probes", "exec", "--json", "--", "/bin/sh", "-c",
                   "/bin/true $(seq 1 70); /bin/true \"$0\"", big},
                  30);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  std::vector<nlohmann::json> trues;
  for (const auto& e : exec_events(t))
    if (e["filename"] == "/bin/true") trues.push_back(e);
  ASSERT_EQ(trues.size(), 2u) << t.run.out.substr(0, 4000);
  // 71 arguments: the first 64 are kept.
  const auto& many = trues[0];
  EXPECT_EQ(many["argv_truncated"], true);
  ASSERT_EQ(many["argv"].size(), 64u);
  EXPECT_EQ(many["argv"][0], "/bin/true");
  for (int i = 1; i < 64; ++i) EXPECT_EQ(many["argv"][i], std::to_string(i));
  // One long argument: cut where 4096 bytes (with NULs) are used.
  const auto& longer = trues[1];
  EXPECT_EQ(longer["argv_truncated"], true);
  ASSERT_EQ(longer["argv"].size(), 2u);
  EXPECT_EQ(longer["argv"][1], big.substr(0, 4096 - sizeof("/bin/true") - 1));
  EXPECT_EQ(t.summary.at("exec")["argv_truncated"], 3);  // sh's own argv too
}

TEST(ExecBpf, CommMatchedByTheNewProgram) {
  SCOPE_BPF_REQUIRE();
  char dir[] = "/tmp/scope_exec_XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string target = std::string(dir) + "/scopexc_target";
  ASSERT_EQ(symlink("/bin/sleep", target.c_str()), 0);
  Process scope;
  ASSERT_TRUE(scope.start({kScope, "trace", "--probes", "exec", "--json", "--comm",
                           "scopexc_target", "--duration", "3"}));
  usleep(1200 * 1000);  // loaded and attached
  RunResult w = run({"/bin/sh", "-c", target + " 0.05 extra; /bin/true"}, 10);
  RunResult r = scope.wait(20);
  unlink(target.c_str());
  rmdir(dir);
  ASSERT_EQ(w.status, 0) << w.err;  // /bin/true's
  Trace t = parse_trace(r);
  ASSERT_FALSE(t.summary.is_null()) << t.describe();
  auto execs = exec_events(t);
  ASSERT_EQ(execs.size(), 1u) << t.run.out;
  EXPECT_EQ(execs[0]["filename"], target);
  EXPECT_EQ(execs[0]["comm"], "scopexc_target");
  EXPECT_EQ(execs[0]["argv"], (nlohmann::json{target, "0.05", "extra"}));
  EXPECT_EQ(execs[0]["ret"], 0);
  const nlohmann::json* ex = find_exit(t, execs[0]["pid"]);
  ASSERT_NE(ex, nullptr) << t.run.out;
  EXPECT_EQ((*ex)["exit_code"], 1);  // sleep rejects "extra"
  EXPECT_EQ(t.count("comm", "true"), 0u);
  EXPECT_EQ(t.count("comm", "sh"), 0u);
}

// A thread other than the leader execs: the kernel gives it the tgid as its
// tid (de_thread), and the event still carries the argv read at its entry.
TEST(ExecBpf, ExecFromANonLeaderThread) {
  SCOPE_BPF_REQUIRE();
  if (!file_exists("/usr/bin/python3")) GTEST_SKIP() << "needs /usr/bin/python3 to start a thread";
  Trace t = trace({"--probes", "exec", "--json", "--", "/usr/bin/python3", "-c",
                   "import os, threading, time\n"
                   "threading.Thread(target=lambda: os.execv('/bin/echo', ['/bin/echo', 'from "
                   "thread'])).start()\n"
                   "time.sleep(10)"},
                  30);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  const nlohmann::json* py = find_exec(t, "/usr/bin/python3");
  const nlohmann::json* echo = find_exec(t, "/bin/echo");
  ASSERT_NE(py, nullptr) << t.run.out;
  ASSERT_NE(echo, nullptr) << t.run.out;
  EXPECT_EQ((*echo)["argv"], (nlohmann::json{"/bin/echo", "from thread"}));
  EXPECT_EQ((*echo)["ret"], 0);
  EXPECT_EQ((*echo)["pid"], (*py)["pid"]);
  EXPECT_EQ((*echo)["tid"], (*py)["pid"]);  // the thread took the tgid
  const auto& s = t.summary.at("exec");
  EXPECT_EQ(s["execs"], 2);
  EXPECT_EQ(s["exits"], 1);  // the process, once (not the leader thread killed by the exec)
  EXPECT_LT(t.run.seconds, 8);
}

TEST(ExecBpf, FloodOfExecsIsCountedExactly) {
  SCOPE_BPF_REQUIRE();
  Trace t = trace({"--probes", "exec", "--json", "--quiet", "--", "/bin/sh", "-c",
                   "i=0; while [ $i -lt 2000 ]; do /bin/true; i=$((i+1)); done"},
                  60);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  ASSERT_FALSE(t.summary.is_null()) << t.describe();
  EXPECT_TRUE(t.events.empty());  // --quiet
  const auto& s = t.summary.at("exec");
  uint64_t true_execs = 0;
  for (const auto& c : s["by_comm"])
    if (c["comm"] == "true") true_execs = c["count"];
  uint64_t dropped_execs = s["dropped_execs"];
  uint64_t dropped_exits = s["dropped_exits"];
  // Every exec (sh, then 2000 /bin/true) and every exit is reported or counted.
  EXPECT_EQ(s["execs"].get<uint64_t>() + dropped_execs, 2001u) << t.describe();
  EXPECT_EQ(true_execs + dropped_execs, 2000u) << t.describe();
  EXPECT_EQ(s["exits"].get<uint64_t>() + dropped_exits, 2001u) << t.describe();
  EXPECT_EQ(s["failed"], 0);
  EXPECT_EQ(t.summary["events"].get<uint64_t>() + t.summary["dropped"].get<uint64_t>(), 4002u);
  std::printf("flood: %llu execs, %llu dropped execs, %llu dropped exits, %.2f s\n",
              static_cast<unsigned long long>(s["execs"].get<uint64_t>()),
              static_cast<unsigned long long>(dropped_execs),
              static_cast<unsigned long long>(dropped_exits), t.run.seconds);
}

// The traced command runs with the signal dispositions and mask scope found: scope ignores SIGPIPE
// for itself, and an ignored signal would survive exec (`yes | head -1` would see EPIPE instead of
// dying quietly).
TEST(ExecBpf, CommandRunsWithTheSignalsScopeFound) {
  SCOPE_BPF_REQUIRE();
  const std::vector<std::string> cmd = {"/bin/sh", "-c",
                                        "grep -E '^Sig(Ign|Blk)' /proc/self/status"};
  RunResult direct = run(cmd);
  ASSERT_EQ(direct.status, 0) << direct.err;
  ASSERT_NE(direct.out.find("SigIgn"), std::string::npos) << direct.out;
  std::vector<std::string> args = {"--probes", "exec", "--quiet", "--"};
  args.insert(args.end(), cmd.begin(), cmd.end());
  Trace t = trace(args, 30);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  std::string traced;
  for (const auto& l : t.other_lines)
    if (l.rfind("Sig", 0) == 0) traced += l + "\n";
  EXPECT_EQ(traced, direct.out) << t.describe();
}

// A child that execs string literals right after fork() (their pages are not mapped in the child
// yet, so the syscall's entry cannot read them): its filename and argv all the same.
TEST(ExecBpf, ForkedChildExecingLiteralsHasItsArgv) {
  SCOPE_BPF_REQUIRE();
  Trace t = trace({"--probes", "exec", "--json", "--", kBin + "/syscall_workload"}, 60);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  int echo = 0, execveat = 0;
  for (const auto& e : t.where("event", "exec")) {
    EXPECT_FALSE(e.contains("argv_fault")) << e.dump();
    EXPECT_FALSE(e.contains("filename_fault")) << e.dump();
    if (e.at("filename") == "/bin/echo") {
      ++echo;
      EXPECT_EQ(e.at("argv"), (nlohmann::json{"echo", "x"})) << e.dump();
      EXPECT_EQ(e.at("call"), "execve");
    }
    if (e.at("call") == "execveat") {
      ++execveat;
      EXPECT_EQ(e.at("filename"), "true") << e.dump();  // as passed, relative to its dirfd
      EXPECT_EQ(e.at("argv"), (nlohmann::json{"true"})) << e.dump();
      EXPECT_EQ(e.at("ret"), 0);
    }
  }
  EXPECT_EQ(echo, 1) << t.describe();
  EXPECT_EQ(execveat, 1) << t.describe();
}

// Lines of different families come out in their events' time order (each family reads its own
// ring buffer): a shell's execs, opens and exits interleave as they happened.
TEST(ExecBpf, FamiliesLinesInTimeOrder) {
  SCOPE_BPF_REQUIRE();
  Trace t = trace({"--probes", "exec,open", "--json", "--", "/bin/sh", "-c",
                   "for i in 1 2 3 4 5 6; do /bin/cat /etc/hostname >/dev/null; done"},
                  30);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  uint64_t last = 0;
  int execs = 0, opens = 0, out_of_order = 0;
  for (const auto& e : t.events) {
    uint64_t ts = e.at("ts_ns").get<uint64_t>();
    if (ts < last) ++out_of_order;
    last = std::max(last, ts);
    execs += e.value("event", "") == "exec";
    opens += e.value("event", "") == "open";
  }
  EXPECT_GE(execs, 6) << t.describe();
  EXPECT_GE(opens, 6) << t.describe();
  EXPECT_EQ(out_of_order, 0) << t.describe();
}

}  // namespace
}  // namespace scope::bpftest
