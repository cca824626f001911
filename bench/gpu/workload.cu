// A CUDA C++ workload for bench/gpu/run.sh, built there with nvcc both with
// -cudart shared and with the static runtime (nvcc's default). Prints one
// JSON line with the operations it performed and the time per launch.
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

__global__ void empty_kernel() {}
__global__ void saxpy(int n, float a, const float* x, float* y) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}
namespace bench {
template <typename T>
__global__ void fill(T* p, T v, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) p[i] = v;
}
}  // namespace bench

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 100000;
  const int elems = 1 << 20;
  float *x, *y, *leak;
  cudaMalloc(&x, elems * sizeof(float));
  cudaMalloc(&y, elems * sizeof(float));
  bench::fill<float><<<elems / 256, 256>>>(x, 1.0f, elems);
  bench::fill<float><<<elems / 256, 256>>>(y, 2.0f, elems);
  float* host = static_cast<float*>(malloc(elems * sizeof(float)));
  cudaMemcpy(host, x, elems * sizeof(float), cudaMemcpyDeviceToHost);
  cudaMemcpy(y, host, elems * sizeof(float), cudaMemcpyHostToDevice);
  saxpy<<<elems / 256, 256>>>(elems, 3.0f, x, y);
  cudaDeviceSynchronize();
  for (int i = 0; i < 100; ++i) empty_kernel<<<1, 32>>>();  // warm-up
  cudaDeviceSynchronize();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) empty_kernel<<<1, 32>>>();
  cudaDeviceSynchronize();
  double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  cudaMalloc(&leak, 1 << 20);  // never freed: scope must report it
  cudaFree(x);
  cudaFree(y);
  cudaError_t err = cudaGetLastError();
  printf(
      "{\"launches\":%d,\"empty_kernel\":%d,\"allocs\":3,\"frees\":2,\"memcpy\":2,\"syncs\":3,"
      "\"leak_bytes\":%d,\"us_per_launch\":%.3f,\"error\":\"%s\"}\n",
      n + 100 + 3, n + 100, 1 << 20, us / n, cudaGetErrorString(err));
  free(host);
  return err == cudaSuccess ? 0 : 1;
}
