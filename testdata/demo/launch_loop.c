/* launch_loop N [threads]: the launch-overhead benchmark. Registers one kernel,
 * then each thread calls cudaLaunchKernel N times. Prints
 *   ns_per_launch <wall ns / N, i.e. the mean latency of one launch in a thread>
 *   launches <N * threads> */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "standin_cudart.h"

__attribute__((noinline, noipa)) void loop_kernel(void) {}

static const unsigned char fatbin_data[16];
static standin_fatbin_wrapper fatbin_wrapper = {0x466243b1, 1, fatbin_data, NULL};

__attribute__((constructor)) static void register_kernels(void) {
  void **h = __cudaRegisterFatBinary(&fatbin_wrapper);
  __cudaRegisterFunction(h, (const char *)&loop_kernel, (char *)"loop_kernel", "loop_kernel", -1,
                         NULL, NULL, NULL, NULL, NULL);
  __cudaRegisterFatBinaryEnd(h);
}

static long g_n;
static long g_errors;

static void *run(void *arg) {
  (void)arg;
  dim3 grid = {1, 1, 1}, block = {32, 1, 1};
  long errors = 0;
  for (long i = 0; i < g_n; i++)
    if (cudaLaunchKernel((const void *)&loop_kernel, grid, block, NULL, 0, NULL) != cudaSuccess)
      errors++;
  __atomic_add_fetch(&g_errors, errors, __ATOMIC_RELAXED);
  return NULL;
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: launch_loop N [threads]\n");
    return 2;
  }
  g_n = atol(argv[1]);
  int threads = argc == 3 ? atoi(argv[2]) : 1;
  if (g_n < 1 || threads < 1 || threads > 1024) {
    fprintf(stderr, "launch_loop: bad arguments\n");
    return 2;
  }
  int count = 0; /* initialises the runtime outside the timed loop; not a probed call */
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    fprintf(stderr, "launch_loop: no CUDA driver\n");
    return 1;
  }
  pthread_t *tids = calloc((size_t)threads, sizeof *tids);
  if (!tids) return 1;
  double start = now_ns();
  if (threads == 1) {
    run(NULL);
  } else {
    for (int t = 0; t < threads; t++) pthread_create(&tids[t], NULL, run, NULL);
    for (int t = 0; t < threads; t++) pthread_join(tids[t], NULL);
  }
  double elapsed = now_ns() - start;
  free(tids);
  printf("ns_per_launch %.1f\n", elapsed / (double)g_n);
  printf("launches %ld\n", g_n * threads);
  if (g_errors) {
    fprintf(stderr, "launch_loop: %ld launches failed\n", g_errors);
    return 1;
  }
  return 0;
}
