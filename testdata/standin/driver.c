/* Stand-in libcuda.so.1: the CUDA driver API with the real ABI and no GPU.
 * Device memory is host memory, so copies and memsets really move bytes;
 * every synchronize sleeps SYNC_SLEEP_US, every alloc ~ALLOC_SLEEP_US.
 * Every exported function is a real out-of-line function: uprobes attach at
 * the symbol's first byte. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "standin_activity.h"
#include "standin_cuda.h"

#define EXPORT __attribute__((noinline, noipa, used, visibility("default")))

#define SYNC_SLEEP_US 2000
#define ALLOC_SLEEP_US 50
#define MAX_HANDLES 4096

enum handle_type { H_MODULE = 1, H_LIBRARY, H_FUNCTION, H_KERNEL, H_STREAM, H_EVENT, H_CONTEXT };

struct handle {
  int type;
  const struct handle *parent; /* module/library of a function/kernel; kernel of a function */
  struct handle *function;     /* H_KERNEL: its CUfunction (cuKernelGetFunction) */
  char *name;
};

/* Append-only: readers scan without the lock (published with a release store). */
static struct handle *g_handles[MAX_HANDLES];
static unsigned g_handle_count;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

struct alloc {
  void *ptr;
  size_t bytes;
  int host;
};
static struct alloc *g_allocs;
static size_t g_alloc_count, g_alloc_cap;

static void sleep_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static int handle_known(const void *h, int type1, int type2) {
  unsigned n = __atomic_load_n(&g_handle_count, __ATOMIC_ACQUIRE);
  for (unsigned i = 0; i < n; i++) {
    if (g_handles[i] == h) return g_handles[i]->type == type1 || g_handles[i]->type == type2;
  }
  return 0;
}

/* Called with g_lock held. */
static struct handle *new_handle_locked(int type, const struct handle *parent, const char *name) {
  if (g_handle_count >= MAX_HANDLES) return NULL;
  struct handle *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  h->type = type;
  h->parent = parent;
  if (name) h->name = strdup(name);
  g_handles[g_handle_count] = h;
  __atomic_store_n(&g_handle_count, g_handle_count + 1, __ATOMIC_RELEASE);
  return h;
}

static struct handle *new_handle(int type, const struct handle *parent, const char *name) {
  pthread_mutex_lock(&g_lock);
  struct handle *h = new_handle_locked(type, parent, name);
  pthread_mutex_unlock(&g_lock);
  return h;
}

/* The function/kernel named `name` in `parent`: one handle per (parent, name). */
static CUresult get_named(void **out, const void *parent, int parent_type, int type,
                          const char *name) {
  if (!out || !name) return CUDA_ERROR_INVALID_VALUE;
  if (!handle_known(parent, parent_type, parent_type)) return CUDA_ERROR_INVALID_HANDLE;
  pthread_mutex_lock(&g_lock);
  struct handle *found = NULL;
  for (unsigned i = 0; i < g_handle_count; i++) {
    struct handle *h = g_handles[i];
    if (h->type == type && h->parent == parent && h->name && strcmp(h->name, name) == 0) {
      found = h;
      break;
    }
  }
  if (!found) found = new_handle_locked(type, parent, name);
  pthread_mutex_unlock(&g_lock);
  if (!found) return CUDA_ERROR_OUT_OF_MEMORY;
  *out = found;
  return CUDA_SUCCESS;
}

static void *do_alloc(size_t bytes, int host) {
  sleep_us(ALLOC_SLEEP_US);
  size_t rounded = (bytes + 255) & ~(size_t)255;
  if (rounded == 0) rounded = 256;
  void *p = aligned_alloc(256, rounded);
  if (!p) return NULL;
  memset(p, 0, rounded);
  pthread_mutex_lock(&g_lock);
  if (g_alloc_count == g_alloc_cap) {
    size_t cap = g_alloc_cap ? g_alloc_cap * 2 : 64;
    struct alloc *n = realloc(g_allocs, cap * sizeof *n);
    if (!n) {
      pthread_mutex_unlock(&g_lock);
      free(p);
      return NULL;
    }
    g_allocs = n;
    g_alloc_cap = cap;
  }
  g_allocs[g_alloc_count++] = (struct alloc){p, bytes, host};
  pthread_mutex_unlock(&g_lock);
  return p;
}

