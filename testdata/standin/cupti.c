/* Stand-in libcupti.so.13: CUPTI's activity API with the real entry points and return codes and
 * no GPU. It hears of the stand-in driver's launches and copies (standin_activity.h) and writes
 * the records a real CUPTI writes for them: kernel (CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) and
 * copy records with GPU start and end times, and the launch calls' driver API records, all joined
 * by one correlation id, into buffers the client hands it, completed from a worker thread every
 * flush period or on cuptiActivityFlushAll.
 *
 * The "GPU" runs one thing at a time: a kernel starts QUEUE_NS after its launch call began or
 * when the one before it ends, and runs KERNEL_BASE_NS + KERNEL_NS_PER_BLOCK ns per block of its
 * grid; a copy runs COPY_BASE_NS + bytes / COPY_BYTES_PER_NS. Tests check scope's GPU times
 * against these numbers. STANDIN_CUPTI_BUSY=1 plays another profiler already holding CUPTI. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "inject/cupti_abi.h"
#include "standin_activity.h"

#define EXPORT __attribute__((noinline, noipa, used, visibility("default")))

#define QUEUE_NS 4000
#define KERNEL_BASE_NS 2000
#define KERNEL_NS_PER_BLOCK 10
#define COPY_BASE_NS 1000
#define COPY_BYTES_PER_NS 10

enum { SIZE_API = 40, SIZE_KERNEL = 112, SIZE_MEMCPY = 48 };
_Static_assert(sizeof(struct scope_cupti_api) <= SIZE_API, "api record");
_Static_assert(sizeof(struct scope_cupti_kernel) <= SIZE_KERNEL, "kernel record");
_Static_assert(sizeof(struct scope_cupti_memcpy) <= SIZE_MEMCPY, "memcpy record");

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static scope_cupti_request_fn g_request;
static scope_cupti_complete_fn g_complete;
static int g_kernels_on, g_copies_on;
static uint8_t g_driver_api_on[1024];
static uint32_t g_next_correlation = 1;
static uint64_t g_gpu_free_at;
static uint8_t *g_buffer;
static size_t g_size, g_used;
static uint32_t g_period_ms;
static pthread_t g_worker;
static int g_worker_started;

static size_t record_size(uint32_t kind) {
  switch (kind) {
    case SCOPE_CUPTI_KIND_DRIVER:
    case SCOPE_CUPTI_KIND_RUNTIME:
      return SIZE_API;
    case SCOPE_CUPTI_KIND_CONCURRENT_KERNEL:
    case SCOPE_CUPTI_KIND_KERNEL:
      return SIZE_KERNEL;
    case SCOPE_CUPTI_KIND_MEMCPY:
      return SIZE_MEMCPY;
    default:
      return 0;
  }
}

/* Takes the filled buffer out (with the lock held); the caller completes it without. */
static uint8_t *take_buffer(size_t *size, size_t *used) {
  uint8_t *b = g_buffer;
  *size = g_size;
  *used = g_used;
  g_buffer = NULL;
  g_size = g_used = 0;
  return b;
}

static void complete(uint8_t *b, size_t size, size_t used) {
  if (b && g_complete) g_complete(NULL, 0, b, size, used);
}

/* Room for `n` bytes in the current buffer, asking the client for one as CUPTI does. A full
 * buffer is completed on the spot (returned for the caller to complete outside the lock). */
static void *reserve(size_t n, uint8_t **full, size_t *full_size, size_t *full_used) {
  *full = NULL;
  if (g_buffer && g_used + n > g_size) *full = take_buffer(full_size, full_used);
  if (!g_buffer) {
    size_t max_records = 0;
    g_request(&g_buffer, &g_size, &max_records);
    g_used = 0;
    if (!g_buffer || g_size < n) return NULL;
  }
  void *at = g_buffer + g_used;
  memset(at, 0, n);
  g_used += n;
  return at;
}

static uint64_t gpu_start(uint64_t api_start) {
  uint64_t ready = api_start + QUEUE_NS;
  return ready > g_gpu_free_at ? ready : g_gpu_free_at;
}

static uint64_t realtime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void add_api(uint32_t cbid, uint64_t start, uint32_t tid, uint32_t correlation,
                    uint8_t **full, size_t *fs, size_t *fu) {
  if (cbid >= sizeof g_driver_api_on || !g_driver_api_on[cbid]) return;
  struct scope_cupti_api *a = reserve(SIZE_API, full, fs, fu);
  if (!a) return;
  a->kind = SCOPE_CUPTI_KIND_DRIVER;
  a->cbid = cbid;
  a->start = start;
  a->end = realtime_ns();
  a->process_id = (uint32_t)getpid();
  a->thread_id = tid;
  a->correlation_id = correlation;
}

