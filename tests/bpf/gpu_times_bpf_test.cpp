// Privileged tests: GPU times through scope's CUPTI injection library (src/inject/) and the
// stand-in CUPTI (testdata/standin/cupti.c), whose "GPU" runs one thing at a time: a kernel starts
// 4 us after its launch call began (or when the one before it ends) and runs 2000 + 10 ns per
// block of its grid; a copy runs 1000 ns + 1 ns per 10 bytes.
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "run_scope.h"

using nlohmann::json;
using namespace scope::bpftest;

namespace {

const std::string kDemo = kBin + "/cuda_demo";

constexpr int64_t kQueueNs = 4000;
constexpr int64_t kKernelBaseNs = 2000;
constexpr int64_t kKernelNsPerBlock = 10;

int64_t blocks(const json& launch) {
  const auto& g = launch.at("grid");
  return g[0].get<int64_t>() * g[1].get<int64_t>() * g[2].get<int64_t>();
}

std::vector<json> by(std::vector<json> rows, const char* key) {
  std::stable_sort(rows.begin(), rows.end(), [key](const json& a, const json& b) {
    return a.at(key).get<int64_t>() < b.at(key).get<int64_t>();
  });
  return rows;
}

const Trace& default_run() {
  static std::optional<Trace> t;
  if (!t) t = trace({"--json", "--", kDemo}, 120);
  return *t;
}

}  // namespace

