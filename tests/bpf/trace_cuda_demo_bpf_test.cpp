// Privileged tests: `scope trace -- cuda_demo ...` with the real probes, exact
// operation counts, arguments, leaks, static runtimes, children, late dlopen. The calls only
// (--no-gpu-times): what the GPU ran is tests/bpf/gpu_times_bpf_test.cpp's.
#include <filesystem>
#include <map>
#include <set>

#include "run_scope.h"

using nlohmann::json;
using namespace scope::bpftest;

namespace {

const std::string kDemo = kBin + "/cuda_demo";

// One traced run of the default cuda_demo, shared by the tests that read it
// (every scope run pays for detaching ~100 uprobes).
const Trace& default_run() {
  static std::optional<Trace> t;
  if (!t) t = trace({"--json", "--no-gpu-times", "--", kDemo}, 120);
  return *t;
}

int64_t sum_ops(const json& expect) {
  return expect.at("launches").get<int64_t>() + expect.at("allocs").get<int64_t>() +
         expect.at("frees").get<int64_t>() + expect.at("memcpy").get<int64_t>() +
         expect.at("memset").get<int64_t>() + expect.at("syncs").get<int64_t>() +
         expect.at("graph_launches").get<int64_t>();
}

// summary.cuda.ops equals the demo's own `expect` line, and events == the sum.
void expect_ops_match(const Trace& t) {
  json ex = expect_line(t);
  ASSERT_TRUE(ex.is_object()) << "no `expect` line in stdout\n" << t.describe();
  EXPECT_EQ(t.op("launch"), ex["launches"].get<int64_t>());
  EXPECT_EQ(t.op("alloc"), ex["allocs"].get<int64_t>());
  EXPECT_EQ(t.op("free"), ex["frees"].get<int64_t>());
  EXPECT_EQ(t.op("memcpy"), ex["memcpy"].get<int64_t>());
  EXPECT_EQ(t.op("memset"), ex["memset"].get<int64_t>());
  EXPECT_EQ(t.op("sync"), ex["syncs"].get<int64_t>());
  EXPECT_EQ(t.op("graph_launch"), ex["graph_launches"].get<int64_t>());
  EXPECT_EQ(t.cuda().at("launches").get<int64_t>(), ex["launches"].get<int64_t>());
  EXPECT_EQ(t.summary.at("events").get<int64_t>(), sum_ops(ex));
  EXPECT_EQ(static_cast<int64_t>(t.events.size()), sum_ops(ex));
  EXPECT_EQ(t.summary.at("dropped").get<int64_t>(), 0);
}

}  // namespace

