/* Stand-in CUDA runtime (libcudart.so.13, and libcudart_static_standin.a).
 * Like the real runtime it does not link against libcuda: on its first call
 * it dlopen()s libcuda.so.1 and dlsym()s every driver function it uses, and
 * returns cudaErrorInsufficientDriver from every call when that fails.
 * Kernels registered with __cudaRegisterFunction are resolved at their first
 * launch: cuLibraryLoadData (once per fat binary), cuLibraryGetKernel,
 * cuKernelGetFunction; then cuLaunchKernel / cuLaunchKernelEx. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "standin_cuda.h"
#include "standin_cudart.h"

#define EXPORT __attribute__((noinline, noipa, used, visibility("default")))

/* ---- the driver, loaded at the first call --------------------------------- */

#define DRIVER_CALLS(X)       \
  X(cuInit)                   \
  X(cuDeviceGet)              \
  X(cuDeviceGetCount)         \
  X(cuDevicePrimaryCtxRetain) \
  X(cuLibraryLoadData)        \
  X(cuLibraryGetKernel)       \
  X(cuKernelGetFunction)      \
  X(cuLaunchKernel)           \
  X(cuLaunchKernel_ptsz)      \
  X(cuLaunchKernelEx)         \
  X(cuLaunchKernelEx_ptsz)    \
  X(cuMemAlloc_v2)            \
  X(cuMemAllocAsync)          \
  X(cuMemAllocAsync_ptsz)     \
  X(cuMemAllocHost_v2)        \
  X(cuMemAllocManaged)        \
  X(cuMemFree_v2)             \
  X(cuMemFreeAsync)           \
  X(cuMemFreeAsync_ptsz)      \
  X(cuMemFreeHost)            \
  X(cuMemcpy)                 \
  X(cuMemcpy_ptds)            \
  X(cuMemcpyAsync)            \
  X(cuMemcpyAsync_ptsz)       \
  X(cuMemcpyHtoD_v2)          \
  X(cuMemcpyDtoH_v2)          \
  X(cuMemcpyDtoD_v2)          \
  X(cuMemcpyHtoDAsync_v2)     \
  X(cuMemcpyDtoHAsync_v2)     \
  X(cuMemcpyDtoDAsync_v2)     \
  X(cuMemsetD8_v2)            \
  X(cuMemsetD8Async)          \
  X(cuCtxSynchronize_v2)      \
  X(cuStreamCreate)           \
  X(cuStreamSynchronize)      \
  X(cuStreamSynchronize_ptsz) \
  X(cuEventCreate)            \
  X(cuEventRecord)            \
  X(cuEventSynchronize)       \
  X(cuGraphLaunch)            \
  X(cuGraphLaunch_ptsz)

static struct {
#define FIELD(name) __typeof__(&name) name;
  DRIVER_CALLS(FIELD)
#undef FIELD
} drv;

static pthread_once_t g_init_once = PTHREAD_ONCE_INIT;
static cudaError_t g_init_error = cudaErrorInitializationError;
static __thread cudaError_t t_last_error;

/* dlopen("libcuda.so.1") as the real runtime does. When that fails, also try
 * beside this runtime and the build's lib dir: under ASan, dlopen is
 * intercepted and the caller's RUNPATH ($ORIGIN here) is not searched. */
static void *open_driver(void) {
  void *lib = dlopen("libcuda.so.1", RTLD_NOW);
#ifdef STANDIN_DLOPEN_ONLY /* exactly as the real runtime: the loader's search alone */
  return lib;
#endif
  if (lib) return lib;
  Dl_info info;
  if (dladdr((void *)&open_driver, &info) && info.dli_fname) {
    const char *slash = strrchr(info.dli_fname, '/');
    if (slash && slash - info.dli_fname < 4000) {
      char path[4096];
      memcpy(path, info.dli_fname, (size_t)(slash - info.dli_fname));
      strcpy(path + (slash - info.dli_fname), "/libcuda.so.1");
      if ((lib = dlopen(path, RTLD_NOW))) return lib;
    }
  }
#ifdef STANDIN_LIBDIR
  lib = dlopen(STANDIN_LIBDIR "/libcuda.so.1", RTLD_NOW);
#endif
  return lib;
}

