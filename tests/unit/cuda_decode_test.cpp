#include "event/cuda_decode.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace scope {
namespace {

cuda_event launch_record() {
  cuda_event rec{};
  rec.record = REC_CUDA;
  rec.pid = 10;
  rec.tid = 11;
  rec.call = CALL_cuLaunchKernel;
  rec.op = CUDA_OP_LAUNCH;
  rec.flags = CUDA_F_ASYNC;
  std::memcpy(rec.comm, "python3\0\0\0\0\0\0\0\0\0", 16);
  rec.ts_ns = 1000;
  rec.handle = 0xabc;
  rec.grid[0] = 2, rec.grid[1] = 3, rec.grid[2] = 4;
  rec.block[0] = 128, rec.block[1] = 1, rec.block[2] = 1;
  rec.shared_mem = 512;
  rec.stream = 0x77;
  return rec;
}

TEST(CudaDecode, LaunchFieldsAndClock) {
  CudaEvent ev = decode_cuda_event(launch_record(), 5'000'000'000);
  EXPECT_EQ(ev.ts_ns, 5'000'001'000u);
  EXPECT_EQ(ev.pid, 10u);
  EXPECT_EQ(ev.tid, 11u);
  EXPECT_EQ(ev.comm, "python3");
  EXPECT_EQ(cuda_call_name(ev.call), "cuLaunchKernel");
  EXPECT_EQ(ev.op, CUDA_OP_LAUNCH);
  EXPECT_TRUE(ev.async);
  EXPECT_FALSE(ev.ret.has_value());  // the hot path has no return probe
  EXPECT_FALSE(ev.duration_ns.has_value());
  EXPECT_EQ(ev.grid, (std::array<uint32_t, 3>{2, 3, 4}));
  EXPECT_EQ(ev.block, (std::array<uint32_t, 3>{128, 1, 1}));
  EXPECT_EQ(ev.shared_mem, 512u);
  EXPECT_EQ(ev.stream, 0x77u);
  EXPECT_EQ(ev.handle, 0xabcu);
}

TEST(CudaDecode, RetAndDurationOnlyWhenFlagged) {
  cuda_event rec{};
  rec.record = REC_CUDA;
  rec.call = CALL_cudaMalloc;
  rec.op = CUDA_OP_ALLOC;
  rec.flags = CUDA_F_HAS_RET | CUDA_F_HAS_DURATION;
  rec.ret = 2;
  rec.duration_ns = 1234;
  rec.bytes = 1 << 20;
  rec.ptr = 0x7f0000;
  CudaEvent ev = decode_cuda_event(rec, 0);
  ASSERT_TRUE(ev.ret.has_value());
  EXPECT_EQ(*ev.ret, 2);
  ASSERT_TRUE(ev.duration_ns.has_value());
  EXPECT_EQ(*ev.duration_ns, 1234u);
  EXPECT_EQ(ev.bytes, 1u << 20);
  EXPECT_EQ(ev.ptr, 0x7f0000u);
  EXPECT_FALSE(ev.async);
}

TEST(CudaDecode, FullCommWithoutTerminator) {
  cuda_event rec = launch_record();
  std::memcpy(rec.comm, "0123456789abcdef", 16);  // no NUL: 16 characters
  EXPECT_EQ(decode_cuda_event(rec, 0).comm, "0123456789abcdef");
}

TEST(CudaDecode, OutOfRangeValuesAreClamped) {
  cuda_event rec = launch_record();
  rec.call = 60000;
  rec.kind = 99;
  CudaEvent ev = decode_cuda_event(rec, 0);
  EXPECT_EQ(ev.call, CALL_NONE);
  EXPECT_EQ(ev.kind, CUDA_COPY_DEFAULT);
}

TEST(CudaDecode, RecordTypeChecksSize) {
  cuda_event rec = launch_record();
  EXPECT_EQ(cuda_record_type(&rec, sizeof(rec)), std::optional<uint32_t>(REC_CUDA));
  EXPECT_EQ(cuda_record_type(&rec, sizeof(rec) - 1), std::nullopt);
  EXPECT_EQ(cuda_record_type(&rec, 2), std::nullopt);
  uint32_t bogus[4] = {77, 0, 0, 0};
  EXPECT_EQ(cuda_record_type(bogus, sizeof(bogus)), std::nullopt);
  std::vector<char> name(sizeof(cuda_name_event));
  uint32_t t = REC_NAME;
  std::memcpy(name.data(), &t, sizeof(t));
  EXPECT_EQ(cuda_record_type(name.data(), name.size()), std::optional<uint32_t>(REC_NAME));
  EXPECT_EQ(cuda_record_type(name.data(), 100), std::nullopt);
}

}  // namespace
}  // namespace scope
