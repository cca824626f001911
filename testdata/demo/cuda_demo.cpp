// cuda_demo: a CUDA program as nvcc would build it, against the stand-in
// runtime (libcudart.so.13, or libcudart_static_standin.a for
// cuda_demo_static). Kernels are registered from a static constructor exactly
// as nvcc-generated code does, and launched through their host stubs. A
// driver-direct path (like cuBLAS) dlopens libcuda.so.1 itself.
//
// Flags: --threads N (4)  --iterations M (10)  --loop  --no-leak  --exit-code C
//        --nvcc13-launch (stubs use __cudaGetKernel + __cudaLaunchKernel, as nvcc 13 does)
// At exit it prints one `expect {...}` line with the operations it performed.
#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "standin_cuda.h"
#include "standin_cudart.h"

namespace {

std::atomic<long> n_runtime_launches{0}, n_driver_launches{0}, n_allocs{0}, n_frees{0}, n_memcpy{0},
    n_memset{0}, n_syncs{0}, n_graph_launches{0}, n_errors{0};

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

void check(cudaError_t e, const char *what) {
  if (e != cudaSuccess) {
    n_errors++;
    std::fprintf(stderr, "cuda_demo: %s: %s (%d)\n", what, cudaGetErrorString(e), e);
  }
}

void check_drv(CUresult r, const char *what) {
  if (r != CUDA_SUCCESS) {
    n_errors++;
    std::fprintf(stderr, "cuda_demo: %s: CUresult %d\n", what, r);
  }
}

// false: stubs launch with cudaLaunchKernel(hostFun, ...) (nvcc <= 12, or
// nvcc 13 with -D__NV_LEGACY_LAUNCH). true (--nvcc13-launch): as nvcc 13 emits
// by default, __cudaGetKernel(&k, hostFun) once per stub, then
// __cudaLaunchKernel(k, ...), which passes the CUkernel to cuLaunchKernel.
bool g_nvcc13_launch = false;

// For the cudaLaunchKernelExC kernel, whose launch config the caller builds.
struct CallConfig {
  dim3 grid;
  dim3 block;
  size_t smem;
  cudaStream_t stream;
};
thread_local CallConfig t_cfg;

// What `kernel<<<grid, block, smem, stream>>>` does before calling the stub.
void push_config(dim3 grid, dim3 block, size_t smem, cudaStream_t stream) {
  t_cfg = CallConfig{grid, block, smem, stream};
  __cudaPushCallConfiguration(grid, block, smem, stream);
}

// The body of an nvcc host stub: pop the configuration and launch.
cudaError_t stub_launch(const void *host_fun, cudaKernel_t *handle, void **args) {
  dim3 grid, block;
  size_t smem;
  cudaStream_t stream;
  cudaError_t e = __cudaPopCallConfiguration(&grid, &block, &smem, &stream);
  if (e != cudaSuccess) return e;
  if (!g_nvcc13_launch) return cudaLaunchKernel(host_fun, grid, block, args, smem, stream);
  if (!__atomic_load_n(handle, __ATOMIC_ACQUIRE)) {
    cudaKernel_t k = nullptr;
    e = __cudaGetKernel(&k, host_fun);
    if (e != cudaSuccess) return e;
    __atomic_store_n(handle, k, __ATOMIC_RELEASE);
  }
  return __cudaLaunchKernel(*handle, grid, block, args, smem, stream);
}

}  // namespace

// ---- kernels: host stubs as nvcc emits them -------------------------------

// vector_add(float*, float*, int) -> _Z10vector_addPfS_i
__attribute__((noinline, noipa)) void vector_add(float *a, float *b, int n) {
  static cudaKernel_t handle;
  void *args[] = {&a, &b, &n};
  check(stub_launch((const void *)&vector_add, &handle, args), "launch vector_add");
}