// 1. Exact counts, exactly once.
TEST(TraceCudaDemo, ExactCountsExactlyOnce) {
  SCOPE_BPF_REQUIRE();
  const Trace& t = default_run();
  ASSERT_FALSE(t.summary.is_null()) << t.describe();
  EXPECT_EQ(t.run.status, 0) << t.describe();
  EXPECT_EQ(t.summary.at("exit_status"), 0);
  EXPECT_EQ(t.bad_json_lines, 0) << "torn JSON lines in stdout";
  json ex = expect_line(t);
  ASSERT_TRUE(ex.is_object()) << t.describe();
  EXPECT_EQ(ex, json::parse(R"({"launches":128,"runtime_launches":120,"driver_launches":8,)"
                            R"("allocs":53,"frees":52,"memcpy":200,"memset":80,"syncs":45,)"
                            R"("graph_launches":4})"));
  expect_ops_match(t);
  EXPECT_EQ(t.op("launch"), 128);
  EXPECT_EQ(t.op("alloc"), 53);
  EXPECT_EQ(t.op("free"), 52);
  EXPECT_EQ(t.op("memcpy"), 200);
  EXPECT_EQ(t.op("memset"), 80);
  EXPECT_EQ(t.op("sync"), 45);
  EXPECT_EQ(t.op("graph_launch"), 4);
  EXPECT_EQ(t.summary.at("events"), 562);
  EXPECT_EQ(t.cuda().at("unnamed_launches"), 0);
  EXPECT_EQ(t.cuda().at("graph_launches"), 4);

  // Per call: each application call once, none of the driver calls the
  // runtime makes inside them.
  const std::map<std::string, size_t> per_call = {{"cudaMalloc", 41},
                                                  {"cudaMallocHost", 4},
                                                  {"cudaMallocManaged", 4},
                                                  {"cudaMallocAsync", 4},
                                                  {"cudaFree", 44},
                                                  {"cudaFreeHost", 4},
                                                  {"cudaFreeAsync", 4},
                                                  {"cudaMemcpy", 160},
                                                  {"cudaMemcpyAsync", 40},
                                                  {"cudaMemset", 40},
                                                  {"cudaMemsetAsync", 40},
                                                  {"cudaStreamSynchronize", 40},
                                                  {"cudaEventSynchronize", 4},
                                                  {"cudaDeviceSynchronize", 1},
                                                  {"cudaGraphLaunch", 4}};
  for (const auto& [call, n] : per_call) {
    EXPECT_EQ(t.count("call", call), n) << call;
    EXPECT_EQ(t.cuda().at("calls").value(call, 0), n) << call;
  }
  for (const char* driver_call :
       {"cuMemAlloc_v2", "cuMemFree_v2", "cuMemcpyHtoD_v2", "cuMemcpyDtoH_v2", "cuMemsetD8_v2",
        "cuStreamSynchronize", "cuCtxSynchronize", "cuMemAllocHost_v2", "cuMemAllocManaged",
        "cuGraphLaunch"}) {
    EXPECT_EQ(t.count("call", driver_call), 0u) << driver_call << " reported inside a runtime call";
  }
  // Launches: 40 per runtime kernel, 8 driver-direct (4 cuLaunchKernel + 4 cuLaunchKernelEx).
  EXPECT_EQ(t.count("kernel", "cublas_gemm()"), 8u);
  size_t launch_events = t.count("op", "launch");
  EXPECT_EQ(launch_events, 128u);
  // No event twice: (tid, ts_ns, call) is unique.
  std::set<std::tuple<int64_t, uint64_t, std::string>> seen;
  for (const auto& e : t.events) {
    EXPECT_EQ(e.at("event"), "cuda");
    EXPECT_EQ(e.at("comm"), "cuda_demo");
    EXPECT_TRUE(seen.emplace(e.at("tid").get<int64_t>(), e.at("ts_ns").get<uint64_t>(),
                             e.at("call").get<std::string>())
                    .second)
        << "duplicate event " << e.dump();
  }
}