static void init_driver(void) {
  void *lib = open_driver();
  if (!lib) {
    g_init_error = cudaErrorInsufficientDriver;
    return;
  }
#define LOAD(name)                              \
  *(void **)(&drv.name) = dlsym(lib, #name);    \
  if (!drv.name) {                              \
    g_init_error = cudaErrorInsufficientDriver; \
    return;                                     \
  }
  DRIVER_CALLS(LOAD)
#undef LOAD
  CUdevice dev;
  CUcontext ctx;
  if (drv.cuInit(0) != CUDA_SUCCESS || drv.cuDeviceGet(&dev, 0) != CUDA_SUCCESS ||
      drv.cuDevicePrimaryCtxRetain(&ctx, dev) != CUDA_SUCCESS) {
    g_init_error = cudaErrorInitializationError;
    return;
  }
  g_init_error = cudaSuccess;
}

static cudaError_t ensure_init(void) {
  pthread_once(&g_init_once, init_driver);
  return g_init_error;
}

static cudaError_t result(CUresult r) {
  cudaError_t e = (cudaError_t)r; /* the codes this stand-in uses are the same in both APIs */
  if (e != cudaSuccess) t_last_error = e;
  return e;
}

static cudaError_t fail(cudaError_t e) {
  t_last_error = e;
  return e;
}

#define INIT_OR_RETURN()                                  \
  do {                                                    \
    cudaError_t init_err_ = ensure_init();                \
    if (init_err_ != cudaSuccess) return fail(init_err_); \
  } while (0)

/* ---- registration ---------------------------------------------------------- */

#define MAX_FATBINS 256
#define MAX_FUNCTIONS 4096

struct fatbin {
  const void *data;
  CUlibrary library; /* loaded at the first launch of one of its kernels */
};

struct function {
  const void *host_fun;
  struct fatbin *fatbin;
  char *device_name;
  CUkernel kernel; /* resolved at the first launch or __cudaGetKernel */
  CUfunction fn;   /* resolved at the first launch */
};

static struct fatbin g_fatbins[MAX_FATBINS];
static unsigned g_fatbin_count;
static struct function g_functions[MAX_FUNCTIONS];
static unsigned g_function_count; /* published with a release store */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

EXPORT void **__cudaRegisterFatBinary(void *fatCubin) {
  pthread_mutex_lock(&g_lock);
  struct fatbin *fb = NULL;
  if (g_fatbin_count < MAX_FATBINS) {
    fb = &g_fatbins[g_fatbin_count++];
    const standin_fatbin_wrapper *w = fatCubin;
    fb->data = w ? w->data : NULL;
    fb->library = NULL;
  }
  pthread_mutex_unlock(&g_lock);
  return (void **)fb;
}

EXPORT void __cudaRegisterFatBinaryEnd(void **fatCubinHandle) { (void)fatCubinHandle; }

EXPORT void __cudaUnregisterFatBinary(void **fatCubinHandle) { (void)fatCubinHandle; }

EXPORT void __cudaRegisterFunction(void **fatCubinHandle, const char *hostFun, char *deviceFun,
                                   const char *deviceName, int thread_limit, void *tid, void *bid,
                                   void *bDim, void *gDim, int *wSize) {
  (void)deviceFun, (void)thread_limit, (void)tid, (void)bid, (void)bDim, (void)gDim, (void)wSize;
  if (!fatCubinHandle || !hostFun || !deviceName) return;
  pthread_mutex_lock(&g_lock);
  if (g_function_count < MAX_FUNCTIONS) {
    struct function *f = &g_functions[g_function_count];
    f->host_fun = hostFun;
    f->fatbin = (struct fatbin *)fatCubinHandle;
    f->device_name = strdup(deviceName);
    f->kernel = NULL;
    f->fn = NULL;
    __atomic_store_n(&g_function_count, g_function_count + 1, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&g_lock);
}

static struct function *find_function(const void *host_fun) {
  unsigned n = __atomic_load_n(&g_function_count, __ATOMIC_ACQUIRE);
  for (unsigned i = 0; i < n; i++)
    if (g_functions[i].host_fun == host_fun) return &g_functions[i];
  return NULL;
}

/* Called with g_lock held: the CUkernel of f (cuLibraryLoadData once per fat
 * binary, then cuLibraryGetKernel). */
static CUresult resolve_kernel_locked(struct function *f) {
  if (f->kernel) return CUDA_SUCCESS;
  CUresult r = CUDA_SUCCESS;
  if (!f->fatbin->library)
    r = drv.cuLibraryLoadData(&f->fatbin->library, f->fatbin->data, NULL, NULL, 0, NULL, NULL, 0);
  CUkernel k = NULL;
  if (r == CUDA_SUCCESS) r = drv.cuLibraryGetKernel(&k, f->fatbin->library, f->device_name);
  if (r == CUDA_SUCCESS) f->kernel = k;
  return r;
}

/* The CUfunction of a registered host stub, resolved at its first launch:
 * cuLibraryGetKernel, then cuKernelGetFunction. */
static cudaError_t lookup(const void *host_fun, CUfunction *out) {
  struct function *f = find_function(host_fun);
  if (!f) return cudaErrorInvalidDeviceFunction;
  CUfunction fn = __atomic_load_n(&f->fn, __ATOMIC_ACQUIRE);
  if (fn) {
    *out = fn;
    return cudaSuccess;
  }
  pthread_mutex_lock(&g_lock);
  CUresult r = CUDA_SUCCESS;
  if (!f->fn) {
    r = resolve_kernel_locked(f);
    if (r == CUDA_SUCCESS) r = drv.cuKernelGetFunction(&fn, f->kernel);
    if (r == CUDA_SUCCESS) __atomic_store_n(&f->fn, fn, __ATOMIC_RELEASE);
  }
  fn = f->fn;
  pthread_mutex_unlock(&g_lock);
  if (r != CUDA_SUCCESS) return (cudaError_t)r;
  *out = fn;
  return cudaSuccess;
}

/* ---- what nvcc 13 emits for kernel<<<...>>> (unless -D__NV_LEGACY_LAUNCH) -----
 * The stub pops the configuration pushed at the call site, gets the kernel's
 * cudaKernel_t (== CUkernel) once with __cudaGetKernel, and launches it with
 * __cudaLaunchKernel, which hands the CUkernel straight to cuLaunchKernel. */

#define MAX_CALL_CONFIGS 16
struct call_config {
  dim3 grid, block;
  size_t smem;
  cudaStream_t stream;
};
static __thread struct call_config t_configs[MAX_CALL_CONFIGS];
static __thread unsigned t_config_depth;

EXPORT unsigned __cudaPushCallConfiguration(dim3 gridDim, dim3 blockDim, size_t sharedMem,
                                            struct CUstream_st *stream) {
  if (t_config_depth >= MAX_CALL_CONFIGS) return 1;
  t_configs[t_config_depth++] = (struct call_config){gridDim, blockDim, sharedMem, stream};
  return 0;
}

EXPORT cudaError_t __cudaPopCallConfiguration(dim3 *gridDim, dim3 *blockDim, size_t *sharedMem,
                                              void *stream) {
  if (t_config_depth == 0) return fail(cudaErrorInvalidValue);
  struct call_config c = t_configs[--t_config_depth];
  *gridDim = c.grid;
  *blockDim = c.block;
  *sharedMem = c.smem;
  *(cudaStream_t *)stream = c.stream;
  return cudaSuccess;
}

EXPORT cudaError_t __cudaGetKernel(cudaKernel_t *kernel, const void *hostFun) {
  INIT_OR_RETURN();
  if (!kernel) return fail(cudaErrorInvalidValue);
  struct function *f = find_function(hostFun);
  if (!f) return fail(cudaErrorInvalidDeviceFunction);
  pthread_mutex_lock(&g_lock);
  CUresult r = resolve_kernel_locked(f);
  CUkernel k = f->kernel;
  pthread_mutex_unlock(&g_lock);
  if (r != CUDA_SUCCESS) return result(r);
  *kernel = (cudaKernel_t)k;
  return cudaSuccess;
}

static cudaError_t launch_kernel_handle(int ptsz, cudaKernel_t kernel, dim3 g, dim3 b, void **args,
                                        size_t smem, cudaStream_t stream) {
  INIT_OR_RETURN();
  if (!kernel) return fail(cudaErrorInvalidResourceHandle);
  __typeof__(&cuLaunchKernel) drv_launch = ptsz ? drv.cuLaunchKernel_ptsz : drv.cuLaunchKernel;
  return result(drv_launch((CUfunction)kernel, g.x, g.y, g.z, b.x, b.y, b.z, (unsigned)smem,
                           (CUstream)stream, args, NULL));
}

EXPORT cudaError_t __cudaLaunchKernel(cudaKernel_t kernel, dim3 gridDim, dim3 blockDim, void **args,
                                      size_t sharedMem, cudaStream_t stream) {
  return launch_kernel_handle(0, kernel, gridDim, blockDim, args, sharedMem, stream);
}

EXPORT cudaError_t __cudaLaunchKernel_ptsz(cudaKernel_t kernel, dim3 gridDim, dim3 blockDim,
                                           void **args, size_t sharedMem, cudaStream_t stream) {
  return launch_kernel_handle(1, kernel, gridDim, blockDim, args, sharedMem, stream);
}

/* ---- launches ---------------------------------------------------------------- */

static cudaError_t launch(int ptsz, const void *func, dim3 g, dim3 b, void **args, size_t smem,
                          cudaStream_t stream) {
  INIT_OR_RETURN();
  CUfunction fn;
  cudaError_t e = lookup(func, &fn);
  if (e != cudaSuccess) return fail(e);
  __typeof__(&cuLaunchKernel) drv_launch = ptsz ? drv.cuLaunchKernel_ptsz : drv.cuLaunchKernel;
  return result(
      drv_launch(fn, g.x, g.y, g.z, b.x, b.y, b.z, (unsigned)smem, (CUstream)stream, args, NULL));
}

static cudaError_t launch_ex(int ptsz, const cudaLaunchConfig_t *config, const void *func,
                             void **args) {
  INIT_OR_RETURN();
  if (!config) return fail(cudaErrorInvalidValue);
  CUfunction fn;
  cudaError_t e = lookup(func, &fn);
  if (e != cudaSuccess) return fail(e);
  CUlaunchConfig c = {
      .gridDimX = config->gridDim.x,
      .gridDimY = config->gridDim.y,
      .gridDimZ = config->gridDim.z,
      .blockDimX = config->blockDim.x,
      .blockDimY = config->blockDim.y,
      .blockDimZ = config->blockDim.z,
      .sharedMemBytes = (unsigned)config->dynamicSmemBytes,
      .hStream = (CUstream)config->stream,
      .attrs = (CUlaunchAttribute *)config->attrs,
      .numAttrs = config->numAttrs,
  };
  __typeof__(&cuLaunchKernelEx) drv_launch =
      ptsz ? drv.cuLaunchKernelEx_ptsz : drv.cuLaunchKernelEx;
  return result(drv_launch(&c, fn, args, NULL));
}

EXPORT cudaError_t cudaLaunchKernel(const void *func, dim3 gridDim, dim3 blockDim, void **args,
                                    size_t sharedMem, cudaStream_t stream) {
  return launch(0, func, gridDim, blockDim, args, sharedMem, stream);
}

EXPORT cudaError_t cudaLaunchKernel_ptsz(const void *func, dim3 gridDim, dim3 blockDim, void **args,
                                         size_t sharedMem, cudaStream_t stream) {
  return launch(1, func, gridDim, blockDim, args, sharedMem, stream);
}

EXPORT cudaError_t cudaLaunchKernelExC(const cudaLaunchConfig_t *config, const void *func,
                                       void **args) {
  return launch_ex(0, config, func, args);
}

EXPORT cudaError_t cudaLaunchKernelExC_ptsz(const cudaLaunchConfig_t *config, const void *func,
                                            void **args) {
  return launch_ex(1, config, func, args);
}

/* ---- memory -------------------------------------------------------------------- */

#define DP(p) ((CUdeviceptr)(uintptr_t)(p))

static cudaError_t alloc_out(CUresult r, void **out, const CUdeviceptr *d) {
  if (r == CUDA_SUCCESS) *out = (void *)(uintptr_t)*d;
  return result(r);
}

EXPORT cudaError_t cudaMalloc(void **devPtr, size_t size) {
  INIT_OR_RETURN();
  if (!devPtr) return fail(cudaErrorInvalidValue);
  CUdeviceptr d = 0;
  return alloc_out(drv.cuMemAlloc_v2(&d, size), devPtr, &d);
}

EXPORT cudaError_t cudaMallocAsync(void **devPtr, size_t size, cudaStream_t hStream) {
  INIT_OR_RETURN();
  if (!devPtr) return fail(cudaErrorInvalidValue);
  CUdeviceptr d = 0;
  return alloc_out(drv.cuMemAllocAsync(&d, size, (CUstream)hStream), devPtr, &d);
}

EXPORT cudaError_t cudaMallocAsync_ptsz(void **devPtr, size_t size, cudaStream_t hStream) {
  INIT_OR_RETURN();
  if (!devPtr) return fail(cudaErrorInvalidValue);
  CUdeviceptr d = 0;
  return alloc_out(drv.cuMemAllocAsync_ptsz(&d, size, (CUstream)hStream), devPtr, &d);
}

EXPORT cudaError_t cudaMallocHost(void **ptr, size_t size) {
  INIT_OR_RETURN();
  if (!ptr) return fail(cudaErrorInvalidValue);
  return result(drv.cuMemAllocHost_v2(ptr, size));
}

EXPORT cudaError_t cudaMallocManaged(void **devPtr, size_t size, unsigned int flags) {
  INIT_OR_RETURN();
  if (!devPtr) return fail(cudaErrorInvalidValue);
  CUdeviceptr d = 0;
  return alloc_out(drv.cuMemAllocManaged(&d, size, flags ? flags : 1u), devPtr, &d);
}

EXPORT cudaError_t cudaFree(void *devPtr) {
  INIT_OR_RETURN();
  if (!devPtr) return cudaSuccess; /* cudaFree(NULL): only initialises */
  return result(drv.cuMemFree_v2(DP(devPtr)));
}

EXPORT cudaError_t cudaFreeAsync(void *devPtr, cudaStream_t hStream) {
  INIT_OR_RETURN();
  return result(drv.cuMemFreeAsync(DP(devPtr), (CUstream)hStream));
}

EXPORT cudaError_t cudaFreeAsync_ptsz(void *devPtr, cudaStream_t hStream) {
  INIT_OR_RETURN();
  return result(drv.cuMemFreeAsync_ptsz(DP(devPtr), (CUstream)hStream));
}

EXPORT cudaError_t cudaFreeHost(void *ptr) {
  INIT_OR_RETURN();
  if (!ptr) return cudaSuccess;
  return result(drv.cuMemFreeHost(ptr));
}

static CUresult memcpy_sync(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind) {
  switch (kind) {
    case cudaMemcpyHostToDevice:
      return drv.cuMemcpyHtoD_v2(DP(dst), src, n);
    case cudaMemcpyDeviceToHost:
      return drv.cuMemcpyDtoH_v2(dst, DP(src), n);
    case cudaMemcpyDeviceToDevice:
      return drv.cuMemcpyDtoD_v2(DP(dst), DP(src), n);
    case cudaMemcpyHostToHost:
    case cudaMemcpyDefault:
      return drv.cuMemcpy(DP(dst), DP(src), n);
  }
  return cudaErrorInvalidMemcpyDirection;
}

static CUresult memcpy_async(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind,
                             CUstream s) {
  switch (kind) {
    case cudaMemcpyHostToDevice:
      return drv.cuMemcpyHtoDAsync_v2(DP(dst), src, n, s);
    case cudaMemcpyDeviceToHost:
      return drv.cuMemcpyDtoHAsync_v2(dst, DP(src), n, s);
    case cudaMemcpyDeviceToDevice:
      return drv.cuMemcpyDtoDAsync_v2(DP(dst), DP(src), n, s);
    case cudaMemcpyHostToHost:
    case cudaMemcpyDefault:
      return drv.cuMemcpyAsync(DP(dst), DP(src), n, s);
  }
  return cudaErrorInvalidMemcpyDirection;
}

EXPORT cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind) {
  INIT_OR_RETURN();
  return result(memcpy_sync(dst, src, count, kind));
}

EXPORT cudaError_t cudaMemcpy_ptds(void *dst, const void *src, size_t count,
                                   enum cudaMemcpyKind kind) {
  INIT_OR_RETURN();
  if ((unsigned)kind > cudaMemcpyDefault) return fail(cudaErrorInvalidMemcpyDirection);
  return result(drv.cuMemcpy_ptds(DP(dst), DP(src), count));
}

EXPORT cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count,
                                   enum cudaMemcpyKind kind, cudaStream_t stream) {
  INIT_OR_RETURN();
  return result(memcpy_async(dst, src, count, kind, (CUstream)stream));
}