namespace scope_demo {

// scope_demo::scale<float>(float*, float, int) -> _ZN10scope_demo5scaleIfEEvPT_S1_i
template <typename T>
__attribute__((noinline, noipa)) void scale(T *x, T factor, int n) {
  static cudaKernel_t handle;
  void *args[] = {&x, &factor, &n};
  check(stub_launch((const void *)&scale<T>, &handle, args), "launch scale<float>");
}
template void scale<float>(float *, float, int);

// scope_demo::matmul_tile(float const*, float const*, float*, int)
//   -> _ZN10scope_demo11matmul_tileEPKfS1_Pfi ; launched with cudaLaunchKernelExC
__attribute__((noinline, noipa)) void matmul_tile(const float *a, const float *b, float *c, int n) {
  void *args[] = {&a, &b, &c, &n};
  dim3 pushed_grid, pushed_block;  // pop what the caller pushed; the config is built explicitly
  size_t smem;
  cudaStream_t stream;
  __cudaPopCallConfiguration(&pushed_grid, &pushed_block, &smem, &stream);
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = t_cfg.grid;
  cfg.blockDim = t_cfg.block;
  cfg.dynamicSmemBytes = t_cfg.smem;
  cfg.stream = t_cfg.stream;
  check(cudaLaunchKernelExC(&cfg, (const void *)&matmul_tile, args), "cudaLaunchKernelExC");
}

}  // namespace scope_demo

// ---- registration, as in nvcc's *.cudafe1.stub.c ---------------------------