// 2. Launch arguments, names, memcpy kinds, per-thread allocations, durations.
TEST(TraceCudaDemo, ArgumentsAndPerThreadValues) {
  SCOPE_BPF_REQUIRE();
  const Trace& t = default_run();
  ASSERT_FALSE(t.summary.is_null()) << t.describe();
  const int64_t pid = t.events.empty() ? 0 : t.events[0].at("pid").get<int64_t>();

  // vector_add: grid[0] is the thread index + 1, the same for every launch of a tid.
  std::map<int64_t, int64_t> grid_of_tid;
  size_t n_vector_add = 0;
  for (const auto& e : t.where("kernel", "vector_add(float*, float*, int)")) {
    ++n_vector_add;
    int64_t g0 = e.at("grid")[0].get<int64_t>();
    EXPECT_EQ(e.at("grid"), json({g0, 2, 1})) << e.dump();
    EXPECT_EQ(e.at("block"), json({128, 1, 1})) << e.dump();
    EXPECT_EQ(e.at("shared_mem").get<int64_t>(), 256 * g0) << e.dump();
    EXPECT_EQ(e.at("op"), "launch");
    EXPECT_EQ(e.value("ret", 0), 0);
    auto [it, fresh] = grid_of_tid.emplace(e.at("tid").get<int64_t>(), g0);
    EXPECT_EQ(it->second, g0) << "tid " << it->first << " launched vector_add with two grids";
  }
  EXPECT_EQ(n_vector_add, 40u);
  std::set<int64_t> grids;
  for (const auto& [tid, g] : grid_of_tid) grids.insert(g);
  EXPECT_EQ(grid_of_tid.size(), 4u);
  EXPECT_EQ(grids, (std::set<int64_t>{1, 2, 3, 4}));

  size_t n_scale = 0;
  for (const auto& e : t.where("kernel", "void scope_demo::scale<float>(float*, float, int)")) {
    ++n_scale;
    EXPECT_EQ(e.at("grid"), json({64, 1, 1}));
    EXPECT_EQ(e.at("block"), json({256, 1, 1}));
    EXPECT_EQ(e.at("shared_mem"), 0);
  }
  EXPECT_EQ(n_scale, 40u);
  size_t n_matmul = 0;
  for (const auto& e :
       t.where("kernel", "scope_demo::matmul_tile(float const*, float const*, float*, int)")) {
    ++n_matmul;
    EXPECT_EQ(e.at("grid"), json({8, 8, 1}));
    EXPECT_EQ(e.at("block"), json({32, 4, 1}));
    EXPECT_EQ(e.at("shared_mem"), 1024);
    std::string call = e.at("call");
    EXPECT_TRUE(call == "cudaLaunchKernelExC" || call == "cuLaunchKernelEx") << call;
  }
  EXPECT_EQ(n_matmul, 40u);
  size_t n_gemm = 0, n_gemm_ex = 0;
  for (const auto& e : t.where("kernel", "cublas_gemm()")) {
    if (e.at("call") == "cuLaunchKernel") {
      ++n_gemm;
      EXPECT_EQ(e.at("grid"), json({4, 4, 1}));
      EXPECT_EQ(e.at("block"), json({16, 16, 1}));
      EXPECT_EQ(e.at("shared_mem"), 512);
    } else {
      ++n_gemm_ex;
      EXPECT_EQ(e.at("call"), "cuLaunchKernelEx");
      EXPECT_EQ(e.at("grid"), json({2, 1, 1}));
      EXPECT_EQ(e.at("block"), json({64, 1, 1}));
    }
  }
  EXPECT_EQ(n_gemm, 4u);
  EXPECT_EQ(n_gemm_ex, 4u);
  // Every launch is one of the four kernels.
  EXPECT_EQ(n_vector_add + n_scale + n_matmul + n_gemm + n_gemm_ex, t.count("op", "launch"));
  std::map<std::string, int64_t> kernel_counts;
  for (const auto& k : t.cuda().at("kernels"))
    kernel_counts[k.at("kernel")] += k.at("count").get<int64_t>();
  EXPECT_EQ(kernel_counts,
            (std::map<std::string, int64_t>{
                {"vector_add(float*, float*, int)", 40},
                {"void scope_demo::scale<float>(float*, float, int)", 40},
                {"scope_demo::matmul_tile(float const*, float const*, float*, int)", 40},
                {"cublas_gemm()", 8}}));

  // Copies: 4 kinds of 4096-byte synchronous copies, 8192-byte async HtoD.
  std::map<std::string, int> kinds;
  for (const auto& e : t.where("call", "cudaMemcpy")) {
    EXPECT_EQ(e.at("bytes"), 4096) << e.dump();
    EXPECT_EQ(e.at("async"), false) << e.dump();
    EXPECT_EQ(e.at("ret"), 0);
    kinds[e.at("kind")]++;
  }
  EXPECT_EQ(kinds, (std::map<std::string, int>{
                       {"htod", 40}, {"dtoh", 40}, {"dtod", 40}, {"default", 40}}));
  size_t n_async = 0;
  for (const auto& e : t.where("call", "cudaMemcpyAsync")) {
    ++n_async;
    EXPECT_EQ(e.at("bytes"), 8192);
    EXPECT_EQ(e.at("async"), true);
    EXPECT_EQ(e.at("kind"), "htod");
  }
  EXPECT_EQ(n_async, 40u);

  // Allocations: cudaMalloc on worker t is (1 << 20) * (t + 1); the leak on the main thread.
  size_t n_worker_allocs = 0;
  for (const auto& e : t.where("call", "cudaMalloc")) {
    int64_t tid = e.at("tid");
    if (tid == pid) {
      EXPECT_EQ(e.at("bytes"), 3145728);
      continue;
    }
    ++n_worker_allocs;
    ASSERT_TRUE(grid_of_tid.count(tid)) << "cudaMalloc on a tid that launched no vector_add";
    EXPECT_EQ(e.at("bytes").get<int64_t>(), (int64_t{1} << 20) * grid_of_tid[tid]) << e.dump();
    EXPECT_EQ(e.at("mem"), "device");
  }
  EXPECT_EQ(n_worker_allocs, 40u);
  for (const auto& e : t.where("op", "alloc")) {
    EXPECT_GT(e.at("duration_ns").get<int64_t>(), 0) << e.dump();
    EXPECT_NE(e.at("ptr"), "0x0") << e.dump();
    EXPECT_EQ(e.at("ret"), 0) << e.dump();
  }
  // The stand-in sleeps 2 ms in every synchronisation.
  size_t n_sync = 0;
  for (const auto& e : t.where("op", "sync")) {
    ++n_sync;
    int64_t d = e.at("duration_ns");
    EXPECT_GE(d, 2000000) << e.dump();
    EXPECT_LT(d, 1000000000) << e.dump();
  }
  EXPECT_EQ(n_sync, 45u);
  for (const auto& s : t.cuda().at("sync"))
    EXPECT_GE(s.at("total_ns").get<int64_t>(), 2000000 * s.at("count").get<int64_t>());
}