static CUresult do_free(void *p, int host) {
  pthread_mutex_lock(&g_lock);
  for (size_t i = 0; i < g_alloc_count; i++) {
    if (g_allocs[i].ptr == p && g_allocs[i].host == host) {
      g_allocs[i] = g_allocs[--g_alloc_count];
      pthread_mutex_unlock(&g_lock);
      free(p);
      return CUDA_SUCCESS;
    }
  }
  pthread_mutex_unlock(&g_lock);
  return CUDA_ERROR_INVALID_VALUE;
}

static CUresult alloc_dev(CUdeviceptr *dptr, size_t bytes) {
  if (!dptr) return CUDA_ERROR_INVALID_VALUE;
  void *p = do_alloc(bytes, 0);
  if (!p) return CUDA_ERROR_OUT_OF_MEMORY;
  *dptr = (CUdeviceptr)(uintptr_t)p;
  return CUDA_SUCCESS;
}

/* The stand-in CUPTI, once a CUPTI injection turned activity on (standin_activity.h). */
static const struct standin_activity_sink *g_sink;

EXPORT void standin_driver_set_activity_sink(const struct standin_activity_sink *sink) {
  __atomic_store_n(&g_sink, sink, __ATOMIC_RELEASE);
}

static uint64_t realtime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CUPTI's callback ids of the calls the sink hears of (cupti_driver_cbid.h). */
enum {
  CBID_cuMemcpy = 0, /* the generic copies report no id of their own here */
  CBID_cuMemcpyHtoD_v2 = 279,
  CBID_cuMemcpyDtoH_v2 = 281,
  CBID_cuMemcpyDtoD_v2 = 283,
  CBID_cuLaunchKernel = 307,
  CBID_cuLaunchKernel_ptsz = 442,
  CBID_cuLaunchKernelEx = 652,
  CBID_cuLaunchKernelEx_ptsz = 653,
};

static void report_copy(uint32_t cbid, uint8_t kind, size_t n, uint64_t start);

/* `kind` is CUPTI's copy kind (1 HtoD, 2 DtoH, 8 DtoD, 0 not known). */
static CUresult copy_kind(void *dst, const void *src, size_t n, uint32_t cbid, uint8_t kind) {
  uint64_t start = realtime_ns();
  if (n == 0) return CUDA_SUCCESS;
  if (!dst || !src) return CUDA_ERROR_INVALID_VALUE;
  memmove(dst, src, n);
  report_copy(cbid, kind, n, start);
  return CUDA_SUCCESS;
}

static CUresult copy(void *dst, const void *src, size_t n) {
  return copy_kind(dst, src, n, CBID_cuMemcpy, 0);
}

#define P(d) ((void *)(uintptr_t)(d))

static CUresult set8(CUdeviceptr d, unsigned char v, size_t n) {
  if (!d) return CUDA_ERROR_INVALID_VALUE;
  memset(P(d), v, n);
  return CUDA_SUCCESS;
}

static CUresult set32(CUdeviceptr d, unsigned v, size_t n) {
  if (!d || (d & 3)) return CUDA_ERROR_INVALID_VALUE;
  uint32_t *p = P(d);
  for (size_t i = 0; i < n; i++) p[i] = v;
  return CUDA_SUCCESS;
}

static CUresult launch(uint32_t cbid, CUfunction f, const unsigned grid[3], const unsigned block[3],
                       CUstream stream) {
  uint64_t start = realtime_ns();
  if (!handle_known(f, H_FUNCTION, H_KERNEL)) return CUDA_ERROR_INVALID_HANDLE;
  const struct standin_activity_sink *sink = __atomic_load_n(&g_sink, __ATOMIC_ACQUIRE);
  if (sink)
    sink->launch(cbid, ((const struct handle *)f)->name, start, (uint32_t)gettid(), grid, block,
                 (uint64_t)(uintptr_t)stream);
  return CUDA_SUCCESS;
}

static CUresult launch_ex(uint32_t cbid, const CUlaunchConfig *config, CUfunction f) {
  if (!config) return CUDA_ERROR_INVALID_VALUE;
  unsigned grid[3] = {config->gridDimX, config->gridDimY, config->gridDimZ};
  unsigned block[3] = {config->blockDimX, config->blockDimY, config->blockDimZ};
  return launch(cbid, f, grid, block, config->hStream);
}

static CUresult sync_sleep(void) {
  sleep_us(SYNC_SLEEP_US);
  return CUDA_SUCCESS;
}