namespace {

const unsigned char fatbin_data[64] = {0x50, 0xed, 0x55, 0xba, 0x01, 0x00, 0x10, 0x00};
standin_fatbin_wrapper fatbin_wrapper = {0x466243b1, 1, fatbin_data, nullptr};
void **fatbin_handle;

void unregister_binary() { __cudaUnregisterFatBinary(fatbin_handle); }

__attribute__((constructor)) void register_kernels() {
  fatbin_handle = __cudaRegisterFatBinary(&fatbin_wrapper);
  __cudaRegisterFunction(fatbin_handle, (const char *)&vector_add, (char *)"_Z10vector_addPfS_i",
                         "_Z10vector_addPfS_i", -1, nullptr, nullptr, nullptr, nullptr, nullptr);
  __cudaRegisterFunction(fatbin_handle, (const char *)&scope_demo::scale<float>,
                         (char *)"_ZN10scope_demo5scaleIfEEvPT_S1_i",
                         "_ZN10scope_demo5scaleIfEEvPT_S1_i", -1, nullptr, nullptr, nullptr,
                         nullptr, nullptr);
  __cudaRegisterFunction(fatbin_handle, (const char *)&scope_demo::matmul_tile,
                         (char *)"_ZN10scope_demo11matmul_tileEPKfS1_Pfi",
                         "_ZN10scope_demo11matmul_tileEPKfS1_Pfi", -1, nullptr, nullptr, nullptr,
                         nullptr, nullptr);
  __cudaRegisterFatBinaryEnd(fatbin_handle);
  std::atexit(unregister_binary);
}

// ---- the driver-direct path (what cuBLAS does) ------------------------------

void driver_direct(cudaStream_t stream) {
  void *lib = dlopen("libcuda.so.1", RTLD_NOW);
#ifdef STANDIN_LIBDIR
  if (!lib) lib = dlopen(STANDIN_LIBDIR "/libcuda.so.1", RTLD_NOW);  // ASan: RUNPATH not searched
#endif
  if (!lib) {
    n_errors++;
    std::fprintf(stderr, "cuda_demo: dlopen(libcuda.so.1): %s\n", dlerror());
    return;
  }
  auto load = reinterpret_cast<decltype(&cuModuleLoadData)>(dlsym(lib, "cuModuleLoadData"));
  auto get = reinterpret_cast<decltype(&cuModuleGetFunction)>(dlsym(lib, "cuModuleGetFunction"));
  auto launch = reinterpret_cast<decltype(&cuLaunchKernel)>(dlsym(lib, "cuLaunchKernel"));
  auto launch_ex = reinterpret_cast<decltype(&cuLaunchKernelEx)>(dlsym(lib, "cuLaunchKernelEx"));
  if (!load || !get || !launch || !launch_ex) {
    n_errors++;
    std::fprintf(stderr, "cuda_demo: dlsym failed\n");
    return;
  }
  CUmodule mod = nullptr;
  CUfunction f = nullptr;
  check_drv(load(&mod, fatbin_data), "cuModuleLoadData");
  check_drv(get(&f, mod, "_Z11cublas_gemmv"), "cuModuleGetFunction");
  void *params[] = {nullptr};
  check_drv(launch(f, 4, 4, 1, 16, 16, 1, 512, (CUstream)stream, params, nullptr),
            "cuLaunchKernel");
  n_driver_launches++;
  CUlaunchConfig cfg{};
  cfg.gridDimX = 2;
  cfg.gridDimY = 1;
  cfg.gridDimZ = 1;
  cfg.blockDimX = 64;
  cfg.blockDimY = 1;
  cfg.blockDimZ = 1;
  cfg.sharedMemBytes = 0;
  cfg.hStream = (CUstream)stream;
  check_drv(launch_ex(&cfg, f, params, nullptr), "cuLaunchKernelEx");
  n_driver_launches++;
}

struct Options {
  int threads = 4;
  int iterations = 10;
  bool loop = false;
  bool leak = true;
  int exit_code = 0;
};

std::atomic<int> g_first_iteration_done{0};
int g_graph_exec_storage;
void *g_leaked;  // still referenced: LeakSanitizer (asan preset) does not call it a leak

// One iteration of thread t.
void iteration(int t, cudaStream_t stream, float *host_a, float *host_b) {
  push_config(dim3{(unsigned)t + 1, 2, 1}, dim3{128, 1, 1}, 256 * (size_t)(t + 1), stream);
  vector_add(host_a, host_b, 1024);
  n_runtime_launches++;
  push_config(dim3{64, 1, 1}, dim3{256, 1, 1}, 0, stream);
  scope_demo::scale<float>(host_a, 2.0f, 1024);
  n_runtime_launches++;
  push_config(dim3{8, 8, 1}, dim3{32, 4, 1}, 1024, stream);
  scope_demo::matmul_tile(host_a, host_b, host_a, 32);
  n_runtime_launches++;

  void *dev = nullptr;
  check(cudaMalloc(&dev, (size_t(1) << 20) * (size_t)(t + 1)), "cudaMalloc");
  n_allocs++;
  char *d = static_cast<char *>(dev);
  check(cudaMemcpy(d, host_a, 4096, cudaMemcpyHostToDevice), "cudaMemcpy HtoD");
  check(cudaMemcpy(host_b, d, 4096, cudaMemcpyDeviceToHost), "cudaMemcpy DtoH");
  check(cudaMemcpy(d + 8192, d, 4096, cudaMemcpyDeviceToDevice), "cudaMemcpy DtoD");
  check(cudaMemcpy(d + 16384, host_a, 4096, cudaMemcpyDefault), "cudaMemcpy Default");
  check(cudaMemcpyAsync(d + 32768, host_a, 8192, cudaMemcpyHostToDevice, stream),
        "cudaMemcpyAsync HtoD");
  n_memcpy += 5;
  check(cudaMemset(d, 0, 4096), "cudaMemset");
  check(cudaMemsetAsync(d + 4096, 1, 4096, stream), "cudaMemsetAsync");
  n_memset += 2;
  check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  n_syncs++;
  check(cudaFree(dev), "cudaFree");
  n_frees++;
}

void worker(int t, const Options *opt) {
  std::vector<float> a(4096, 1.0f), b(4096, 0.0f);  // 16 KiB each
  cudaStream_t stream = nullptr;
  check(cudaStreamCreate(&stream), "cudaStreamCreate");

  // Once per thread.
  void *host = nullptr;
  check(cudaMallocHost(&host, 65536), "cudaMallocHost");
  n_allocs++;
  check(cudaFreeHost(host), "cudaFreeHost");
  n_frees++;
  void *managed = nullptr;
  check(cudaMallocManaged(&managed, 1 << 16, 1), "cudaMallocManaged");
  n_allocs++;
  check(cudaFree(managed), "cudaFree(managed)");
  n_frees++;
  void *async = nullptr;
  check(cudaMallocAsync(&async, 1 << 15, stream), "cudaMallocAsync");
  n_allocs++;
  check(cudaFreeAsync(async, stream), "cudaFreeAsync");
  n_frees++;
  cudaEvent_t event = nullptr;
  check(cudaEventCreate(&event), "cudaEventCreate");
  check(cudaEventRecord(event, stream), "cudaEventRecord");
  check(cudaEventSynchronize(event), "cudaEventSynchronize");
  n_syncs++;
  check(cudaGraphLaunch(reinterpret_cast<cudaGraphExec_t>(&g_graph_exec_storage), stream),
        "cudaGraphLaunch");
  n_graph_launches++;
  driver_direct(stream);

  for (int i = 0; opt->loop ? !g_stop : i < opt->iterations; i++) {
    iteration(t, stream, a.data(), b.data());
    if (i == 0 && opt->loop && ++g_first_iteration_done == opt->threads) {
      std::printf("ready %d\n", (int)getpid());
      std::fflush(stdout);
    }
  }
}

int parse_int(const char *s, const char *flag) {
  char *end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (!*s || *end || v < 0 || v > 1000000) {
    std::fprintf(stderr, "cuda_demo: bad value for %s: %s\n", flag, s);
    std::exit(2);
  }
  return (int)v;
}

}  // namespace

