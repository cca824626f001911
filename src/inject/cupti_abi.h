/* The part of CUPTI's ABI (cupti_activity.h, CUDA 12 and 13) that scope's injection library
 * uses, declared here so that scope builds without the CUDA toolkit. Only fields at offsets that
 * every record version since CUDA 11 keeps are read; tests/unit/cupti_abi_test.cpp checks each
 * offset against the toolkit's header where one is installed. The stand-in CUPTI in testdata/
 * writes records with these layouts. */
#ifndef SCOPE_INJECT_CUPTI_ABI_H
#define SCOPE_INJECT_CUPTI_ABI_H

#include <stddef.h>
#include <stdint.h>

typedef int scope_cupti_result;
typedef uint32_t scope_cupti_cbid;
typedef void *scope_cupti_context;

enum {
  SCOPE_CUPTI_SUCCESS = 0,
  SCOPE_CUPTI_ERROR_MAX_LIMIT_REACHED = 12,
  SCOPE_CUPTI_ERROR_NOT_INITIALIZED = 15,
  SCOPE_CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED = 39,
};

/* CUpti_ActivityKind */
enum {
  SCOPE_CUPTI_KIND_MEMCPY = 1,
  SCOPE_CUPTI_KIND_KERNEL = 3,
  SCOPE_CUPTI_KIND_DRIVER = 4,
  SCOPE_CUPTI_KIND_RUNTIME = 5,
  SCOPE_CUPTI_KIND_CONCURRENT_KERNEL = 10,
};

/* CUpti_ActivityMemcpyKind */
enum {
  SCOPE_CUPTI_MEMCPY_HTOD = 1,
  SCOPE_CUPTI_MEMCPY_DTOH = 2,
  SCOPE_CUPTI_MEMCPY_DTOD = 8,
  SCOPE_CUPTI_MEMCPY_HTOH = 9,
};

/* Launch callback ids (cupti_driver_cbid.h, cupti_runtime_cbid.h): the API records kept are
 * these calls', so that a kernel's correlation id finds its launching thread. */
#define SCOPE_CUPTI_DRIVER_LAUNCH_CBIDS \
  { 307, 442, 477, 478, 652, 653 }
#define SCOPE_CUPTI_RUNTIME_LAUNCH_CBIDS \
  { 211, 214, 269, 270, 430, 431 }

/* CUpti_ActivityAPI (driver and runtime API records). */
struct scope_cupti_api {
  uint32_t kind;
  uint32_t cbid;
  uint64_t start;
  uint64_t end;
  uint32_t process_id;
  uint32_t thread_id;
  uint32_t correlation_id;
  uint32_t return_value;
};

/* The head of CUpti_ActivityKernel4..10, as far as `name`. */
struct scope_cupti_kernel {
  uint32_t kind;
  uint8_t cache_config;
  uint8_t shared_memory_config;
  uint16_t registers_per_thread;
  uint32_t partitioned_global_cache_requested;
  uint32_t partitioned_global_cache_executed;
  uint64_t start;
  uint64_t end;
  uint64_t completed;
  uint32_t device_id;
  uint32_t context_id;
  uint32_t stream_id;
  int32_t grid_x, grid_y, grid_z;
  int32_t block_x, block_y, block_z;
  int32_t static_shared_memory;
  int32_t dynamic_shared_memory;
  uint32_t local_memory_per_thread;
  uint32_t local_memory_total;
  uint32_t correlation_id;
  int64_t grid_id;
  const char *name;
};

/* The head of CUpti_ActivityMemcpy3..6, as far as `correlationId`. */
struct scope_cupti_memcpy {
  uint32_t kind;
  uint8_t copy_kind;
  uint8_t src_kind;
  uint8_t dst_kind;
  uint8_t flags;
  uint64_t bytes;
  uint64_t start;
  uint64_t end;
  uint32_t device_id;
  uint32_t context_id;
  uint32_t stream_id;
  uint32_t correlation_id;
};

typedef void (*scope_cupti_request_fn)(uint8_t **buffer, size_t *size, size_t *max_records);
typedef void (*scope_cupti_complete_fn)(scope_cupti_context context, uint32_t stream_id,
                                        uint8_t *buffer, size_t size, size_t valid_size);

/* The functions scope's library looks up in libcupti (by these names). */
#define SCOPE_CUPTI_FUNCTIONS(X)                                \
  X(cuptiActivityRegisterCallbacks, scope_cupti_result,         \
    (scope_cupti_request_fn, scope_cupti_complete_fn))          \
  X(cuptiActivityEnable, scope_cupti_result, (uint32_t kind))   \
  X(cuptiActivityGetNextRecord, scope_cupti_result,             \
    (uint8_t * buffer, size_t valid, void **record))            \
  X(cuptiActivityFlushAll, scope_cupti_result, (uint32_t flag)) \
  X(cuptiGetResultString, scope_cupti_result, (scope_cupti_result result, const char **text))

/* Looked up too, used where present (CUPTI 12.x+). */
#define SCOPE_CUPTI_OPTIONAL_FUNCTIONS(X)                                                   \
  X(cuptiActivityEnableDriverApi, scope_cupti_result, (scope_cupti_cbid cbid, uint8_t on))  \
  X(cuptiActivityEnableRuntimeApi, scope_cupti_result, (scope_cupti_cbid cbid, uint8_t on)) \
  X(cuptiActivityFlushPeriod, scope_cupti_result, (uint32_t ms))                            \
  X(cuptiActivityGetNumDroppedRecords, scope_cupti_result,                                  \
    (scope_cupti_context ctx, uint32_t stream, size_t * dropped))

#endif