// 3. Leaks: the one cudaMalloc the demo never frees, at the pointer it printed.
TEST(TraceCudaDemo, LeakReportedAtPrintedPointer) {
  SCOPE_BPF_REQUIRE();
  const Trace& t = default_run();
  ASSERT_FALSE(t.summary.is_null()) << t.describe();
  std::string printed;
  for (const auto& l : t.other_lines)
    if (l.rfind("leak ", 0) == 0) printed = l.substr(5, l.find(' ', 5) - 5);
  ASSERT_FALSE(printed.empty()) << "no `leak 0x...` line";
  const int64_t pid = t.events.at(0).at("pid");
  const json& leaks = t.cuda().at("leaks");
  ASSERT_EQ(leaks.size(), 1u) << leaks.dump();
  EXPECT_EQ(leaks[0].at("pid"), pid);
  EXPECT_EQ(leaks[0].at("bytes"), 3145728);
  EXPECT_EQ(leaks[0].at("ptr"), printed);
  EXPECT_EQ(leaks[0].at("call"), "cudaMalloc");
  EXPECT_EQ(leaks[0].at("mem"), "device");
  bool found_device = false;
  for (const auto& m : t.cuda().at("memory")) {
    if (m.at("mem") != "device") {
      EXPECT_EQ(m.at("live_bytes"), 0) << m.dump();
      continue;
    }
    found_device = true;
    EXPECT_EQ(m.at("pid"), pid);
    EXPECT_EQ(m.at("live_bytes"), 3145728);
    EXPECT_EQ(m.at("allocs"), 45);  // 40 cudaMalloc + 4 cudaMallocAsync + the leak
    EXPECT_EQ(m.at("frees"), 44);
    // Thread 3 alone holds 4 MiB; at most all four threads' buffers at once.
    EXPECT_GE(m.at("peak_bytes").get<int64_t>(), int64_t{4} << 20);
    EXPECT_LE(m.at("peak_bytes").get<int64_t>(), (int64_t{10} << 20) + 4 * (1 << 15));
  }
  EXPECT_TRUE(found_device);

  // --no-leak: nothing leaked.
  Trace nl = trace({"--json", "--no-gpu-times", "--", kDemo, "--threads", "1", "--iterations", "2",
                    "--no-leak"});
  ASSERT_FALSE(nl.summary.is_null()) << nl.describe();
  EXPECT_EQ(nl.run.status, 0);
  EXPECT_EQ(nl.cuda().at("leaks"), json::array()) << nl.describe();
  expect_ops_match(nl);
  for (const auto& m : nl.cuda().at("memory")) EXPECT_EQ(m.at("live_bytes"), 0) << m.dump();
}

