// Privileged tests of the open family: `scope trace --probes open` on real
// commands; relative paths resolved against the cwd (across mount points) and
// against a dirfd, failures with their errno, openat2, and --open-skip-pseudo.
#include <unistd.h>

#include <algorithm>
#include <regex>
#include <set>

#include "run_scope.h"

using nlohmann::json;
using namespace scope::bpftest;

namespace {

const std::string kPython = "/usr/bin/python3";

Trace trace_open(const std::vector<std::string>& extra, const std::vector<std::string>& command,
                 const std::string& probes = "open") {
  std::vector<std::string> args = {"--probes", probes, "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back("--");
  args.insert(args.end(), command.begin(), command.end());
  return trace(args, 60);
}

std::vector<json> opens_of(const Trace& t, const std::string& path) {
  std::vector<json> out;
  for (const auto& e : t.events)
    if (e.value("event", "") == "open" && e.value("path", "") == path) out.push_back(e);
  return out;
}

std::string paths_of(const Trace& t) {
  std::string s;
  for (const auto& e : t.events) s += e.value("comm", "") + " " + e.value("path", "") + "\n";
  return s;
}

// The open family alone (on the syscalls:* tracepoints) and with the syscalls
// family (its handlers tail-called from raw_syscalls): the same events.
class OpenBpfProbes : public ::testing::TestWithParam<std::string> {};

}  // namespace

INSTANTIATE_TEST_SUITE_P(AloneAndDispatched, OpenBpfProbes,
                         ::testing::Values("open", "open,syscalls"), [](const auto& info) {
                           return info.param == "open" ? "Alone" : "UnderSyscalls";
                         });

// A relative path in another cwd, with "." and "..", resolved to the absolute
// path; a failed open with its errno; the shell's own redirection.
TEST_P(OpenBpfProbes, RelativePathsAgainstCwdAndFailures) {
  SCOPE_FAMILY_REQUIRE("open");
  Trace t = trace_open({},
                       {"/bin/sh", "-c",
                        "cd /usr/share && cat "
                        "./zoneinfo/../debconf/../doc/../dict/../../share/base-files/motd "
                        ">/dev/null 2>&1; cat nonexistent_file_xyz 2>/dev/null; true"},
                       GetParam());
  ASSERT_FALSE(t.summary.is_null()) << t.describe();
  EXPECT_EQ(t.run.status, 0) << t.describe();
  EXPECT_EQ(t.bad_json_lines, 0);

  auto motd = opens_of(t, "/usr/share/base-files/motd");
  ASSERT_EQ(motd.size(), 1u) << paths_of(t);
  EXPECT_EQ(motd[0]["comm"], "cat");
  EXPECT_GE(motd[0]["ret"].get<int>(), 3);
  EXPECT_EQ(motd[0]["flags_str"], "O_RDONLY");
  EXPECT_EQ(motd[0]["call"], "openat");

  auto missing = opens_of(t, "/usr/share/nonexistent_file_xyz");
  ASSERT_EQ(missing.size(), 1u) << paths_of(t);
  EXPECT_EQ(missing[0]["ret"], -2);
  EXPECT_EQ(missing[0]["errno_name"], "ENOENT");
  EXPECT_EQ(missing[0]["comm"], "cat");

  // dash's ">/dev/null 2>&1" and "2>/dev/null": two opens of /dev/null by sh.
  auto devnull = opens_of(t, "/dev/null");
  ASSERT_EQ(devnull.size(), 2u) << paths_of(t);
  for (const auto& e : devnull) {
    EXPECT_EQ(e["comm"], "sh");
    EXPECT_EQ(e["flags_str"], "O_WRONLY|O_CREAT|O_TRUNC");
    EXPECT_GE(e["ret"].get<int>(), 0);
  }

  // Only the command's processes; every event well formed.
  std::set<std::string> comms;
  std::map<std::string, int64_t> per_path;
  int64_t failed = 0;
  for (const auto& e : t.events) {
    ++per_path[e["path"].get<std::string>()];
    ASSERT_EQ(e["event"], "open");
    comms.insert(e["comm"].get<std::string>());
    EXPECT_EQ(e["path"].get<std::string>()[0], '/') << e.dump();
    EXPECT_TRUE(e.contains("ts_ns") && e.contains("tid") && e.contains("flags"));
    if (e["ret"].get<int>() < 0) ++failed;
  }
  EXPECT_EQ(comms, (std::set<std::string>{"sh", "cat"}));
  const json& s = t.summary.at("open");
  EXPECT_EQ(s.at("opens").get<size_t>(), t.events.size());
  EXPECT_EQ(s.at("failed").get<int64_t>(), failed);
  EXPECT_EQ(s.at("skipped_pseudo"), 0);
  bool enoent = false;
  for (const auto& e : s.at("errors"))
    if (e.at("errno_name") == "ENOENT") enoent = e.at("count").get<int64_t>() >= 1;
  EXPECT_TRUE(enoent) << s.dump();
  // top_paths: the ten most opened, with the counts the events show.
  int64_t most = 0;
  for (const auto& [path, n] : per_path) most = std::max(most, n);
  ASSERT_EQ(s.at("top_paths").size(), std::min<size_t>(10, per_path.size())) << s.dump();
  EXPECT_EQ(s.at("top_paths")[0].at("count").get<int64_t>(), most);
  for (const auto& p : s.at("top_paths"))
    EXPECT_EQ(p.at("count").get<int64_t>(), per_path[p.at("path").get<std::string>()]) << p.dump();
  EXPECT_EQ(t.summary.at("dropped"), 0);
  if (GetParam() == "open") {
    EXPECT_EQ(t.summary.at("events").get<size_t>(), t.events.size());
  }
}

// A cwd below stacked mounts (/dev/shm is a tmpfs on a devtmpfs) and a cwd
// inside /proc: the walk crosses each mount point.
TEST(OpenBpf, RelativePathsAcrossMounts) {
  SCOPE_FAMILY_REQUIRE("open");
  std::string base = "/dev/shm";
  if (!file_exists(base)) base = "/tmp";
  std::string dir = base + "/scope-open-test-" + std::to_string(getpid());
  ASSERT_EQ(run({"/bin/mkdir", "-p", dir + "/sub"}).status, 0);
  ASSERT_EQ(run({"/bin/sh", "-c", "echo hi > " + dir + "/file"}).status, 0);
  Trace t = trace_open({}, {"/bin/sh", "-c",
                            "cd " + dir +
                                "/sub && cat ../file >/dev/null && cd /proc/self && "
                                "cat status >/dev/null"});
  run({"/bin/rm", "-rf", dir});
  ASSERT_FALSE(t.summary.is_null()) << t.describe();
  EXPECT_EQ(t.run.status, 0) << t.describe();
  auto file = opens_of(t, dir + "/file");
  ASSERT_EQ(file.size(), 1u) << paths_of(t);
  EXPECT_GE(file[0]["ret"].get<int>(), 0);

  // /proc/self resolved at chdir: the shell's own /proc/<pid>.
  std::set<int> sh_pids;
  for (const auto& e : t.events)
    if (e["comm"] == "sh") sh_pids.insert(e["pid"].get<int>());
  ASSERT_EQ(sh_pids.size(), 1u);
  auto status = opens_of(t, "/proc/" + std::to_string(*sh_pids.begin()) + "/status");
  ASSERT_EQ(status.size(), 1u) << paths_of(t);
  EXPECT_EQ(status[0]["comm"], "cat");
  EXPECT_GE(status[0]["ret"].get<int>(), 0);
}

// openat with a dirfd, and openat2 with one (through syscall(2)).
TEST_P(OpenBpfProbes, DirfdResolvedAgainstItsDirectory) {
  SCOPE_FAMILY_REQUIRE("open");
  if (!file_exists(kPython)) GTEST_SKIP() << "needs " << kPython;
  const std::string script =
      "import os, ctypes\n"
      "d = os.open('/etc', os.O_RDONLY | os.O_DIRECTORY)\n"
      "os.open('hostname', os.O_RDONLY, dir_fd=d)\n"
      "libc = ctypes.CDLL(None, use_errno=True)\n"
      "how = (ctypes.c_uint64 * 3)(os.O_RDONLY | os.O_CLOEXEC, 0, 0)\n"
      "fd = libc.syscall(437, d, b'../etc/./passwd', ctypes.byref(how), 24)\n"
      "assert fd >= 0, ctypes.get_errno()\n";
  Trace t = trace_open({}, {kPython, "-S", "-c", script}, GetParam());
  ASSERT_FALSE(t.summary.is_null()) << t.describe();
  EXPECT_EQ(t.run.status, 0) << t.describe();

  auto hostname = opens_of(t, "/etc/hostname");
  ASSERT_EQ(hostname.size(), 1u) << paths_of(t);
  EXPECT_EQ(hostname[0]["call"], "openat");
  EXPECT_GE(hostname[0]["ret"].get<int>(), 0);
  EXPECT_EQ(hostname[0]["flags_str"], "O_RDONLY|O_CLOEXEC");  // Python adds O_CLOEXEC

  auto passwd = opens_of(t, "/etc/passwd");
  ASSERT_EQ(passwd.size(), 1u) << paths_of(t);
  EXPECT_EQ(passwd[0]["call"], "openat2");
  EXPECT_EQ(passwd[0]["flags_str"], "O_RDONLY|O_CLOEXEC");
  EXPECT_GE(passwd[0]["ret"].get<int>(), 0);
}

// --open-skip-pseudo: opens under /proc and /sys (absolute or relative) are
// counted, not printed; the same run without the flag prints exactly as many.
TEST(OpenBpf, SkipPseudoCountsInsteadOfPrinting) {
  SCOPE_FAMILY_REQUIRE("open");
  std::vector<std::string> cmd = {
      "/bin/sh", "-c",
      "cat /proc/self/status /sys/kernel/btf/vmlinux /etc/hostname >/dev/null; "
      "cd /proc && cat ./self/stat >/dev/null"};
  Trace all = trace_open({}, cmd);
  Trace skipped = trace_open({"--open-skip-pseudo"}, cmd);
  ASSERT_FALSE(all.summary.is_null()) << all.describe();
  ASSERT_FALSE(skipped.summary.is_null()) << skipped.describe();

  int64_t pseudo = 0;
  for (const auto& e : all.events) {
    std::string p = e["path"];
    if (p.rfind("/proc/", 0) == 0 || p.rfind("/sys/", 0) == 0) ++pseudo;
  }
  EXPECT_GE(pseudo, 3) << paths_of(all);
  EXPECT_EQ(all.summary.at("open").at("skipped_pseudo"), 0);
  for (const auto& e : skipped.events) {
    std::string p = e["path"];
    EXPECT_TRUE(p.rfind("/proc/", 0) != 0 && p.rfind("/sys/", 0) != 0) << p;
  }
  EXPECT_EQ(skipped.summary.at("open").at("skipped_pseudo").get<int64_t>(), pseudo);
  EXPECT_EQ(skipped.events.size() + static_cast<size_t>(pseudo), all.events.size());
  EXPECT_EQ(opens_of(skipped, "/etc/hostname").size(), 1u);
}

// The human output: one line per open and the summary tables.
// creat(2) is an open (O_WRONLY|O_CREAT|O_TRUNC): tar opens its archive with it.
TEST(OpenBpf, CreatIsAnOpen) {
  SCOPE_FAMILY_REQUIRE("open");
  Trace t = trace({"--probes", "open", "--json", "--", kBin + "/syscall_workload"}, 60);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  auto creats = t.where("call", "creat");
  ASSERT_EQ(creats.size(), 1u) << t.describe();
  EXPECT_EQ(creats[0].at("flags_str"), "O_WRONLY|O_CREAT|O_TRUNC") << creats[0].dump();
  EXPECT_GE(creats[0].at("ret").get<int64_t>(), 0) << creats[0].dump();
  std::string path = creats[0].at("path");
  EXPECT_EQ(path.rfind("/tmp/scope-workload-", 0), 0u) << path;
  EXPECT_EQ(path.substr(path.size() - 8), "/created") << path;
}

TEST(OpenBpf, HumanOutput) {
  SCOPE_FAMILY_REQUIRE("open");
  RunResult r =
      run_scope({"--probes", "open", "--", "/bin/cat", "/etc/hostname", "/nonexistent_q"});
  EXPECT_EQ(r.status, 1) << r.err;  // cat's own status
  std::regex ok(R"(^ +\d+\.\d{6} cat\[\d+/\d+\] +openat +/etc/hostname O_RDONLY ret=\d+$)");
  std::regex bad(
      R"(^ +\d+\.\d{6} cat\[\d+/\d+\] +openat +/nonexistent_q O_RDONLY ret=-2 \(ENOENT\)$)");
  bool saw_ok = false, saw_bad = false;
  for (const auto& line : lines_of(r.out)) {
    saw_ok |= std::regex_match(line, ok);
    saw_bad |= std::regex_match(line, bad);
  }
  EXPECT_TRUE(saw_ok) << r.out;
  EXPECT_TRUE(saw_bad) << r.out;
  std::string all = r.out + r.err;
  EXPECT_NE(all.find("top paths"), std::string::npos) << all;
  EXPECT_NE(all.find("ENOENT"), std::string::npos) << all;
}