EXPORT cudaError_t cudaMemcpyAsync_ptsz(void *dst, const void *src, size_t count,
                                        enum cudaMemcpyKind kind, cudaStream_t stream) {
  INIT_OR_RETURN();
  if ((unsigned)kind > cudaMemcpyDefault) return fail(cudaErrorInvalidMemcpyDirection);
  return result(drv.cuMemcpyAsync_ptsz(DP(dst), DP(src), count, (CUstream)stream));
}

EXPORT cudaError_t cudaMemset(void *devPtr, int value, size_t count) {
  INIT_OR_RETURN();
  return result(drv.cuMemsetD8_v2(DP(devPtr), (unsigned char)value, count));
}

EXPORT cudaError_t cudaMemset_ptds(void *devPtr, int value, size_t count) {
  INIT_OR_RETURN();
  return result(drv.cuMemsetD8_v2(DP(devPtr), (unsigned char)value, count));
}

EXPORT cudaError_t cudaMemsetAsync(void *devPtr, int value, size_t count, cudaStream_t stream) {
  INIT_OR_RETURN();
  return result(drv.cuMemsetD8Async(DP(devPtr), (unsigned char)value, count, (CUstream)stream));
}

EXPORT cudaError_t cudaMemsetAsync_ptsz(void *devPtr, int value, size_t count,
                                        cudaStream_t stream) {
  INIT_OR_RETURN();
  return result(drv.cuMemsetD8Async(DP(devPtr), (unsigned char)value, count, (CUstream)stream));
}

