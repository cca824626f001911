// scope against `strace -f` on a deterministic workload (testdata/demo/syscall_workload.c):
// exact getppid calls, failing opens, a creat, fork+exec of string literals (execl, execveat
// relative to a directory fd), a vfork, threads writing. The same counts per syscall as
// `strace -f -c`, the same execs with their argv, the same opens with their errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "families/open_family.h"
#include "run_scope.h"

namespace scope::bpftest {
namespace {

const std::string kWorkload = kBin + "/syscall_workload";

std::string strace_path() {
  for (const char* p : {"/usr/bin/strace", "/bin/strace"})
    if (file_exists(p)) return p;
  return {};
}

#define STRACE_REQUIRE()                                                           \
  do {                                                                             \
    SCOPE_BPF_REQUIRE();                                                           \
    if (strace_path().empty()) {                                                   \
      std::printf("skipped: strace is not installed (scripts/install-deps.sh)\n"); \
      GTEST_SKIP() << "strace is not installed";                                   \
    }                                                                              \
  } while (0)

std::string temp_file(const char* name) {
  std::string dir = ::testing::TempDir();
  return dir + (dir.empty() || dir.back() == '/' ? "" : "/") + name + std::to_string(getpid());
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Calls {
  int64_t count = 0;
  int64_t errors = 0;
  bool operator==(const Calls&) const = default;
};

// `strace -f -c`'s table: calls and errors per syscall.
std::map<std::string, Calls> strace_counts() {
  std::string out = temp_file("strace-c-");
  RunResult r = run({strace_path(), "-f", "-c", "-o", out, kWorkload}, 60);
  EXPECT_EQ(r.status, 0) << r.err;
  std::map<std::string, Calls> calls;
  std::istringstream in(read_all(out));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string x; words >> x;) w.push_back(x);
    // "% time seconds usecs/call calls [errors] syscall"
    if (w.size() < 5 || w[0] == "%" || w[0][0] == '-' || w.back() == "total") continue;
    Calls c{std::stoll(w[3]), w.size() == 6 ? std::stoll(w[4]) : 0};
    calls[w.back()] = c;
  }
  unlink(out.c_str());
  return calls;
}

// Syscalls whose counts change from run to run of the same program (strace and scope trace two
// runs): a thread joined before or after it exits waits in futex or not; glibc asks getrandom
// for its malloc/stack-protector seeds lazily (one CI run saw 2 under strace, 3 under scope).
bool timing_dependent(const std::string& name) { return name == "futex" || name == "getrandom"; }

TEST(StraceParity, SameCountsPerSyscallAsStraceF) {
  STRACE_REQUIRE();
  auto want = strace_counts();
  ASSERT_GT(want["getppid"].count, 1000);
  Trace t = trace({"--probes", "syscalls", "--json", "-q", "--", kWorkload}, 60);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  std::map<std::string, Calls> got;
  for (const auto& s : t.summary.at("syscalls"))
    got[s.at("name")] = {s.at("count").get<int64_t>(), s.at("errors").get<int64_t>()};
  for (auto* m : {&want, &got})
    for (auto it = m->begin(); it != m->end();)
      it = timing_dependent(it->first) ? m->erase(it) : std::next(it);
  for (const auto& [name, c] : want) {
    auto g = got.find(name);
    EXPECT_TRUE(g != got.end() && g->second == c)
        << name << ": strace " << c.count << " calls, " << c.errors << " errors; scope "
        << (g == got.end() ? std::string("none")
                           : std::to_string(g->second.count) + " calls, " +
                                 std::to_string(g->second.errors) + " errors");
  }
  for (const auto& [name, c] : got)
    EXPECT_TRUE(want.count(name)) << name << ": scope " << c.count << " calls, strace none";
}

// The capture groups of each of strace's lines (`PID  call(args) = RET [ERRNO (text)]`, the pid
// padded) that `re`
// matches.
std::vector<std::vector<std::string>> strace_lines(const std::string& text, const std::regex& re) {
  std::vector<std::vector<std::string>> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_search(line, m, re)) continue;
    std::vector<std::string> groups;
    for (const auto& g : m) groups.push_back(g.str());
    out.push_back(std::move(groups));
  }
  return out;
}