static void on_launch(uint32_t cbid, const char *name, uint64_t api_start, uint32_t tid,
                      const unsigned grid[3], const unsigned block[3], uint64_t stream) {
  uint8_t *full[2] = {NULL, NULL};
  size_t fs[2] = {0, 0}, fu[2] = {0, 0};
  pthread_mutex_lock(&g_lock);
  if (g_kernels_on && g_request) {
    uint32_t correlation = g_next_correlation++;
    add_api(cbid, api_start, tid, correlation, &full[0], &fs[0], &fu[0]);
    struct scope_cupti_kernel *k = reserve(SIZE_KERNEL, &full[1], &fs[1], &fu[1]);
    if (k) {
      uint64_t blocks = (uint64_t)grid[0] * grid[1] * grid[2];
      k->kind = SCOPE_CUPTI_KIND_CONCURRENT_KERNEL;
      k->start = gpu_start(api_start);
      k->end = k->start + KERNEL_BASE_NS + KERNEL_NS_PER_BLOCK * blocks;
      k->completed = k->end;
      g_gpu_free_at = k->end;
      k->stream_id = (uint32_t)(stream & 0xffff) + 7; /* CUPTI's ids are not the handles */
      k->grid_x = (int32_t)grid[0];
      k->grid_y = (int32_t)grid[1];
      k->grid_z = (int32_t)grid[2];
      k->block_x = (int32_t)block[0];
      k->block_y = (int32_t)block[1];
      k->block_z = (int32_t)block[2];
      k->correlation_id = correlation;
      k->name = name;
    }
  }
  pthread_mutex_unlock(&g_lock);
  for (int i = 0; i < 2; i++) complete(full[i], fs[i], fu[i]);
}

static void on_copy(uint32_t cbid, uint8_t kind, uint64_t bytes, uint64_t api_start, uint32_t tid) {
  uint8_t *full[2] = {NULL, NULL};
  size_t fs[2] = {0, 0}, fu[2] = {0, 0};
  pthread_mutex_lock(&g_lock);
  if (g_copies_on && g_request) {
    uint32_t correlation = g_next_correlation++;
    add_api(cbid, api_start, tid, correlation, &full[0], &fs[0], &fu[0]);
    struct scope_cupti_memcpy *m = reserve(SIZE_MEMCPY, &full[1], &fs[1], &fu[1]);
    if (m) {
      m->kind = SCOPE_CUPTI_KIND_MEMCPY;
      m->copy_kind = kind;
      m->bytes = bytes;
      m->start = gpu_start(api_start);
      m->end = m->start + COPY_BASE_NS + bytes / COPY_BYTES_PER_NS;
      g_gpu_free_at = m->end;
      m->stream_id = 7;
      m->correlation_id = correlation;
    }
  }
  pthread_mutex_unlock(&g_lock);
  for (int i = 0; i < 2; i++) complete(full[i], fs[i], fu[i]);
}

static const struct standin_activity_sink g_sink = {on_launch, on_copy};

/* Tell the driver where to report, as the real CUPTI hooks the real driver. */
static int hook_driver(void) {
  void *drv = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (!drv) return 0;
  standin_set_sink_fn set = (standin_set_sink_fn)dlsym(drv, "standin_driver_set_activity_sink");
  if (set) set(&g_sink);
  dlclose(drv);
  return set != NULL;
}

static void flush_now(void) {
  size_t size = 0, used = 0;
  pthread_mutex_lock(&g_lock);
  uint8_t *b = take_buffer(&size, &used);
  pthread_mutex_unlock(&g_lock);
  complete(b, size, used);
}

static void *worker(void *arg) {
  (void)arg;
  for (;;) {
    uint32_t ms = __atomic_load_n(&g_period_ms, __ATOMIC_RELAXED);
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    flush_now();
  }
  return NULL;
}

/* ---- the API ------------------------------------------------------------------------------ */

EXPORT scope_cupti_result cuptiGetResultString(scope_cupti_result result, const char **str) {
  if (!str) return 1;
  switch (result) {
    case SCOPE_CUPTI_SUCCESS:
      *str = "CUPTI_SUCCESS";
      break;
    case SCOPE_CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED:
      *str = "CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED";
      break;
    default:
      *str = "CUPTI_ERROR_UNKNOWN";
  }
  return SCOPE_CUPTI_SUCCESS;
}

