/* libscope_cupti.so: scope's CUPTI injection library. The CUDA driver loads it at cuInit when
 * CUDA_INJECTION64_PATH names it (`scope trace -- COMMAND` sets that; docs/gpu-time.md says how
 * for a service) and calls InitializeInjection. It subscribes to CUPTI's kernel and copy activity
 * and to the API records of the launch calls, joins each kernel to its launch by CUPTI's
 * correlation id (the launching thread and when the call began), and hands the records to scope
 * by calling scope_gpu_records(), a function that does nothing and that the cuda family probes
 * (bpf/shared/gpu_activity.h). Without scope attached the calls cost a function call a batch.
 *
 * Plain C with libc and libdl only: it runs inside any CUDA program. It never fails the
 * program: without a libcupti, or with CUPTI held by another profiler, it says so (to scope,
 * through scope_gpu_status) and the program runs on without GPU times. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/shared/cuda.h"
#include "inject/cupti_abi.h"

#define EXPORT __attribute__((visibility("default")))
/* Probed at its first byte: never inlined, never folded with another function. */
#define PROBED __attribute__((noinline, noipa, used, visibility("default")))

#define BUFFER_BYTES (1u << 20)
#define FLUSH_PERIOD_MS 100
#define API_SLOTS 65536 /* launches whose kernel has not been seen yet (a power of two) */
#define NAME_SLOTS 4096 /* distinct kernel names (a power of two) */
#define PENDING_MAX 65536

/* ---- what scope probes --------------------------------------------------------------------- */

PROBED void scope_gpu_records(const struct gpu_record *records, uint32_t count) {
  __asm__ volatile("" : : "r"(records), "r"(count) : "memory");
}

PROBED void scope_gpu_kernel_name(uint32_t name_id, const char *name) {
  __asm__ volatile("" : : "r"(name_id), "r"(name) : "memory");
}

PROBED void scope_gpu_status(int32_t code, const char *message) {
  __asm__ volatile("" : : "r"(code), "r"(message) : "memory");
}

/* ---- CUPTI, loaded at run time ----------------------------------------------------------- */

#define DECLARE_FN(name, ret, args) static ret(*p_##name) args;
SCOPE_CUPTI_FUNCTIONS(DECLARE_FN)
SCOPE_CUPTI_OPTIONAL_FUNCTIONS(DECLARE_FN)
#undef DECLARE_FN

static void say(int32_t code, const char *fmt, const char *detail) {
  char message[GPU_NAME_MAX];
  snprintf(message, sizeof message, fmt, detail ? detail : "");
  scope_gpu_status(code, message);
  if (getenv("SCOPE_CUPTI_VERBOSE")) fprintf(stderr, "scope-cupti: %s\n", message);
}

static const char *result_text(scope_cupti_result r) {
  const char *text = NULL;
  if (p_cuptiGetResultString && p_cuptiGetResultString(r, &text) == SCOPE_CUPTI_SUCCESS && text)
    return text;
  return "unknown CUPTI error";
}

/* The directory of the first loaded object whose name starts with `prefix`. */
struct dir_search {
  const char *prefix;
  char dir[PATH_MAX];
};

static int find_dir(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  struct dir_search *s = data;
  const char *slash = info->dlpi_name ? strrchr(info->dlpi_name, '/') : NULL;
  if (!slash || strncmp(slash + 1, s->prefix, strlen(s->prefix)) != 0) return 0;
  size_t n = (size_t)(slash - info->dlpi_name);
  if (n >= sizeof s->dir) return 0;
  memcpy(s->dir, info->dlpi_name, n);
  s->dir[n] = 0;
  return 1;
}

static void *open_beside(const char *prefix, const char *file) {
  struct dir_search s = {prefix, {0}};
  if (!dl_iterate_phdr(find_dir, &s)) return NULL;
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/%s", s.dir, file);
  return dlopen(path, RTLD_NOW | RTLD_LOCAL);
}

/* The libcupti of the CUDA the program runs: SCOPE_CUPTI_LIBRARY, one already loaded (PyTorch
 * links one for its profiler), the one beside the program's runtime (pip's nvidia/cu13/lib), the
 * loader's search, then the toolkit's. */
static void *open_cupti(void) {
  static const char *const names[] = {"libcupti.so.13", "libcupti.so.12", "libcupti.so"};
  const char *env = getenv("SCOPE_CUPTI_LIBRARY");
  if (env && *env) return dlopen(env, RTLD_NOW | RTLD_LOCAL);
  void *h = NULL;
  for (size_t i = 0; i < sizeof names / sizeof names[0] && !h; i++)
    h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
  for (size_t i = 0; i < 2 && !h; i++) h = open_beside("libcudart.so", names[i]);
  for (size_t i = 0; i < sizeof names / sizeof names[0] && !h; i++)
    h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
  if (!h) h = dlopen("/usr/local/cuda/lib64/libcupti.so.13", RTLD_NOW | RTLD_LOCAL);
  if (!h) h = dlopen("/usr/local/cuda/extras/CUPTI/lib64/libcupti.so", RTLD_NOW | RTLD_LOCAL);
  return h;
}

