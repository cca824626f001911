// real_cuda: a real CUDA program for the GPU machine. saxpy on 1024 floats;
// prints every error and exits 0 regardless (so tracing works without a GPU).
#include <cstdio>
#include <cuda_runtime.h>

__global__ void saxpy(int n, float a, const float *x, float *y) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}

static void report(cudaError_t e, const char *what) {
  if (e != cudaSuccess) std::printf("error: %s: %s (%d)\n", what, cudaGetErrorString(e), (int)e);
}

int main() {
  const int n = 1024;
  static float hx[n], hy[n];
  for (int i = 0; i < n; i++) hx[i] = 1.0f, hy[i] = 2.0f;
  float *d = nullptr;
  report(cudaMalloc(&d, 2 * n * sizeof(float)), "cudaMalloc");
  float *dx = d, *dy = d ? d + n : nullptr;
  report(cudaMemcpy(dx, hx, n * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy HtoD x");
  report(cudaMemcpy(dy, hy, n * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy HtoD y");
  saxpy<<<4, 256>>>(n, 3.0f, dx, dy);
  report(cudaGetLastError(), "saxpy launch");
  report(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  report(cudaMemcpy(hy, dy, n * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy DtoH");
  report(cudaFree(d), "cudaFree");
  std::printf("y[0] = %g (expect 5)\n", hy[0]);
  return 0;
}