static void report_copy(uint32_t cbid, uint8_t kind, size_t n, uint64_t start) {
  const struct standin_activity_sink *sink = __atomic_load_n(&g_sink, __ATOMIC_ACQUIRE);
  if (sink) sink->copy(cbid, kind, n, start, (uint32_t)gettid());
}

/* ---- initialisation, devices, contexts ---------------------------------- */

/* As the real driver does: CUDA_INJECTION64_PATH names a library to load at the first cuInit,
 * whose InitializeInjection is called before cuInit returns. */
static void load_injection(void) {
  const char *path = getenv("CUDA_INJECTION64_PATH");
  if (!path || !*path) return;
  void *h = dlopen(path, RTLD_NOW);
  if (!h) return;
  int (*init)(void) = (int (*)(void))dlsym(h, "InitializeInjection");
  if (init) init();
}

EXPORT CUresult cuInit(unsigned int flags) {
  static pthread_once_t injection_once = PTHREAD_ONCE_INIT;
  if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
  pthread_once(&injection_once, load_injection);
  return CUDA_SUCCESS;
}

EXPORT CUresult cuDriverGetVersion(int *version) {
  if (!version) return CUDA_ERROR_INVALID_VALUE;
  *version = 13000;
  return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGet(CUdevice *device, int ordinal) {
  if (!device || ordinal != 0) return CUDA_ERROR_INVALID_VALUE;
  *device = 0;
  return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGetCount(int *count) {
  if (!count) return CUDA_ERROR_INVALID_VALUE;
  *count = 1;
  return CUDA_SUCCESS;
}

static struct handle *g_primary_ctx;

EXPORT CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev) {
  (void)flags;
  if (!pctx || dev != 0) return CUDA_ERROR_INVALID_VALUE;
  struct handle *h = new_handle(H_CONTEXT, NULL, NULL);
  if (!h) return CUDA_ERROR_OUT_OF_MEMORY;
  *pctx = (CUcontext)h;
  return CUDA_SUCCESS;
}

EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev) {
  if (!pctx || dev != 0) return CUDA_ERROR_INVALID_VALUE;
  pthread_mutex_lock(&g_lock);
  if (!g_primary_ctx) g_primary_ctx = new_handle_locked(H_CONTEXT, NULL, NULL);
  struct handle *h = g_primary_ctx;
  pthread_mutex_unlock(&g_lock);
  if (!h) return CUDA_ERROR_OUT_OF_MEMORY;
  *pctx = (CUcontext)h;
  return CUDA_SUCCESS;
}

/* ---- modules, libraries, functions, kernels ----------------------------- */

EXPORT CUresult cuModuleLoadData(CUmodule *module, const void *image) {
  (void)image;
  if (!module) return CUDA_ERROR_INVALID_VALUE;
  struct handle *h = new_handle(H_MODULE, NULL, NULL);
  if (!h) return CUDA_ERROR_OUT_OF_MEMORY;
  *module = (CUmodule)h;
  return CUDA_SUCCESS;
}

EXPORT CUresult cuLibraryLoadData(CUlibrary *library, const void *code, CUjit_option *jitOptions,
                                  void **jitOptionsValues, unsigned int numJitOptions,
                                  CUlibraryOption *libraryOptions, void **libraryOptionValues,
                                  unsigned int numLibraryOptions) {
  (void)code, (void)jitOptions, (void)jitOptionsValues, (void)numJitOptions;
  (void)libraryOptions, (void)libraryOptionValues, (void)numLibraryOptions;
  if (!library) return CUDA_ERROR_INVALID_VALUE;
  struct handle *h = new_handle(H_LIBRARY, NULL, NULL);
  if (!h) return CUDA_ERROR_OUT_OF_MEMORY;
  *library = (CUlibrary)h;
  return CUDA_SUCCESS;
}

EXPORT CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name) {
  return get_named((void **)hfunc, hmod, H_MODULE, H_FUNCTION, name);
}

EXPORT CUresult cuLibraryGetKernel(CUkernel *pKernel, CUlibrary library, const char *name) {
  return get_named((void **)pKernel, library, H_LIBRARY, H_KERNEL, name);
}