/* ---- joining kernels to their launches ---------------------------------------------------- */

struct api_slot {
  uint32_t correlation_id; /* 0: empty */
  uint32_t tid;
  uint64_t start_ns;
};

struct name_slot {
  const char *name; /* CUPTI's pointer: the same for every record of one kernel */
  uint32_t id;
};

/* CUPTI calls the completion callback from its own thread, one buffer at a time; the lock keeps
 * a forced flush at exit from overlapping it. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct api_slot g_api[API_SLOTS];
static struct name_slot g_names[NAME_SLOTS];
static uint32_t g_next_name_id = 1;
static struct gpu_record g_batch[GPU_BATCH_MAX];
static uint32_t g_batch_count;
/* Kernels whose API record has not come yet: kept for one more buffer. */
static struct gpu_record *g_pending;
static uint32_t g_pending_count;

static void flush_batch(void) {
  if (g_batch_count) scope_gpu_records(g_batch, g_batch_count);
  g_batch_count = 0;
}

static void push(const struct gpu_record *r) {
  g_batch[g_batch_count++] = *r;
  if (g_batch_count == GPU_BATCH_MAX) flush_batch();
}

static void remember_api(const struct scope_cupti_api *a) {
  struct api_slot *s = &g_api[a->correlation_id & (API_SLOTS - 1)];
  /* The outermost call wins: a runtime launch and the driver call inside it share the id. */
  if (s->correlation_id == a->correlation_id && s->start_ns <= a->start) return;
  s->correlation_id = a->correlation_id;
  s->tid = a->thread_id;
  s->start_ns = a->start;
}

/* Fills in the launching thread and the call's start; false when its API record is not in. */
static int join_api(struct gpu_record *r) {
  struct api_slot *s = &g_api[r->correlation_id & (API_SLOTS - 1)];
  if (s->correlation_id != r->correlation_id || r->correlation_id == 0) return 0;
  r->tid = s->tid;
  r->api_start_ns = s->start_ns;
  return 1;
}

static uint32_t name_id(const char *name) {
  if (!name) return 0;
  uintptr_t h = ((uintptr_t)name >> 4) * 0x9E3779B97F4A7C15ull;
  for (uint32_t probe = 0; probe < NAME_SLOTS; probe++) {
    struct name_slot *s = &g_names[(h + probe) & (NAME_SLOTS - 1)];
    if (s->name == name) return s->id;
    if (!s->name) {
      s->name = name;
      s->id = g_next_name_id++;
      scope_gpu_kernel_name(s->id, name);
      return s->id;
    }
  }
  return 0; /* more distinct kernels than slots: unnamed on the GPU side */
}

static uint8_t copy_kind(uint8_t cupti_kind) {
  switch (cupti_kind) {
    case SCOPE_CUPTI_MEMCPY_HTOD:
      return CUDA_COPY_HTOD;
    case SCOPE_CUPTI_MEMCPY_DTOH:
      return CUDA_COPY_DTOH;
    case SCOPE_CUPTI_MEMCPY_DTOD:
      return CUDA_COPY_DTOD;
    case SCOPE_CUPTI_MEMCPY_HTOH:
      return CUDA_COPY_HTOH;
    default:
      return CUDA_COPY_DEFAULT;
  }
}

static void request_buffer(uint8_t **buffer, size_t *size, size_t *max_records) {
  *buffer = aligned_alloc(8, BUFFER_BYTES);
  *size = *buffer ? BUFFER_BYTES : 0;
  *max_records = 0;
}

static void complete_buffer(scope_cupti_context ctx, uint32_t stream_id, uint8_t *buffer,
                            size_t size, size_t valid) {
  (void)size;
  pthread_mutex_lock(&g_lock);
  /* API records first: a kernel in this buffer may come before its launch's record. */
  void *rec = NULL;
  while (p_cuptiActivityGetNextRecord(buffer, valid, &rec) == SCOPE_CUPTI_SUCCESS) {
    uint32_t kind = *(const uint32_t *)rec;
    if (kind == SCOPE_CUPTI_KIND_DRIVER || kind == SCOPE_CUPTI_KIND_RUNTIME)
      remember_api((const struct scope_cupti_api *)rec);
  }
  /* Kernels left over from the last buffer, then this one's records. */
  uint32_t waiting = g_pending_count;
  g_pending_count = 0;
  for (uint32_t i = 0; i < waiting; i++) {
    join_api(&g_pending[i]);
    push(&g_pending[i]);
  }
  rec = NULL;
  while (p_cuptiActivityGetNextRecord(buffer, valid, &rec) == SCOPE_CUPTI_SUCCESS) {
    uint32_t kind = *(const uint32_t *)rec;
    struct gpu_record r;
    memset(&r, 0, sizeof r);
    if (kind == SCOPE_CUPTI_KIND_CONCURRENT_KERNEL || kind == SCOPE_CUPTI_KIND_KERNEL) {
      const struct scope_cupti_kernel *k = rec;
      r.kind = GPU_KERNEL;
      r.start_ns = k->start;
      r.end_ns = k->end;
      r.correlation_id = k->correlation_id;
      r.stream_id = k->stream_id;
      r.device_id = k->device_id;
      r.name_id = name_id(k->name);
    } else if (kind == SCOPE_CUPTI_KIND_MEMCPY) {
      const struct scope_cupti_memcpy *m = rec;
      r.kind = GPU_MEMCPY;
      r.start_ns = m->start;
      r.end_ns = m->end;
      r.bytes = m->bytes;
      r.correlation_id = m->correlation_id;
      r.stream_id = m->stream_id;
      r.device_id = m->device_id;
      r.copy_kind = copy_kind(m->copy_kind);
    } else {
      continue;
    }
    if (!join_api(&r) && r.kind == GPU_KERNEL && g_pending && g_pending_count < PENDING_MAX) {
      g_pending[g_pending_count++] = r;
      continue;
    }
    push(&r);
  }
  flush_batch();
  size_t dropped = 0;
  if (p_cuptiActivityGetNumDroppedRecords &&
      p_cuptiActivityGetNumDroppedRecords(ctx, stream_id, &dropped) == SCOPE_CUPTI_SUCCESS &&
      dropped) {
    char n[32];
    snprintf(n, sizeof n, "%zu", dropped);
    say(GPU_STATUS_RECORDS_LOST, "CUPTI dropped %s activity records", n);
  }
  pthread_mutex_unlock(&g_lock);
  free(buffer);
}

