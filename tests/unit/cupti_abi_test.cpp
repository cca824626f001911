// scope's CUPTI declarations (src/inject/cupti_abi.h: scope builds without the CUDA toolkit)
// against the toolkit's own headers, where they are installed: every offset the injection
// library reads, every constant it passes.
#include <gtest/gtest.h>

#include <cstddef>

extern "C" {
#include "inject/cupti_abi.h"
}

#ifdef SCOPE_HAVE_CUPTI_HEADERS
#include <cupti.h>

#define SAME_OFFSET(ours, field, theirs, their_field) \
  EXPECT_EQ(offsetof(ours, field), offsetof(theirs, their_field)) << #field

TEST(CuptiAbi, KernelRecordMatchesTheToolkits) {
  SAME_OFFSET(scope_cupti_kernel, kind, CUpti_ActivityKernel10, kind);
  SAME_OFFSET(scope_cupti_kernel, start, CUpti_ActivityKernel10, start);
  SAME_OFFSET(scope_cupti_kernel, end, CUpti_ActivityKernel10, end);
  SAME_OFFSET(scope_cupti_kernel, device_id, CUpti_ActivityKernel10, deviceId);
  SAME_OFFSET(scope_cupti_kernel, stream_id, CUpti_ActivityKernel10, streamId);
  SAME_OFFSET(scope_cupti_kernel, grid_x, CUpti_ActivityKernel10, gridX);
  SAME_OFFSET(scope_cupti_kernel, block_z, CUpti_ActivityKernel10, blockZ);
  SAME_OFFSET(scope_cupti_kernel, correlation_id, CUpti_ActivityKernel10, correlationId);
  SAME_OFFSET(scope_cupti_kernel, grid_id, CUpti_ActivityKernel10, gridId);
  SAME_OFFSET(scope_cupti_kernel, name, CUpti_ActivityKernel10, name);
  // Older record versions CUPTI 12 may still write keep the same head.
  SAME_OFFSET(scope_cupti_kernel, correlation_id, CUpti_ActivityKernel9, correlationId);
  SAME_OFFSET(scope_cupti_kernel, name, CUpti_ActivityKernel9, name);
}

TEST(CuptiAbi, MemcpyAndApiRecordsMatchTheToolkits) {
  SAME_OFFSET(scope_cupti_memcpy, copy_kind, CUpti_ActivityMemcpy6, copyKind);
  SAME_OFFSET(scope_cupti_memcpy, bytes, CUpti_ActivityMemcpy6, bytes);
  SAME_OFFSET(scope_cupti_memcpy, start, CUpti_ActivityMemcpy6, start);
  SAME_OFFSET(scope_cupti_memcpy, end, CUpti_ActivityMemcpy6, end);
  SAME_OFFSET(scope_cupti_memcpy, device_id, CUpti_ActivityMemcpy6, deviceId);
  SAME_OFFSET(scope_cupti_memcpy, stream_id, CUpti_ActivityMemcpy6, streamId);
  SAME_OFFSET(scope_cupti_memcpy, correlation_id, CUpti_ActivityMemcpy6, correlationId);
  SAME_OFFSET(scope_cupti_api, cbid, CUpti_ActivityAPI, cbid);
  SAME_OFFSET(scope_cupti_api, start, CUpti_ActivityAPI, start);
  SAME_OFFSET(scope_cupti_api, end, CUpti_ActivityAPI, end);
  SAME_OFFSET(scope_cupti_api, thread_id, CUpti_ActivityAPI, threadId);
  SAME_OFFSET(scope_cupti_api, correlation_id, CUpti_ActivityAPI, correlationId);
  EXPECT_EQ(sizeof(scope_cupti_api), sizeof(CUpti_ActivityAPI));
}

TEST(CuptiAbi, ConstantsMatchTheToolkits) {
  EXPECT_EQ(SCOPE_CUPTI_SUCCESS, CUPTI_SUCCESS);
  EXPECT_EQ(SCOPE_CUPTI_ERROR_MAX_LIMIT_REACHED, CUPTI_ERROR_MAX_LIMIT_REACHED);
  EXPECT_EQ(SCOPE_CUPTI_ERROR_NOT_INITIALIZED, CUPTI_ERROR_NOT_INITIALIZED);
  EXPECT_EQ(SCOPE_CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED,
            CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED);
  EXPECT_EQ(SCOPE_CUPTI_KIND_MEMCPY, CUPTI_ACTIVITY_KIND_MEMCPY);
  EXPECT_EQ(SCOPE_CUPTI_KIND_KERNEL, CUPTI_ACTIVITY_KIND_KERNEL);
  EXPECT_EQ(SCOPE_CUPTI_KIND_DRIVER, CUPTI_ACTIVITY_KIND_DRIVER);
  EXPECT_EQ(SCOPE_CUPTI_KIND_RUNTIME, CUPTI_ACTIVITY_KIND_RUNTIME);
  EXPECT_EQ(SCOPE_CUPTI_KIND_CONCURRENT_KERNEL, CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
  EXPECT_EQ(SCOPE_CUPTI_MEMCPY_HTOD, CUPTI_ACTIVITY_MEMCPY_KIND_HTOD);
  EXPECT_EQ(SCOPE_CUPTI_MEMCPY_DTOH, CUPTI_ACTIVITY_MEMCPY_KIND_DTOH);
  EXPECT_EQ(SCOPE_CUPTI_MEMCPY_DTOD, CUPTI_ACTIVITY_MEMCPY_KIND_DTOD);
  EXPECT_EQ(SCOPE_CUPTI_MEMCPY_HTOH, CUPTI_ACTIVITY_MEMCPY_KIND_HTOH);
  const uint32_t driver[] = SCOPE_CUPTI_DRIVER_LAUNCH_CBIDS;
  const uint32_t theirs_driver[] = {CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel,
                                    CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel_ptsz,
                                    CUPTI_DRIVER_TRACE_CBID_cuLaunchCooperativeKernel,
                                    CUPTI_DRIVER_TRACE_CBID_cuLaunchCooperativeKernel_ptsz,
                                    CUPTI_DRIVER_TRACE_CBID_cuLaunchKernelEx,
                                    CUPTI_DRIVER_TRACE_CBID_cuLaunchKernelEx_ptsz};
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(driver[i], theirs_driver[i]) << i;
  const uint32_t runtime[] = SCOPE_CUPTI_RUNTIME_LAUNCH_CBIDS;
  const uint32_t theirs_runtime[] = {
      CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000,
      CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_ptsz_v7000,
      CUPTI_RUNTIME_TRACE_CBID_cudaLaunchCooperativeKernel_v9000,
      CUPTI_RUNTIME_TRACE_CBID_cudaLaunchCooperativeKernel_ptsz_v9000,
      CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernelExC_v11060,
      CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernelExC_ptsz_v11060};
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(runtime[i], theirs_runtime[i]) << i;
}
#else
TEST(CuptiAbi, KernelRecordMatchesTheToolkits) {
  GTEST_SKIP() << "no CUDA toolkit headers (/usr/local/cuda/include/cupti.h) to compare with";
}
#endif