EXPORT scope_cupti_result cuptiActivityRegisterCallbacks(scope_cupti_request_fn request,
                                                         scope_cupti_complete_fn done) {
  const char *busy = getenv("STANDIN_CUPTI_BUSY");
  if (busy && *busy == '1') return SCOPE_CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED;
  if (!request || !done) return 1; /* CUPTI_ERROR_INVALID_PARAMETER */
  pthread_mutex_lock(&g_lock);
  g_request = request;
  g_complete = done;
  pthread_mutex_unlock(&g_lock);
  return hook_driver() ? SCOPE_CUPTI_SUCCESS : SCOPE_CUPTI_ERROR_NOT_INITIALIZED;
}

EXPORT scope_cupti_result cuptiActivityEnable(uint32_t kind) {
  pthread_mutex_lock(&g_lock);
  if (kind == SCOPE_CUPTI_KIND_CONCURRENT_KERNEL || kind == SCOPE_CUPTI_KIND_KERNEL)
    g_kernels_on = 1;
  else if (kind == SCOPE_CUPTI_KIND_MEMCPY)
    g_copies_on = 1;
  else if (kind == SCOPE_CUPTI_KIND_DRIVER)
    memset(g_driver_api_on, 1, sizeof g_driver_api_on);
  pthread_mutex_unlock(&g_lock);
  return SCOPE_CUPTI_SUCCESS;
}

EXPORT scope_cupti_result cuptiActivityDisable(uint32_t kind) {
  pthread_mutex_lock(&g_lock);
  if (kind == SCOPE_CUPTI_KIND_CONCURRENT_KERNEL || kind == SCOPE_CUPTI_KIND_KERNEL)
    g_kernels_on = 0;
  else if (kind == SCOPE_CUPTI_KIND_MEMCPY)
    g_copies_on = 0;
  pthread_mutex_unlock(&g_lock);
  return SCOPE_CUPTI_SUCCESS;
}

EXPORT scope_cupti_result cuptiActivityEnableDriverApi(scope_cupti_cbid cbid, uint8_t enable) {
  if (cbid >= sizeof g_driver_api_on) return 1;
  g_driver_api_on[cbid] = enable != 0;
  return SCOPE_CUPTI_SUCCESS;
}

/* The stand-in runtime reports nothing of its own: its launches are the driver's. */
EXPORT scope_cupti_result cuptiActivityEnableRuntimeApi(scope_cupti_cbid cbid, uint8_t enable) {
  (void)cbid, (void)enable;
  return SCOPE_CUPTI_SUCCESS;
}

EXPORT scope_cupti_result cuptiActivityGetNextRecord(uint8_t *buffer, size_t valid, void **record) {
  if (!buffer || !record) return 1;
  uint8_t *at = *record ? (uint8_t *)*record + record_size(*(uint32_t *)*record) : buffer;
  if (at + sizeof(uint32_t) > buffer + valid) return SCOPE_CUPTI_ERROR_MAX_LIMIT_REACHED;
  size_t n = record_size(*(uint32_t *)at);
  if (n == 0 || at + n > buffer + valid) return SCOPE_CUPTI_ERROR_MAX_LIMIT_REACHED;
  *record = at;
  return SCOPE_CUPTI_SUCCESS;
}

EXPORT scope_cupti_result cuptiActivityFlushAll(uint32_t flag) {
  (void)flag;
  flush_now();
  return SCOPE_CUPTI_SUCCESS;
}

EXPORT scope_cupti_result cuptiActivityFlushPeriod(uint32_t ms) {
  __atomic_store_n(&g_period_ms, ms, __ATOMIC_RELAXED);
  pthread_mutex_lock(&g_lock);
  int start = ms && !g_worker_started;
  g_worker_started |= start;
  pthread_mutex_unlock(&g_lock);
  if (start && pthread_create(&g_worker, NULL, worker, NULL) == 0) pthread_detach(g_worker);
  return SCOPE_CUPTI_SUCCESS;
}

EXPORT scope_cupti_result cuptiActivityGetNumDroppedRecords(void *ctx, uint32_t stream,
                                                            size_t *dropped) {
  (void)ctx, (void)stream;
  if (!dropped) return 1;
  *dropped = 0;
  return SCOPE_CUPTI_SUCCESS;
}

EXPORT scope_cupti_result cuptiFinalize(void) { return SCOPE_CUPTI_SUCCESS; }