static void flush_at_exit(void) {
  if (p_cuptiActivityFlushAll) p_cuptiActivityFlushAll(1 /* CUPTI_ACTIVITY_FLAG_FLUSH_FORCED */);
  pthread_mutex_lock(&g_lock);
  for (uint32_t i = 0; i < g_pending_count; i++) push(&g_pending[i]);
  g_pending_count = 0;
  flush_batch();
  pthread_mutex_unlock(&g_lock);
}

/* ---- the entry point the driver calls ------------------------------------------------------ */

static void start(void) {
  void *cupti = open_cupti();
  if (!cupti) {
    say(GPU_STATUS_NO_CUPTI, "no libcupti found (%s): no GPU times", dlerror());
    return;
  }
#define LOOK_UP(name, ret, args) p_##name = (ret(*) args)dlsym(cupti, #name);
  SCOPE_CUPTI_FUNCTIONS(LOOK_UP)
  SCOPE_CUPTI_OPTIONAL_FUNCTIONS(LOOK_UP)
#undef LOOK_UP
  if (!p_cuptiActivityRegisterCallbacks || !p_cuptiActivityEnable ||
      !p_cuptiActivityGetNextRecord || !p_cuptiActivityFlushAll) {
    say(GPU_STATUS_NO_CUPTI, "%s", "libcupti lacks the activity API: no GPU times");
    return;
  }
  g_pending = calloc(PENDING_MAX, sizeof *g_pending);
  scope_cupti_result r = p_cuptiActivityRegisterCallbacks(request_buffer, complete_buffer);
  if (r == SCOPE_CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED) {
    say(GPU_STATUS_CUPTI_BUSY, "%s", "another profiler holds CUPTI: no GPU times");
    return;
  }
  if (r != SCOPE_CUPTI_SUCCESS) {
    say(GPU_STATUS_CUPTI_ERROR, "cuptiActivityRegisterCallbacks: %s", result_text(r));
    return;
  }
  static const uint32_t kinds[] = {SCOPE_CUPTI_KIND_CONCURRENT_KERNEL, SCOPE_CUPTI_KIND_MEMCPY};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    r = p_cuptiActivityEnable(kinds[i]);
    if (r == SCOPE_CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED) {
      say(GPU_STATUS_CUPTI_BUSY, "%s", "another profiler holds CUPTI: no GPU times");
      return;
    }
    if (r != SCOPE_CUPTI_SUCCESS) {
      say(GPU_STATUS_CUPTI_ERROR, "cuptiActivityEnable: %s", result_text(r));
      return;
    }
  }
  /* Only the launch calls' API records: the join needs them, and every other call's would cost. */
  if (p_cuptiActivityEnableDriverApi && p_cuptiActivityEnableRuntimeApi) {
    static const uint32_t driver[] = SCOPE_CUPTI_DRIVER_LAUNCH_CBIDS;
    static const uint32_t runtime[] = SCOPE_CUPTI_RUNTIME_LAUNCH_CBIDS;
    for (size_t i = 0; i < sizeof driver / sizeof driver[0]; i++)
      p_cuptiActivityEnableDriverApi(driver[i], 1);
    for (size_t i = 0; i < sizeof runtime / sizeof runtime[0]; i++)
      p_cuptiActivityEnableRuntimeApi(runtime[i], 1);
  }
  if (p_cuptiActivityFlushPeriod) p_cuptiActivityFlushPeriod(FLUSH_PERIOD_MS);
  atexit(flush_at_exit);
  say(GPU_STATUS_ON, "%s", "GPU activity on");
}

static void start_once(void) { start(); }

/* The driver calls this from cuInit; 1 tells it the injection succeeded (it always does: a
 * program never fails because of scope). */
EXPORT int InitializeInjection(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, start_once);
  return 1;
}