EXPORT CUresult cuKernelGetFunction(CUfunction *pFunc, CUkernel kernel) {
  if (!pFunc) return CUDA_ERROR_INVALID_VALUE;
  if (!handle_known(kernel, H_KERNEL, H_KERNEL)) return CUDA_ERROR_INVALID_HANDLE;
  struct handle *k = (struct handle *)kernel;
  pthread_mutex_lock(&g_lock);
  if (!k->function) k->function = new_handle_locked(H_FUNCTION, k, k->name);
  struct handle *f = k->function;
  pthread_mutex_unlock(&g_lock);
  if (!f) return CUDA_ERROR_OUT_OF_MEMORY;
  *pFunc = (CUfunction)f;
  return CUDA_SUCCESS;
}

/* ---- launches ------------------------------------------------------------ */

EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                               unsigned int gridDimZ, unsigned int blockDimX,
                               unsigned int blockDimY, unsigned int blockDimZ,
                               unsigned int sharedMemBytes, CUstream hStream, void **kernelParams,
                               void **extra) {
  (void)sharedMemBytes, (void)kernelParams, (void)extra;
  unsigned grid[3] = {gridDimX, gridDimY, gridDimZ};
  unsigned block[3] = {blockDimX, blockDimY, blockDimZ};
  return launch(CBID_cuLaunchKernel, f, grid, block, hStream);
}

EXPORT CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                    unsigned int gridDimZ, unsigned int blockDimX,
                                    unsigned int blockDimY, unsigned int blockDimZ,
                                    unsigned int sharedMemBytes, CUstream hStream,
                                    void **kernelParams, void **extra) {
  (void)sharedMemBytes, (void)kernelParams, (void)extra;
  unsigned grid[3] = {gridDimX, gridDimY, gridDimZ};
  unsigned block[3] = {blockDimX, blockDimY, blockDimZ};
  return launch(CBID_cuLaunchKernel_ptsz, f, grid, block, hStream);
}

EXPORT CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams,
                                 void **extra) {
  (void)kernelParams, (void)extra;
  return launch_ex(CBID_cuLaunchKernelEx, config, f);
}

EXPORT CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig *config, CUfunction f,
                                      void **kernelParams, void **extra) {
  (void)kernelParams, (void)extra;
  return launch_ex(CBID_cuLaunchKernelEx_ptsz, config, f);
}

/* ---- memory -------------------------------------------------------------- */

EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize) {
  return alloc_dev(dptr, bytesize);
}

EXPORT CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream) {
  (void)hStream;
  return alloc_dev(dptr, bytesize);
}

EXPORT CUresult cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUstream hStream) {
  (void)hStream;
  return alloc_dev(dptr, bytesize);
}

EXPORT CUresult cuMemAllocHost_v2(void **pp, size_t bytesize) {
  if (!pp) return CUDA_ERROR_INVALID_VALUE;
  void *p = do_alloc(bytesize, 1);
  if (!p) return CUDA_ERROR_OUT_OF_MEMORY;
  *pp = p;
  return CUDA_SUCCESS;
}

EXPORT CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags) {
  (void)flags;
  return alloc_dev(dptr, bytesize);
}

EXPORT CUresult cuMemFree_v2(CUdeviceptr dptr) { return do_free(P(dptr), 0); }

EXPORT CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream) {
  (void)hStream;
  return do_free(P(dptr), 0);
}

EXPORT CUresult cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream hStream) {
  (void)hStream;
  return do_free(P(dptr), 0);
}

EXPORT CUresult cuMemFreeHost(void *p) { return do_free(p, 1); }

EXPORT CUresult cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount) {
  return copy(P(dst), P(src), ByteCount);
}

EXPORT CUresult cuMemcpy_ptds(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount) {
  return copy(P(dst), P(src), ByteCount);
}

EXPORT CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount,
                              CUstream hStream) {
  (void)hStream;
  return copy(P(dst), P(src), ByteCount);
}

EXPORT CUresult cuMemcpyAsync_ptsz(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount,
                                   CUstream hStream) {
  (void)hStream;
  return copy(P(dst), P(src), ByteCount);
}

EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount) {
  return copy_kind(P(dstDevice), srcHost, ByteCount, CBID_cuMemcpyHtoD_v2, 1);
}

EXPORT CUresult cuMemcpyDtoH_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount) {
  return copy_kind(dstHost, P(srcDevice), ByteCount, CBID_cuMemcpyDtoH_v2, 2);
}