/* ---- synchronisation, streams, events, graphs ----------------------------------- */

EXPORT cudaError_t cudaDeviceSynchronize(void) {
  INIT_OR_RETURN();
  return result(drv.cuCtxSynchronize_v2());
}

EXPORT cudaError_t cudaStreamCreate(cudaStream_t *pStream) {
  INIT_OR_RETURN();
  if (!pStream) return fail(cudaErrorInvalidValue);
  return result(drv.cuStreamCreate((CUstream *)pStream, 0));
}

EXPORT cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  INIT_OR_RETURN();
  return result(drv.cuStreamSynchronize((CUstream)stream));
}

EXPORT cudaError_t cudaStreamSynchronize_ptsz(cudaStream_t stream) {
  INIT_OR_RETURN();
  return result(drv.cuStreamSynchronize_ptsz((CUstream)stream));
}

EXPORT cudaError_t cudaEventCreate(cudaEvent_t *event) {
  INIT_OR_RETURN();
  if (!event) return fail(cudaErrorInvalidValue);
  return result(drv.cuEventCreate((CUevent *)event, 0));
}

EXPORT cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  INIT_OR_RETURN();
  return result(drv.cuEventRecord((CUevent)event, (CUstream)stream));
}

EXPORT cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  INIT_OR_RETURN();
  return result(drv.cuEventSynchronize((CUevent)event));
}

