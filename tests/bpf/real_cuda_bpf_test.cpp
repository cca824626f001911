// Privileged tests against nvcc-built programs on the real libcudart (no GPU
// needed: every call fails with 35, and is still traced).
#include "run_scope.h"

using nlohmann::json;
using namespace scope::bpftest;

namespace {

void check_real_cuda(const std::string& exe) {
  Trace t = trace({"--json", "--", exe}, 90);
  ASSERT_FALSE(t.summary.is_null()) << t.describe();
  EXPECT_EQ(t.run.status, 0) << t.describe();
  auto mallocs = t.where("call", "cudaMalloc");
  ASSERT_EQ(mallocs.size(), 1u) << t.describe();
  EXPECT_EQ(mallocs[0].at("bytes"), 8192);
  bool have_gpu = mallocs[0].at("ret") == 0;
  if (!have_gpu) {
    EXPECT_EQ(mallocs[0].at("ret"), 35);
  }
  auto copies = t.where("call", "cudaMemcpy");
  ASSERT_EQ(copies.size(), 3u) << t.describe();
  EXPECT_EQ(copies[0].at("kind"), "htod");
  EXPECT_EQ(copies[1].at("kind"), "htod");
  EXPECT_EQ(copies[2].at("kind"), "dtoh");
  for (const auto& c : copies) EXPECT_EQ(c.at("bytes"), 4096);
  auto launches = t.where("op", "launch");
  ASSERT_EQ(launches.size(), 1u) << t.describe();
  const json& l = launches[0];
  ASSERT_TRUE(l.at("kernel").is_string()) << "saxpy launch unnamed: " << l.dump();
  EXPECT_NE(l.at("kernel").get<std::string>().find("saxpy"), std::string::npos) << l.dump();
  EXPECT_EQ(l.at("grid"), json({4, 1, 1}));
  EXPECT_EQ(l.at("block"), json({256, 1, 1}));
  EXPECT_EQ(t.count("call", "cudaDeviceSynchronize"), 1u);
  EXPECT_EQ(t.count("call", "cudaFree"), 1u);
  EXPECT_EQ(t.events.size(), 7u);
  EXPECT_EQ(t.summary.at("events"), 7);
  EXPECT_EQ(t.op("memcpy"), 3);
  EXPECT_EQ(t.op("alloc"), 1);
  EXPECT_EQ(t.op("launch"), 1);
  EXPECT_EQ(t.op("sync"), 1);
  EXPECT_EQ(t.op("free"), 1);
  EXPECT_EQ(t.cuda().at("unnamed_launches"), 0);
  EXPECT_EQ(t.summary.at("dropped"), 0);
}

}  // namespace

// 14. Real libcudart, shared and static.
TEST(TraceRealCuda, SharedAndStaticRuntime) {
  SCOPE_BPF_REQUIRE();
  if (!file_exists(kBin + "/real_cuda_shared") || !file_exists(kBin + "/real_cuda_static")) {
    std::printf("skipped: real_cuda fixtures not built (no nvcc)\n");
    GTEST_SKIP() << "real_cuda fixtures not built (no nvcc)";
  }
  {
    SCOPED_TRACE("real_cuda_shared");
    check_real_cuda(kBin + "/real_cuda_shared");
  }
  {
    SCOPED_TRACE("real_cuda_static");
    check_real_cuda(kBin + "/real_cuda_static");
  }
}
