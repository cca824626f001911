#include "families/cuda_accounting.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace scope {
namespace {

uint64_t g_ts = 1'000'000;

CudaEvent Ev(uint32_t pid, uint16_t call, uint8_t op) {
  CudaEvent e;
  e.ts_ns = ++g_ts;
  e.pid = pid;
  e.tid = pid;
  e.comm = "app";
  e.call = call;
  e.op = op;
  return e;
}

CudaEvent Alloc(uint32_t pid, uint64_t ptr, uint64_t bytes, std::optional<int32_t> ret = 0,
                uint16_t call = CALL_cudaMalloc, uint8_t mem = CUDA_MEM_DEVICE) {
  CudaEvent e = Ev(pid, call, CUDA_OP_ALLOC);
  e.ptr = ptr;
  e.bytes = bytes;
  e.ret = ret;
  e.mem = mem;
  e.duration_ns = 100;
  return e;
}

CudaEvent Free(uint32_t pid, uint64_t ptr, uint16_t call = CALL_cudaFree,
               uint8_t mem = CUDA_MEM_DEVICE) {
  CudaEvent e = Ev(pid, call, CUDA_OP_FREE);
  e.ptr = ptr;
  e.mem = mem;
  e.ret = 0;
  return e;
}

CudaEvent Launch(uint32_t pid, const std::string& kernel, uint32_t gx = 1) {
  CudaEvent e = Ev(pid, CALL_cudaLaunchKernel, CUDA_OP_LAUNCH);
  e.kernel = kernel;
  e.handle = 0x1234;
  e.grid = {gx, 1, 1};
  e.block = {128, 1, 1};
  return e;
}

CudaEvent Sync(uint32_t pid, uint16_t call, uint64_t ns) {
  CudaEvent e = Ev(pid, call, CUDA_OP_SYNC);
  e.duration_ns = ns;
  return e;
}

CudaEvent Copy(uint32_t pid, uint8_t kind, uint64_t bytes, std::optional<uint64_t> ns) {
  CudaEvent e = Ev(pid, CALL_cudaMemcpy, CUDA_OP_MEMCPY);
  e.kind = kind;
  e.bytes = bytes;
  e.duration_ns = ns;
  return e;
}

class CudaAccountingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // pid 100: device allocations, a failed one, an unmatched free, free(NULL), host memory.
    a_.add(Alloc(100, 0xa000, 1000));
    a_.add(Alloc(100, 0xb000, 2000));
    a_.add(Free(100, 0xa000));
    a_.add(Alloc(100, 0xc000, 500));
    a_.add(Alloc(100, 0, 4096, 2));  // cudaErrorMemoryAllocation
    a_.add(Free(100, 0xdead));       // allocated before tracing began
    a_.add(Free(100, 0));            // ignored
    a_.add(Alloc(100, 0xf000, 64, 0, CALL_cudaMallocHost, CUDA_MEM_HOST));
    // pid 200: the same pointer value as pid 100, through the driver; managed memory.
    a_.add(Alloc(200, 0xa000, 300, 0, CALL_cuMemAlloc_v2));
    a_.add(Free(200, 0xa000, CALL_cuMemFree_v2));
    a_.add(Alloc(200, 0xd000, 700, 0, CALL_cuMemAlloc_v2));
    a_.add(Alloc(200, 0xe000, 128, 0, CALL_cudaMallocManaged, CUDA_MEM_MANAGED));

    for (int i = 0; i < 3; ++i) a_.add(Launch(100, "b_kernel", 2));
    a_.add(Launch(100, "a_kernel"));
    a_.add(Launch(200, "c_kernel", 7));
    a_.add(Launch(200, "c_kernel", 9));
    a_.add(Launch(200, "c_kernel", 9));
    a_.add(Launch(200, ""));
    a_.add(Launch(200, ""));

    a_.add(Sync(100, CALL_cudaDeviceSynchronize, 1000));
    a_.add(Sync(100, CALL_cudaDeviceSynchronize, 3000));
    a_.add(Sync(200, CALL_cudaStreamSynchronize, 5000));

    a_.add(Copy(100, CUDA_COPY_HTOD, 4096, 10));
    a_.add(Copy(100, CUDA_COPY_HTOD, 100, std::nullopt));
    a_.add(Copy(100, CUDA_COPY_DTOH, 8, 7));

    CudaEvent ms = Ev(100, CALL_cudaMemset, CUDA_OP_MEMSET);
    ms.bytes = 64;
    a_.add(ms);
    a_.add(ms);
    a_.add(Ev(100, CALL_cudaGraphLaunch, CUDA_OP_GRAPH_LAUNCH));
  }

  CudaAccounting a_;
};