// 4. The runtime linked in statically; and stripped (seen at the driver).
TEST(TraceCudaDemo, StaticRuntimeSameCounts) {
  SCOPE_BPF_REQUIRE();
  Trace st = trace({"--json", "--no-gpu-times", "--", kBin + "/cuda_demo_static"}, 120);
  ASSERT_FALSE(st.summary.is_null()) << st.describe();
  EXPECT_EQ(st.run.status, 0) << st.describe();
  expect_ops_match(st);
  EXPECT_EQ(st.cuda().at("unnamed_launches"), 0) << st.describe();
  EXPECT_EQ(st.count("call", "cudaMalloc"), 41u);
  EXPECT_EQ(st.count("call", "cuMemAlloc_v2"), 0u);
  EXPECT_EQ(st.count("kernel", "vector_add(float*, float*, int)"), 40u);

  Trace sp = trace({"--json", "--no-gpu-times", "--", kBin + "/cuda_demo_static_stripped"}, 120);
  ASSERT_FALSE(sp.summary.is_null()) << sp.describe();
  EXPECT_EQ(sp.run.status, 0) << sp.describe();
  expect_ops_match(sp);
  // No runtime symbols: every call is the driver call the runtime made.
  EXPECT_EQ(sp.count("call", "cudaMalloc"), 0u);
  EXPECT_GT(sp.count("call", "cuMemAlloc_v2"), 0u) << sp.describe();
  for (const auto& e : sp.events) EXPECT_EQ(e.at("call").get<std::string>().rfind("cu", 0), 0u);
}

// A runtime that finds libcuda.so.1 only through the executable's DT_RPATH (the loader's dlopen
// order: the caller's RPATH, then the executable's): scope finds the same driver ahead, so
// launches are probed once, at the driver (call cuLaunchKernel*), not at the runtime as well.
TEST(TraceCudaDemo, DriverFoundThroughTheExecutablesRpath) {
  SCOPE_BPF_REQUIRE();
  Trace t = trace({"--json", "--no-gpu-times", "--", kBin + "/cuda_demo_rpath", "--threads", "1",
                   "--iterations", "1"},
                  60);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  expect_ops_match(t);
  auto launches = t.where("op", "launch");
  ASSERT_FALSE(launches.empty()) << t.describe();
  for (const auto& e : launches)
    EXPECT_EQ(e.at("call").get<std::string>().rfind("cuLaunchKernel", 0), 0u) << e.dump();
  std::string driver = std::string(SCOPE_TESTDATA_DIR) + "/rpath/libcuda.so.1";
  bool attached = false;
  for (const auto& p : t.cuda().at("attached")) attached |= p == driver;
  EXPECT_TRUE(attached) << t.cuda().at("attached").dump();
}

// 5. nvcc 13's __cudaGetKernel + __cudaLaunchKernel path.
TEST(TraceCudaDemo, Nvcc13LaunchPath) {
  SCOPE_BPF_REQUIRE();
  Trace t = trace({"--json", "--no-gpu-times", "--", kDemo, "--nvcc13-launch", "--threads", "1",
                   "--iterations", "1", "--no-leak"});
  ASSERT_FALSE(t.summary.is_null()) << t.describe();
  EXPECT_EQ(t.run.status, 0) << t.describe();
  expect_ops_match(t);
  EXPECT_EQ(t.op("launch"), 5);  // 3 runtime + 2 driver-direct
  EXPECT_EQ(t.cuda().at("unnamed_launches"), 0) << t.describe();
  EXPECT_EQ(t.count("kernel", "vector_add(float*, float*, int)"), 1u);
  EXPECT_EQ(t.count("kernel", "void scope_demo::scale<float>(float*, float, int)"), 1u);
  EXPECT_EQ(t.count("kernel", "scope_demo::matmul_tile(float const*, float const*, float*, int)"),
            1u);
  EXPECT_EQ(t.count("kernel", "cublas_gemm()"), 2u);
  for (const auto& e : t.where("kernel", "vector_add(float*, float*, int)")) {
    EXPECT_EQ(e.at("grid"), json({1, 2, 1}));
    EXPECT_EQ(e.at("shared_mem"), 256);
  }
  EXPECT_EQ(t.cuda().at("leaks"), json::array());
  // __cudaGetKernel names the kernel from its host stub: the stub's file (the demo, as the
  // process maps it) and its symbol's value there, as nm shows it.
  const std::string demo = std::filesystem::canonical(kDemo).string();
  for (const auto& [kernel, stub] : std::map<std::string, std::string>{
           {"vector_add(float*, float*, int)", "_Z10vector_addPfS_i"},
           {"void scope_demo::scale<float>(float*, float, int)",
            "_ZN10scope_demo5scaleIfEEvPT_S1_i"}}) {
    auto value = nm_value(kDemo, stub);
    ASSERT_TRUE(value.has_value()) << "nm " << kDemo << ": no " << stub;
    for (const auto& e : t.where("kernel", kernel)) {
      EXPECT_EQ(e.value("kernel_file", ""), demo) << e.dump();
      EXPECT_EQ(e.value("kernel_offset", ""), hex(*value)) << e.dump();
    }
  }
  // Named only by the driver's calls: where they live is not known.
  for (const auto& e : t.where("kernel", "cublas_gemm()")) {
    EXPECT_FALSE(e.contains("kernel_file")) << e.dump();
    EXPECT_FALSE(e.contains("kernel_offset")) << e.dump();
  }
}

