/* late_dlopen LIBDIR: starts with no CUDA library mapped, sleeps 200 ms, then
 * dlopen()s LIBDIR/libcudart.so.13 by absolute path and, through dlsym,
 * registers "late_kernel", cudaMalloc(4096), launches it once,
 * cudaDeviceSynchronize, cudaFree. Prints "done". */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <time.h>

#include "standin_cudart.h"

__attribute__((noinline, noipa)) void late_kernel(void) {}

static const unsigned char fatbin_data[16];
static standin_fatbin_wrapper fatbin_wrapper = {0x466243b1, 1, fatbin_data, NULL};

#define SYM(var, name)                                                 \
  __typeof__(&name) var = (__typeof__(&name))dlsym(lib, #name);        \
  if (!var) {                                                          \
    fprintf(stderr, "late_dlopen: dlsym(%s): %s\n", #name, dlerror()); \
    return 1;                                                          \
  }

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: late_dlopen LIBDIR\n");
    return 2;
  }
  struct timespec ts = {0, 200 * 1000 * 1000};
  nanosleep(&ts, NULL);
  char path[4096];
  snprintf(path, sizeof path, "%s/libcudart.so.13", argv[1]);
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "late_dlopen: dlopen(%s): %s\n", path, dlerror());
    return 1;
  }
  SYM(reg_fatbin, __cudaRegisterFatBinary);
  SYM(reg_function, __cudaRegisterFunction);
  SYM(reg_end, __cudaRegisterFatBinaryEnd);
  SYM(malloc_, cudaMalloc);
  SYM(launch, cudaLaunchKernel);
  SYM(sync, cudaDeviceSynchronize);
  SYM(free_, cudaFree);
  void **h = reg_fatbin(&fatbin_wrapper);
  reg_function(h, (const char *)&late_kernel, (char *)"late_kernel", "late_kernel", -1, NULL, NULL,
               NULL, NULL, NULL);
  reg_end(h);
  int rc = 0;
  void *dev = NULL;
  cudaError_t e;
  if ((e = malloc_(&dev, 4096)) != cudaSuccess) fprintf(stderr, "cudaMalloc: %d\n", e), rc = 1;
  dim3 grid = {1, 1, 1}, block = {64, 1, 1};
  if ((e = launch((const void *)&late_kernel, grid, block, NULL, 0, NULL)) != cudaSuccess)
    fprintf(stderr, "cudaLaunchKernel: %d\n", e), rc = 1;
  if ((e = sync()) != cudaSuccess) fprintf(stderr, "cudaDeviceSynchronize: %d\n", e), rc = 1;
  if ((e = free_(dev)) != cudaSuccess) fprintf(stderr, "cudaFree: %d\n", e), rc = 1;
  printf("done\n");
  return rc;
}