TEST_F(CudaAccountingTest, DeviceMemoryPerPid) {
  CudaMemoryStats p100 = a_.memory(100, CUDA_MEM_DEVICE);
  EXPECT_EQ(p100.live_bytes, 2500u);
  EXPECT_EQ(p100.peak_bytes, 3000u);
  EXPECT_EQ(p100.allocs, 3u);
  EXPECT_EQ(p100.frees, 1u);
  EXPECT_EQ(p100.failed_allocs, 1u);
  EXPECT_EQ(p100.unmatched_frees, 1u);
  EXPECT_EQ(p100.reused_ptrs, 0u);

  CudaMemoryStats p200 = a_.memory(200, CUDA_MEM_DEVICE);
  EXPECT_EQ(p200.live_bytes, 700u);
  EXPECT_EQ(p200.peak_bytes, 700u);
  EXPECT_EQ(p200.allocs, 2u);
  EXPECT_EQ(p200.frees, 1u);
  EXPECT_EQ(p200.failed_allocs, 0u);
  EXPECT_EQ(p200.unmatched_frees, 0u);
}

TEST_F(CudaAccountingTest, MemoryKindsSeparate) {
  EXPECT_EQ(a_.memory(100, CUDA_MEM_HOST).live_bytes, 64u);
  EXPECT_EQ(a_.memory(200, CUDA_MEM_MANAGED).live_bytes, 128u);
  EXPECT_EQ(a_.memory(200, CUDA_MEM_HOST).live_bytes, 0u);
  std::vector<CudaMemoryStats> all = a_.memory();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].pid, 100u);
  EXPECT_EQ(all[0].mem, CUDA_MEM_DEVICE);
  EXPECT_EQ(all[1].mem, CUDA_MEM_HOST);
  EXPECT_EQ(all[2].pid, 200u);
  EXPECT_EQ(all[3].mem, CUDA_MEM_MANAGED);
  EXPECT_EQ(a_.live_allocations(), 5u);
}

TEST_F(CudaAccountingTest, ExitThenTraceEndLeaks) {
  EXPECT_TRUE(a_.leaks().empty());
  a_.process_exit(100);
  ASSERT_EQ(a_.leaks().size(), 3u);
  EXPECT_EQ(a_.leaks()[0].ptr, 0xb000u);
  EXPECT_EQ(a_.leaks()[0].bytes, 2000u);
  EXPECT_EQ(a_.leaks()[0].pid, 100u);
  EXPECT_EQ(a_.leaks()[0].call, CALL_cudaMalloc);
  EXPECT_EQ(a_.leaks()[0].reason, "exit");
  EXPECT_EQ(a_.leaks()[1].ptr, 0xc000u);
  EXPECT_EQ(a_.leaks()[1].bytes, 500u);
  EXPECT_EQ(a_.leaks()[2].ptr, 0xf000u);
  EXPECT_EQ(a_.leaks()[2].mem, CUDA_MEM_HOST);
  EXPECT_EQ(a_.leaks()[2].call, CALL_cudaMallocHost);
  EXPECT_EQ(a_.live_allocations(), 2u);

  a_.finish();
  ASSERT_EQ(a_.leaks().size(), 5u);
  EXPECT_EQ(a_.leaks()[3].pid, 200u);
  EXPECT_EQ(a_.leaks()[3].ptr, 0xd000u);
  EXPECT_EQ(a_.leaks()[3].bytes, 700u);
  EXPECT_EQ(a_.leaks()[3].call, CALL_cuMemAlloc_v2);
  EXPECT_EQ(a_.leaks()[3].reason, "trace_end");
  EXPECT_EQ(a_.leaks()[4].ptr, 0xe000u);
  EXPECT_EQ(a_.leaks()[4].mem, CUDA_MEM_MANAGED);
  EXPECT_EQ(a_.leaks()[4].reason, "trace_end");
  EXPECT_EQ(a_.live_allocations(), 0u);

  a_.finish();  // nothing left: no duplicates
  EXPECT_EQ(a_.leaks().size(), 5u);
}

TEST_F(CudaAccountingTest, FreeAfterExitIsUnmatched) {
  a_.process_exit(100);
  a_.add(Free(100, 0xb000));
  EXPECT_EQ(a_.memory(100).unmatched_frees, 2u);
  EXPECT_EQ(a_.memory(100).frees, 1u);
}

TEST_F(CudaAccountingTest, KernelsSortedAndUnnamedCounted) {
  EXPECT_EQ(a_.launches(), 9u);
  EXPECT_EQ(a_.unnamed_launches(), 2u);
  std::vector<CudaKernelStats> k = a_.kernels();
  ASSERT_EQ(k.size(), 3u);
  EXPECT_EQ(k[0].kernel, "b_kernel");  // tie with c_kernel broken by name
  EXPECT_EQ(k[0].count, 3u);
  EXPECT_EQ(k[0].grid, (std::array<uint32_t, 3>{2, 1, 1}));
  EXPECT_EQ(k[1].kernel, "c_kernel");
  EXPECT_EQ(k[1].count, 3u);
  EXPECT_EQ(k[1].grid, (std::array<uint32_t, 3>{7, 1, 1}));  // the first launch's
  EXPECT_EQ(k[1].block, (std::array<uint32_t, 3>{128, 1, 1}));
  EXPECT_EQ(k[2].kernel, "a_kernel");
  EXPECT_EQ(k[2].count, 1u);
}

