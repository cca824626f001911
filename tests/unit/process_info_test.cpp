#include "discover/process_info.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace scope::discover {
namespace {

const std::string kId = "4f1c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8";

TEST(ProcessInfo, ContainerIdFromCgroupPaths) {
  EXPECT_EQ(container_id_from_cgroup("/system.slice/docker-" + kId + ".scope"), kId);
  EXPECT_EQ(container_id_from_cgroup("/kubepods.slice/kubepods-burstable.slice/cri-containerd-" +
                                     kId + ".scope"),
            kId);
  EXPECT_EQ(container_id_from_cgroup("/docker/" + kId), kId);
  EXPECT_EQ(container_id_from_cgroup("/machine.slice/libpod-" + kId + ".scope/container"), kId);
  EXPECT_EQ(container_id_from_cgroup("/user.slice/user-1000.slice/session-2.scope"), "");
  EXPECT_EQ(container_id_from_cgroup("/docker/" + kId.substr(1)), "");  // 63 digits
  EXPECT_EQ(container_id_from_cgroup(""), "");
}

TEST(ProcessInfo, CmdlineAndCgroupText) {
  EXPECT_EQ(join_cmdline(std::string("python3\0train.py\0--lr\0", 22)), "python3 train.py --lr");
  EXPECT_EQ(join_cmdline(std::string("abcdef", 6), 3), "abc");
  EXPECT_EQ(cgroup_v2_path("12:pids:/a\n0::/system.slice/ollama.service\n"),
            "/system.slice/ollama.service");
  EXPECT_EQ(cgroup_v2_path("3:cpu:/x\n"), "");
}

TEST(ProcessInfo, ReadsThisProcessAndNotAMissingOne) {
  ProcessInfoCache cache;
  const ProcessInfo* me = cache.lookup(static_cast<uint32_t>(getpid()));
  ASSERT_NE(me, nullptr);
  EXPECT_NE(me->cmdline.find("scope_unit_tests"), std::string::npos) << me->cmdline;
  EXPECT_EQ(cache.lookup(0x3fffffff), nullptr);
}

}  // namespace
}  // namespace scope::discover
