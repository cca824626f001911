// A stand-in libggml-base.so from a version scope does not know: the CPU
// buffer functions exist under other names (ggml_aligned_malloc_v2, ...) and
// none of the functions scope probes is defined.
#include <stdlib.h>

void* ggml_aligned_malloc_v2(size_t size) {
  void* p = NULL;
  return posix_memalign(&p, 64, size) == 0 ? p : NULL;
}

void ggml_aligned_free_v2(void* ptr, size_t size) {
  (void)size;
  free(ptr);
}

int ggml_backend_graph_compute_v2(void* backend, void* graph) { return backend && graph ? 0 : 1; }