TEST_F(CudaAccountingTest, OpsAndCalls) {
  EXPECT_EQ(a_.ops().at("launch"), 9u);
  EXPECT_EQ(a_.ops().at("alloc"), 8u);
  EXPECT_EQ(a_.ops().at("free"), 4u);
  EXPECT_EQ(a_.ops().at("sync"), 3u);
  EXPECT_EQ(a_.ops().at("memcpy"), 3u);
  EXPECT_EQ(a_.ops().at("memset"), 2u);
  EXPECT_EQ(a_.ops().at("graph_launch"), 1u);
  EXPECT_EQ(a_.ops().size(), 7u);
  EXPECT_EQ(a_.calls().at("cudaMalloc"), 4u);
  EXPECT_EQ(a_.calls().at("cuMemAlloc_v2"), 2u);
  EXPECT_EQ(a_.calls().at("cudaFree"), 3u);
  EXPECT_EQ(a_.calls().at("cudaLaunchKernel"), 9u);
  EXPECT_EQ(a_.graph_launches(), 1u);
}

TEST_F(CudaAccountingTest, SyncCopiesSets) {
  std::vector<CudaSyncStats> s = a_.sync_stats();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].call, CALL_cudaStreamSynchronize);
  EXPECT_EQ(s[0].count, 1u);
  EXPECT_EQ(s[0].total_ns, 5000u);
  EXPECT_EQ(s[1].call, CALL_cudaDeviceSynchronize);
  EXPECT_EQ(s[1].count, 2u);
  EXPECT_EQ(s[1].total_ns, 4000u);
  EXPECT_EQ(s[1].max_ns, 3000u);

  std::vector<CudaCopyStats> c = a_.memcpy_stats();
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].kind, CUDA_COPY_HTOD);
  EXPECT_EQ(c[0].count, 2u);
  EXPECT_EQ(c[0].bytes, 4196u);
  EXPECT_EQ(c[0].total_ns, 10u);
  EXPECT_EQ(c[1].kind, CUDA_COPY_DTOH);
  EXPECT_EQ(c[1].bytes, 8u);
  EXPECT_EQ(c[1].total_ns, 7u);

  EXPECT_EQ(a_.memset_stats().count, 2u);
  EXPECT_EQ(a_.memset_stats().bytes, 128u);
}

TEST(CudaAccounting, ReusedLivePtrReplacesEntry) {
  CudaAccounting a;
  a.add(Alloc(1, 0x10, 100));
  a.add(Alloc(1, 0x10, 40));  // the old allocation's free was never seen
  CudaMemoryStats m = a.memory(1);
  EXPECT_EQ(m.reused_ptrs, 1u);
  EXPECT_EQ(m.unmatched_frees, 0u);
  EXPECT_EQ(m.allocs, 2u);
  EXPECT_EQ(m.live_bytes, 40u);
  EXPECT_EQ(m.peak_bytes, 100u);
  a.add(Free(1, 0x10));
  EXPECT_EQ(a.memory(1).live_bytes, 0u);
  EXPECT_EQ(a.memory(1).frees, 1u);
  a.finish();
  EXPECT_TRUE(a.leaks().empty());
}

TEST(CudaAccounting, FailedFreeKeepsAllocationLive) {
  CudaAccounting a;
  a.add(Alloc(1, 0x10, 100));
  CudaEvent f = Free(1, 0x10);
  f.ret = 1;
  a.add(f);
  EXPECT_EQ(a.memory(1).live_bytes, 100u);
  EXPECT_EQ(a.memory(1).frees, 0u);
  a.finish();
  ASSERT_EQ(a.leaks().size(), 1u);
  EXPECT_EQ(a.leaks()[0].bytes, 100u);
}

}  // namespace
}  // namespace scope

namespace scope {
namespace {

TEST(CudaAccountingLateNames, UnnamedLaunchesMoveToTheirKernel) {
  CudaAccounting acct;
  CudaEvent launch;
  launch.op = CUDA_OP_LAUNCH;
  launch.call = CALL_cuLaunchKernel;
  for (int i = 0; i < 3; ++i) acct.add(launch);
  launch.kernel = "k()";
  acct.add(launch);
  EXPECT_EQ(acct.unnamed_launches(), 3u);
  acct.name_launches("k()", 2);
  EXPECT_EQ(acct.unnamed_launches(), 1u);
  ASSERT_EQ(acct.kernels().size(), 1u);
  EXPECT_EQ(acct.kernels()[0].count, 3u);
  acct.name_launches("other()", 10);  // never more than were unnamed
  EXPECT_EQ(acct.unnamed_launches(), 0u);
  EXPECT_EQ(acct.launches(), 4u);
}

}  // namespace
}  // namespace scope
