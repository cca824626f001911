// `scope trace -- COMMAND` as a user of strace expects it: processes the command leaves running
// are followed until they exit, the JSON stream on stdout is nothing but JSON, -o writes to a
// file, times count from the command's exec, and scope's own launcher is not counted as the
// command's.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "run_scope.h"

namespace scope::bpftest {
namespace {

const std::string kWorkload = kBin + "/syscall_workload";

// The workload leaves a child behind that execs /bin/true a second after the workload exits.
TEST(TraceCommand, OrphansAreFollowedUntilTheyExit) {
  SCOPE_BPF_REQUIRE();
  Trace t = trace({"--probes", "exec", "--json", "--", kWorkload, "--orphan", "1"}, 60);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  EXPECT_GE(t.run.seconds, 0.9) << t.describe();
  int orphan_execs = 0;
  for (const auto& e : t.where("event", "exec"))
    orphan_execs += e.at("filename") == "/bin/true" && e.at("argv") == nlohmann::json{"true"};
  EXPECT_EQ(orphan_execs, 1) << t.describe();
  EXPECT_EQ(t.summary.at("orphans").at("followed"), 1) << t.describe();
  EXPECT_EQ(t.summary.at("orphans").at("left_running"), 0) << t.describe();
  EXPECT_NE(t.run.err.find("following the 1 processes it left running"), std::string::npos)
      << t.run.err;
}

TEST(TraceCommand, NoFollowOrphansStopsAtTheCommandsExit) {
  SCOPE_BPF_REQUIRE();
  Trace t = trace(
      {"--probes", "exec", "--json", "--no-follow-orphans", "--", kWorkload, "--orphan", "2"}, 60);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  EXPECT_LT(t.run.seconds, 1.9) << t.describe();
  for (const auto& e : t.where("event", "exec")) EXPECT_NE(e.at("filename"), "/bin/true");
  usleep(2'200'000);  // the orphan's own end
}

TEST(TraceCommand, JsonStdoutIsOnlyJsonAndTheCommandsOutputGoesToStderr) {
  SCOPE_BPF_REQUIRE();
  RunResult r = run_scope({"--probes", "exec", "--json", "--", "/bin/echo", "hello-stdout"}, 30);
  ASSERT_EQ(r.status, 0) << r.err;
  int lines = 0;
  for (const auto& line : lines_of(r.out)) {
    ++lines;
    auto j = nlohmann::json::parse(line, nullptr, false);
    EXPECT_TRUE(j.is_object()) << "not JSON on stdout: " << line;
  }
  EXPECT_GE(lines, 2);  // the exec, its exit, the summary
  EXPECT_NE(r.err.find("hello-stdout"), std::string::npos) << r.err;
}

TEST(TraceCommand, OutputFileTakesEventsAndSummary) {
  SCOPE_BPF_REQUIRE();
  std::string file = ::testing::TempDir() + "scope-trace-o-" + std::to_string(getpid());
  RunResult r =
      run_scope({"--probes", "exec", "--json", "-o", file, "--", "/bin/echo", "hello-o"}, 30);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "hello-o\n");  // the command keeps stdout
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  Trace t = parse_trace({ss.str(), "", 0});
  EXPECT_EQ(t.count("event", "exec"), 1u) << ss.str();
  EXPECT_EQ(t.summary.at("exit_status"), 0) << ss.str();
  unlink(file.c_str());
  RunResult bad = run_scope({"--probes", "exec", "-o", "/nonexistent/dir/file", "--", "true"}, 30);
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("/nonexistent/dir/file"), std::string::npos) << bad.err;
}

// Loading the probes takes a while: times count from the command's exec, not from scope's start.
TEST(TraceCommand, TimesCountFromTheCommandsExec) {
  SCOPE_BPF_REQUIRE();
  RunResult r = run_scope({"--probes", "exec,cuda", "--", "/bin/true"}, 30);
  ASSERT_EQ(r.status, 0) << r.err;
  auto lines = lines_of(r.out);
  ASSERT_FALSE(lines.empty()) << r.out;
  double first = std::stod(lines[0]);  // "   0.000812 true[12/12]  exec ..."
  EXPECT_GE(first, 0.0) << lines[0];
  EXPECT_LT(first, 0.05) << lines[0];
}

std::map<std::string, int64_t> syscall_counts(const Trace& t) {
  std::map<std::string, int64_t> out;
  for (const auto& s : t.summary.at("syscalls")) out[s.at("name")] = s.at("count");
  return out;
}

// Between its fork and the command's exec, scope's launcher reads a pipe and resets signals:
// not the command's calls. The same counts every run.
TEST(TraceCommand, LaunchersCallsAreNotTheCommands) {
  SCOPE_BPF_REQUIRE();
  std::map<std::string, int64_t> first;
  for (int i = 0; i < 4; ++i) {
    Trace t = trace({"--probes", "syscalls", "--json", "-q", "--", "/bin/true"}, 30);
    ASSERT_EQ(t.run.status, 0) << t.describe();
    auto counts = syscall_counts(t);
    // /bin/true sets no signal and reads once (strace -f -c /bin/true says so).
    EXPECT_EQ(counts.count("rt_sigaction"), 0u) << t.describe();
    EXPECT_EQ(counts.count("rt_sigprocmask"), 0u) << t.describe();
    EXPECT_EQ(counts["read"], 1) << t.describe();
    EXPECT_EQ(counts["execve"], 1) << t.describe();
    if (i == 0)
      first = counts;
    else
      EXPECT_EQ(counts, first) << t.describe();
  }
}

}  // namespace
}  // namespace scope::bpftest