std::string strace_trace(const std::string& calls) {
  std::string out = temp_file("strace-e-");
  RunResult r =
      run({strace_path(), "-f", "-s", "4096", "-e", "trace=" + calls, "-o", out, kWorkload}, 60);
  EXPECT_EQ(r.status, 0) << r.err;
  std::string text = read_all(out);
  unlink(out.c_str());
  return text;
}

// "[\"echo\", \"x\"]" -> {"echo", "x"}
std::vector<std::string> strace_argv(const std::string& list) {
  std::vector<std::string> out;
  std::regex item("\"((?:[^\"\\\\]|\\\\.)*)\"");
  for (std::sregex_iterator it(list.begin(), list.end(), item), end; it != end; ++it)
    out.push_back((*it)[1]);
  return out;
}

TEST(StraceParity, SameExecsWithArgv) {
  STRACE_REQUIRE();
  // `PID execve("/bin/echo", ["echo", "x"], 0x7ff.. /* 37 vars */) = 0`
  // `PID execveat(3, "true", ["true"], 0x7ff.. /* 37 vars */, 0) = 0`
  std::regex re(R"re(^\d+\s+(execve|execveat)\((?:\d+, )?"([^"]*)", \[([^\]]*)\].*\) = (-?\d+))re");
  std::multiset<std::string> want;
  for (const auto& m : strace_lines(strace_trace("execve,execveat"), re)) {
    nlohmann::json argv = strace_argv(m[3]);
    want.insert(std::string(m[1]) + " " + std::string(m[2]) + " " + argv.dump() + " = " +
                std::string(m[4]));
  }
  ASSERT_EQ(want.size(), 3u);  // the workload, echo, true
  Trace t = trace({"--probes", "exec", "--json", "--", kWorkload}, 60);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  std::multiset<std::string> got;
  for (const auto& e : t.where("event", "exec"))
    got.insert(e.at("call").get<std::string>() + " " + e.at("filename").get<std::string>() + " " +
               e.at("argv").dump() + " = " + std::to_string(e.at("ret").get<int64_t>()));
  EXPECT_EQ(got, want);
}

TEST(StraceParity, SameOpensWithErrors) {
  STRACE_REQUIRE();
  // `PID openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3`
  // `PID openat(AT_FDCWD, "/x", O_RDONLY) = -1 ENOENT (No such file or directory)`
  // `PID creat("/tmp/scope-workload-XXX/created", 0600) = 3`
  std::regex re(
      R"re(^\d+\s+(open|openat|creat)\((?:AT_FDCWD, )?"([^"]*)", [^)]*\) = (-?\d+)(?: (E[A-Z0-9]+))?)re");
  std::multiset<std::string> want;
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof cwd), nullptr);
  auto key = [](const std::string& call, const std::string& path, int64_t ret,
                const std::string& err) {
    // Workload temp dirs differ from run to run: compare their shape.
    std::string p = std::regex_replace(path, std::regex("scope-workload-[A-Za-z0-9]{6}"),
                                       "scope-workload-XXXXXX");
    return call + " " + p + " " + (ret < 0 ? err : "ok");
  };
  for (const auto& m : strace_lines(strace_trace("open,openat,creat"), re))
    want.insert(key(m[1], families::resolve_path(cwd, std::string(m[2])), std::stoll(m[3]), m[4]));
  ASSERT_GE(want.count("openat /nonexistent/scope-workload ENOENT"), 7u);
  ASSERT_EQ(want.count("creat /tmp/scope-workload-XXXXXX/created ok"), 1u);
  Trace t = trace({"--probes", "open", "--json", "--", kWorkload}, 60);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  std::multiset<std::string> got;
  for (const auto& e : t.where("event", "open"))
    got.insert(
        key(e.at("call"), e.at("path"), e.at("ret").get<int64_t>(), e.value("errno_name", "")));
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace scope::bpftest