EXPORT cudaError_t cudaGraphLaunch(cudaGraphExec_t graphExec, cudaStream_t stream) {
  INIT_OR_RETURN();
  return result(drv.cuGraphLaunch((CUgraphExec)graphExec, (CUstream)stream));
}

EXPORT cudaError_t cudaGraphLaunch_ptsz(cudaGraphExec_t graphExec, cudaStream_t stream) {
  INIT_OR_RETURN();
  return result(drv.cuGraphLaunch_ptsz((CUgraphExec)graphExec, (CUstream)stream));
}

/* ---- errors, devices ------------------------------------------------------------- */

EXPORT cudaError_t cudaGetLastError(void) {
  cudaError_t e = t_last_error;
  t_last_error = cudaSuccess;
  return e;
}

EXPORT const char *cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess:
      return "no error";
    case cudaErrorInvalidValue:
      return "invalid argument";
    case cudaErrorMemoryAllocation:
      return "out of memory";
    case cudaErrorInitializationError:
      return "initialization error";
    case cudaErrorInvalidMemcpyDirection:
      return "invalid copy direction for memcpy";
    case cudaErrorInsufficientDriver:
      return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorInvalidDeviceFunction:
      return "invalid device function";
    case cudaErrorInvalidResourceHandle:
      return "invalid resource handle";
    default:
      return "unrecognized error code";
  }
}

EXPORT cudaError_t cudaGetDeviceCount(int *count) {
  INIT_OR_RETURN();
  if (!count) return fail(cudaErrorInvalidValue);
  return result(drv.cuDeviceGetCount(count));
}