int main(int argc, char **argv) {
  Options opt;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!std::strcmp(a, "--threads") && i + 1 < argc) {
      opt.threads = parse_int(argv[++i], a);
    } else if (!std::strcmp(a, "--iterations") && i + 1 < argc) {
      opt.iterations = parse_int(argv[++i], a);
    } else if (!std::strcmp(a, "--exit-code") && i + 1 < argc) {
      opt.exit_code = parse_int(argv[++i], a);
    } else if (!std::strcmp(a, "--loop")) {
      opt.loop = true;
    } else if (!std::strcmp(a, "--nvcc13-launch")) {
      g_nvcc13_launch = true;
    } else if (!std::strcmp(a, "--no-leak")) {
      opt.leak = false;
    } else {
      std::fprintf(stderr,
                   "usage: cuda_demo [--threads N] [--iterations M] [--loop] [--no-leak] "
                   "[--exit-code C] [--nvcc13-launch]\n");
      return 2;
    }
  }
  if (opt.threads < 1) opt.threads = 1;
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);

  std::vector<std::thread> threads;
  for (int t = 0; t < opt.threads; t++) threads.emplace_back(worker, t, &opt);
  for (auto &th : threads) th.join();

  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  n_syncs++;
  if (opt.leak) {
    check(cudaMalloc(&g_leaked, 3 * 1048576), "cudaMalloc(leak)");
    n_allocs++;
    std::printf("leak 0x%llx 3145728\n", (unsigned long long)(uintptr_t)g_leaked);
  }
  long r = n_runtime_launches, dl = n_driver_launches;
  std::printf(
      "expect {\"launches\":%ld,\"runtime_launches\":%ld,\"driver_launches\":%ld,\"allocs\":%ld,"
      "\"frees\":%ld,\"memcpy\":%ld,\"memset\":%ld,\"syncs\":%ld,\"graph_launches\":%ld}\n",
      r + dl, r, dl, n_allocs.load(), n_frees.load(), n_memcpy.load(), n_memset.load(),
      n_syncs.load(), n_graph_launches.load());
  std::fflush(stdout);
  if (n_errors) {
    std::fprintf(stderr, "cuda_demo: %ld errors\n", n_errors.load());
    return 1;
  }
  return opt.exit_code;
}