// Every launch has its kernel's run on the GPU, joined by correlation id to its launching thread
// and call: on each thread, the n-th run (by correlation id, CUPTI's order of the calls) is the
// n-th launch, with the same kernel name, the duration its grid gives, and its start after the
// launch call.
TEST(GpuTimes, EveryLaunchHasItsRunOnTheGpu) {
  SCOPE_BPF_REQUIRE();
  const Trace& t = default_run();
  ASSERT_EQ(t.run.status, 0) << t.describe();
  std::map<int64_t, std::vector<json>> launches, runs;  // by tid
  for (const auto& l : t.where("op", "launch")) launches[l.at("tid").get<int64_t>()].push_back(l);
  for (const auto& r : t.where("op", "gpu_kernel")) runs[r.at("tid").get<int64_t>()].push_back(r);
  ASSERT_EQ(t.count("op", "launch"), 128u) << t.describe();
  ASSERT_EQ(t.count("op", "gpu_kernel"), 128u) << t.describe();
  ASSERT_EQ(runs.size(), launches.size());
  for (auto& [tid, of_thread] : launches) {
    auto ls = by(of_thread, "ts_ns");
    auto rs = by(runs[tid], "correlation_id");
    ASSERT_EQ(rs.size(), ls.size()) << "thread " << tid;
    for (size_t i = 0; i < rs.size(); ++i) {
      const json& l = ls[i];
      const json& r = rs[i];
      SCOPED_TRACE("launch " + l.dump() + "\nrun " + r.dump());
      EXPECT_EQ(r.at("call"), "cupti");
      EXPECT_EQ(r.at("kernel"), l.at("kernel"));
      EXPECT_EQ(r.at("pid"), l.at("pid"));
      EXPECT_EQ(r.at("duration_ns").get<int64_t>(), kKernelBaseNs + kKernelNsPerBlock * blocks(l));
      // At least the modelled queue delay from the call's start; the call began after the probe
      // saw it (the probe fires first), within the clocks' offset.
      int64_t queued = r.at("queue_ns").get<int64_t>();
      EXPECT_GE(queued, kQueueNs);
      EXPECT_GE(r.at("ts_ns").get<int64_t>() - queued, l.at("ts_ns").get<int64_t>() - 1'000'000);
      EXPECT_LT(r.at("ts_ns").get<int64_t>() - l.at("ts_ns").get<int64_t>(), 1'000'000'000);
    }
  }
  // Correlation ids are unique.
  std::set<int64_t> ids;
  for (const auto& r : t.where("op", "gpu_kernel"))
    ids.insert(r.at("correlation_id").get<int64_t>());
  EXPECT_EQ(ids.size(), 128u);
}

// Copies: one run on the GPU per copy call, the same bytes per direction.
TEST(GpuTimes, EveryCopyHasItsRunOnTheGpu) {
  SCOPE_BPF_REQUIRE();
  const Trace& t = default_run();
  ASSERT_EQ(t.run.status, 0) << t.describe();
  std::map<std::string, int64_t> call_bytes, gpu_bytes;
  size_t calls = 0;
  for (const auto& c : t.where("op", "memcpy")) {
    if (c.at("bytes").get<int64_t>() == 0) continue;  // nothing reaches the GPU
    ++calls;
    call_bytes[c.at("kind").get<std::string>()] += c.at("bytes").get<int64_t>();
  }
  auto runs = t.where("op", "gpu_memcpy");
  EXPECT_EQ(runs.size(), calls);
  for (const auto& r : runs) {
    gpu_bytes[r.at("kind").get<std::string>()] += r.at("bytes").get<int64_t>();
    EXPECT_EQ(r.at("duration_ns").get<int64_t>(), 1000 + r.at("bytes").get<int64_t>() / 10);
  }
  // The stand-in's generic cuMemcpy reports no direction (CUPTI's "unknown": default).
  int64_t call_total = 0, gpu_total = 0;
  for (const auto& [k, b] : call_bytes) call_total += b;
  for (const auto& [k, b] : gpu_bytes) gpu_total += b;
  EXPECT_EQ(gpu_total, call_total);
  EXPECT_EQ(gpu_bytes["htod"], call_bytes["htod"]);
  EXPECT_EQ(gpu_bytes["dtoh"], call_bytes["dtoh"]);
}

// The summary: top kernels by GPU time, the GPU's busy share, no problems.
TEST(GpuTimes, SummaryTopKernelsByGpuTime) {
  SCOPE_BPF_REQUIRE();
  const Trace& t = default_run();
  ASSERT_EQ(t.run.status, 0) << t.describe();
  const json& gpu = t.cuda().at("gpu");
  EXPECT_EQ(gpu.at("kernels"), 128) << gpu.dump();
  EXPECT_TRUE(gpu.at("problems").empty()) << gpu.dump();
  int64_t expect_ns = 0;
  std::map<std::string, int64_t> per_kernel;
  for (const auto& l : t.where("op", "launch")) {
    int64_t ns = kKernelBaseNs + kKernelNsPerBlock * blocks(l);
    expect_ns += ns;
    per_kernel[l.at("kernel").get<std::string>()] += ns;
  }
  EXPECT_EQ(gpu.at("kernel_ns").get<int64_t>(), expect_ns);
  ASSERT_EQ(gpu.at("top_kernels").size(), per_kernel.size());
  int64_t last = INT64_MAX;
  for (const auto& k : gpu.at("top_kernels")) {
    EXPECT_EQ(k.at("gpu_ns").get<int64_t>(), per_kernel[k.at("kernel").get<std::string>()]);
    EXPECT_LE(k.at("gpu_ns").get<int64_t>(), last);  // by GPU time, descending
    last = k.at("gpu_ns").get<int64_t>();
    EXPECT_GE(k.at("mean_queue_ns").get<int64_t>(), kQueueNs);
  }
  double share = gpu.at("busy_share").get<double>();
  EXPECT_GT(share, 0.0);
  EXPECT_LE(share, 1.0);
}

// The runtime linked into the executable (nvcc's default) loads the same driver, which loads the
// injection: the same runs. No libcudart to find CUPTI beside: the loader would find the toolkit's
// real one (which fails without a driver), so the stand-in is named.
TEST(GpuTimes, StaticRuntime) {
  SCOPE_BPF_REQUIRE();
  Trace t = trace({"--json", "--", kBin + "/cuda_demo_static"}, 120,
                  {{"SCOPE_CUPTI_LIBRARY", kLib + "/libcupti.so.13"}});
  ASSERT_EQ(t.run.status, 0) << t.describe();
  EXPECT_EQ(t.count("op", "gpu_kernel"), t.count("op", "launch")) << t.describe();
  EXPECT_EQ(t.count("op", "launch"), 128u);
}

// Another profiler holding CUPTI: said in the summary and on stderr, and the launches are all
// still there.
TEST(GpuTimes, AnotherProfilerHoldingCuptiIsSaid) {
  SCOPE_BPF_REQUIRE();
  Trace t = trace({"--json", "--", kDemo}, 120, {{"STANDIN_CUPTI_BUSY", "1"}});
  ASSERT_EQ(t.run.status, 0) << t.describe();
  EXPECT_EQ(t.count("op", "launch"), 128u);
  EXPECT_EQ(t.count("op", "gpu_kernel"), 0u);
  const json& problems = t.cuda().at("gpu").at("problems");
  ASSERT_EQ(problems.size(), 1u) << t.describe();
  EXPECT_NE(problems[0].at("message").get<std::string>().find("another profiler holds CUPTI"),
            std::string::npos)
      << problems.dump();
  EXPECT_NE(t.run.err.find("another profiler holds CUPTI"), std::string::npos) << t.describe();
}

// No libcupti at all: said, and nothing else changes.
TEST(GpuTimes, NoCuptiIsSaid) {
  SCOPE_BPF_REQUIRE();
  Trace t =
      trace({"--json", "--", kDemo}, 120, {{"SCOPE_CUPTI_LIBRARY", "/nonexistent/libcupti.so"}});
  ASSERT_EQ(t.run.status, 0) << t.describe();
  EXPECT_EQ(t.count("op", "launch"), 128u);
  EXPECT_EQ(t.count("op", "gpu_kernel"), 0u);
  const json& problems = t.cuda().at("gpu").at("problems");
  ASSERT_EQ(problems.size(), 1u) << t.describe();
  EXPECT_NE(problems[0].at("message").get<std::string>().find("no libcupti"), std::string::npos)
      << problems.dump();
}

// --no-gpu-times: the command gets no injection library; nothing to say about it either.
TEST(GpuTimes, TurnedOff) {
  SCOPE_BPF_REQUIRE();
  Trace t = trace({"--json", "--no-gpu-times", "--", kDemo}, 120);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  EXPECT_EQ(t.count("op", "launch"), 128u);
  EXPECT_EQ(t.count("op", "gpu_kernel"), 0u);
  EXPECT_EQ(t.count("op", "gpu_memcpy"), 0u);
  EXPECT_TRUE(t.cuda().at("gpu").at("problems").empty());
}
