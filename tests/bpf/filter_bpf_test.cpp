// The shared in-kernel filter: --cgroup picks the processes of one cgroup v2.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "probe/target_filter.h"
#include "run_scope.h"

namespace scope::bpftest {
namespace {

TEST(FilterBpf, CgroupSelectsItsProcessesOnly) {
  SCOPE_BPF_REQUIRE();
  std::string root = probe::cgroup2_mount();
  std::string name = "scope-test-" + std::to_string(getpid());
  std::string dir = root + "/" + name;
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0) << "cannot create cgroup " << dir;
  Process scope;
  ASSERT_TRUE(scope.start(
      {kScope, "trace", "--probes", "exec", "--json", "--cgroup", "/" + name, "--duration", "4"}));
  usleep(1500 * 1000);  // loaded and attached
  RunResult inside =
      run({"/bin/sh", "-c",
           "echo $$ > " + dir + "/cgroup.procs && exec /bin/sh -c 'sleep 0.7' scope-inside-cgroup"},
          10);
  RunResult outside = run({"/bin/echo", "scope-outside-cgroup"}, 10);
  EXPECT_EQ(inside.status, 0) << inside.err;
  EXPECT_EQ(outside.status, 0);
  RunResult r = scope.wait(30);
  rmdir(dir.c_str());
  ASSERT_FALSE(r.timed_out);
  Trace t = parse_trace(r);
  ASSERT_FALSE(t.summary.is_null()) << t.describe();
  int in = 0, out = 0;
  for (const auto& e : t.events) {
    if (e.value("event", "") != "exec") continue;
    std::string args = e.value("argv", nlohmann::json::array()).dump();
    if (args.find("scope-inside-cgroup") != std::string::npos) {
      ++in;
      // Enriched with who the process is (it lives long enough to be read).
      EXPECT_EQ(e.value("cgroup", ""), "/" + name) << e.dump();
      EXPECT_NE(e.value("cmdline", "").find("scope-inside-cgroup"), std::string::npos) << e.dump();
    }
    if (args.find("scope-outside-cgroup") != std::string::npos) ++out;
  }
  EXPECT_EQ(in, 1) << t.describe();
  EXPECT_EQ(out, 0) << t.describe();
}

TEST(FilterBpf, UnknownCgroupIsAClearError) {
  SCOPE_BPF_REQUIRE();
  RunResult r = run(
      {kScope, "trace", "--probes", "exec", "--cgroup", "/no-such-cgroup-xyz", "--", "true"}, 30);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("no cgroup"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace scope::bpftest
