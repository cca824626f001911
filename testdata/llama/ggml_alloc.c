// Loads a ggml library with dlopen and allocates CPU buffers through its
// ggml_aligned_malloc, freeing all but --leak of them with ggml_aligned_free:
// the allocation pattern of a ggml program, with a known leak. Prints what it
// did as one JSON line. With --loop N it instead times N malloc+free pairs of
// 4 KiB on its thread's CPU clock (what a probe's traps add to each).
//
//   ggml_alloc LIB [--allocs N] [--leak N] [--malloc NAME] [--free NAME] [--loop N]
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef void* (*malloc_fn)(size_t);
typedef void (*free_fn)(void*, size_t);

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr,
            "usage: ggml_alloc LIB [--allocs N] [--leak N] [--malloc NAME] [--free NAME] "
            "[--loop N]\n");
    return 2;
  }
  int allocs = 8, leak = 0;
  long loop = 0;
  const char* malloc_name = "ggml_aligned_malloc";
  const char* free_name = "ggml_aligned_free";
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--allocs"))
      allocs = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--leak"))
      leak = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--malloc"))
      malloc_name = argv[i + 1];
    else if (!strcmp(argv[i], "--free"))
      free_name = argv[i + 1];
    else if (!strcmp(argv[i], "--loop"))
      loop = atol(argv[i + 1]);
    else {
      fprintf(stderr, "ggml_alloc: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (allocs < 0 || allocs > 1024 || leak < 0 || leak > allocs) {
    fprintf(stderr, "ggml_alloc: bad --allocs/--leak\n");
    return 2;
  }
  void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "ggml_alloc: %s\n", dlerror());
    return 1;
  }
  malloc_fn do_malloc = (malloc_fn)dlsym(lib, malloc_name);
  free_fn do_free = (free_fn)dlsym(lib, free_name);
  if (!do_malloc || !do_free) {
    fprintf(stderr, "ggml_alloc: %s or %s not in %s\n", malloc_name, free_name, argv[1]);
    return 1;
  }
  if (loop > 0) {
    struct timespec a, b;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    for (long i = 0; i < loop; i++) {
      void* p = do_malloc(4096);
      if (!p) return 1;
      do_free(p, 4096);
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
    printf("{\"pairs\":%ld,\"cpu_ns_per_pair\":%.1f,\"pid\":%d}\n", loop, ns / (double)loop,
           (int)getpid());
    return 0;
  }
  void* ptrs[1024];
  size_t sizes[1024];
  for (int i = 0; i < allocs; i++) {
    sizes[i] = 4096 * (size_t)(i + 1);
    ptrs[i] = do_malloc(sizes[i]);
    if (!ptrs[i]) return 1;
    memset(ptrs[i], 0, sizes[i]);
  }
  size_t leaked = 0;
  printf("{\"allocs\":%d,\"frees\":%d,\"leaked\":[", allocs, allocs - leak);
  for (int i = 0; i < allocs; i++) {
    if (i >= allocs - leak) {
      printf("%s{\"ptr\":\"%p\",\"bytes\":%zu}", leaked ? "," : "", ptrs[i], sizes[i]);
      leaked += sizes[i];
      continue;
    }
    do_free(ptrs[i], sizes[i]);
  }
  printf("],\"leaked_bytes\":%zu,\"pid\":%d}\n", leaked, (int)getpid());
  return 0;
}