EXPORT CUresult cuMemcpyDtoD_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount) {
  return copy_kind(P(dstDevice), P(srcDevice), ByteCount, CBID_cuMemcpyDtoD_v2, 8);
}

EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount,
                                     CUstream hStream) {
  (void)hStream;
  return copy_kind(P(dstDevice), srcHost, ByteCount, CBID_cuMemcpyHtoD_v2, 1);
}

EXPORT CUresult cuMemcpyDtoHAsync_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount,
                                     CUstream hStream) {
  (void)hStream;
  return copy_kind(dstHost, P(srcDevice), ByteCount, CBID_cuMemcpyDtoH_v2, 2);
}

EXPORT CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount,
                                     CUstream hStream) {
  (void)hStream;
  return copy_kind(P(dstDevice), P(srcDevice), ByteCount, CBID_cuMemcpyDtoD_v2, 8);
}

EXPORT CUresult cuMemsetD8_v2(CUdeviceptr dstDevice, unsigned char uc, size_t N) {
  return set8(dstDevice, uc, N);
}

EXPORT CUresult cuMemsetD32_v2(CUdeviceptr dstDevice, unsigned int ui, size_t N) {
  return set32(dstDevice, ui, N);
}

EXPORT CUresult cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc, size_t N,
                                CUstream hStream) {
  (void)hStream;
  return set8(dstDevice, uc, N);
}

EXPORT CUresult cuMemsetD32Async(CUdeviceptr dstDevice, unsigned int ui, size_t N,
                                 CUstream hStream) {
  (void)hStream;
  return set32(dstDevice, ui, N);
}

/* ---- streams, events, synchronisation, graphs ----------------------------- */

EXPORT CUresult cuCtxSynchronize(void) { return sync_sleep(); }

EXPORT CUresult cuCtxSynchronize_v2(void) { return sync_sleep(); }

EXPORT CUresult cuStreamCreate(CUstream *phStream, unsigned int Flags) {
  (void)Flags;
  if (!phStream) return CUDA_ERROR_INVALID_VALUE;
  struct handle *h = new_handle(H_STREAM, NULL, NULL);
  if (!h) return CUDA_ERROR_OUT_OF_MEMORY;
  *phStream = (CUstream)h;
  return CUDA_SUCCESS;
}

EXPORT CUresult cuStreamSynchronize(CUstream hStream) {
  (void)hStream;
  return sync_sleep();
}

EXPORT CUresult cuStreamSynchronize_ptsz(CUstream hStream) {
  (void)hStream;
  return sync_sleep();
}

EXPORT CUresult cuEventCreate(CUevent *phEvent, unsigned int Flags) {
  (void)Flags;
  if (!phEvent) return CUDA_ERROR_INVALID_VALUE;
  struct handle *h = new_handle(H_EVENT, NULL, NULL);
  if (!h) return CUDA_ERROR_OUT_OF_MEMORY;
  *phEvent = (CUevent)h;
  return CUDA_SUCCESS;
}

EXPORT CUresult cuEventRecord(CUevent hEvent, CUstream hStream) {
  (void)hStream;
  return handle_known(hEvent, H_EVENT, H_EVENT) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

EXPORT CUresult cuEventSynchronize(CUevent hEvent) {
  (void)hEvent;
  return sync_sleep();
}

EXPORT CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream) {
  (void)hStream;
  return hGraphExec ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

EXPORT CUresult cuGraphLaunch_ptsz(CUgraphExec hGraphExec, CUstream hStream) {
  (void)hStream;
  return hGraphExec ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

EXPORT CUresult cuGetErrorString(CUresult error, const char **pStr) {
  if (!pStr) return CUDA_ERROR_INVALID_VALUE;
  switch (error) {
    case CUDA_SUCCESS:
      *pStr = "no error";
      break;
    case CUDA_ERROR_INVALID_VALUE:
      *pStr = "invalid argument";
      break;
    case CUDA_ERROR_OUT_OF_MEMORY:
      *pStr = "out of memory";
      break;
    case CUDA_ERROR_NOT_INITIALIZED:
      *pStr = "initialization error";
      break;
    case CUDA_ERROR_INVALID_HANDLE:
      *pStr = "invalid resource handle";
      break;
    case CUDA_ERROR_NOT_FOUND:
      *pStr = "named symbol not found";
      break;
    default:
      *pStr = NULL;
      return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}