// 6. scope exits with the command's exit status.
TEST(TraceCudaDemo, ExitStatusPropagated) {
  SCOPE_BPF_REQUIRE();
  Trace t = trace({"--json", "--no-gpu-times", "--", kDemo, "--exit-code", "3", "--threads", "1",
                   "--iterations", "1"});
  EXPECT_EQ(t.run.status, 3) << t.describe();
  ASSERT_FALSE(t.summary.is_null()) << t.describe();
  EXPECT_EQ(t.summary.at("exit_status"), 3);
  expect_ops_match(t);
}

// 7. Children are followed: forking_demo execs cuda_demo in a child.
TEST(TraceCudaDemo, ChildrenFollowed) {
  SCOPE_BPF_REQUIRE();
  Trace t = trace({"--json", "--no-gpu-times", "--", kBin + "/forking_demo", kDemo});
  ASSERT_FALSE(t.summary.is_null()) << t.describe();
  EXPECT_EQ(t.run.status, 0) << t.describe();
  int64_t child = -1;
  for (const auto& l : t.other_lines)
    if (l.rfind("child ", 0) == 0) child = std::atoll(l.c_str() + 6);
  ASSERT_GT(child, 0) << "forking_demo printed no `child PID` line\n" << t.describe();
  ASSERT_FALSE(t.events.empty()) << t.describe();
  for (const auto& e : t.events) {
    EXPECT_EQ(e.at("pid"), child) << e.dump();
    EXPECT_EQ(e.at("comm"), "cuda_demo");
  }
  expect_ops_match(t);
  EXPECT_EQ(t.op("launch"), 5);
  EXPECT_EQ(t.op("alloc"), 4);
  EXPECT_EQ(t.op("free"), 4);
  EXPECT_EQ(t.op("memcpy"), 5);
  EXPECT_EQ(t.op("memset"), 2);
  EXPECT_EQ(t.op("sync"), 3);
  EXPECT_EQ(t.op("graph_launch"), 1);
  EXPECT_EQ(t.cuda().at("unnamed_launches"), 0);
}

// 8. A runtime dlopen()ed 200 ms after start: nothing missed.
TEST(TraceCudaDemo, LateDlopenNothingMissed) {
  SCOPE_BPF_REQUIRE();
  Trace t = trace({"--json", "--no-gpu-times", "--", kBin + "/late_dlopen", kLib});
  ASSERT_FALSE(t.summary.is_null()) << t.describe();
  EXPECT_EQ(t.run.status, 0) << t.describe();
  EXPECT_EQ(t.op("alloc"), 1) << t.describe();
  EXPECT_EQ(t.op("launch"), 1);
  EXPECT_EQ(t.op("sync"), 1);
  EXPECT_EQ(t.op("free"), 1);
  EXPECT_EQ(t.events.size(), 4u);
  EXPECT_EQ(t.summary.at("events"), 4);
  EXPECT_EQ(t.count("kernel", "late_kernel"), 1u) << t.describe();
  auto allocs = t.where("call", "cudaMalloc");
  ASSERT_EQ(allocs.size(), 1u);
  EXPECT_EQ(allocs[0].at("bytes"), 4096);
  EXPECT_EQ(t.count("call", "cudaDeviceSynchronize"), 1u);
  EXPECT_EQ(t.count("call", "cudaFree"), 1u);
  EXPECT_EQ(t.cuda().at("leaks"), json::array());
}
