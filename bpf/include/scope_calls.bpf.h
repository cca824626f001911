/* Per-thread call state from a probed function's entry to its return, for
 * families whose state type has a `depth` field (llama, ggml). A probed call
 * made while another of the same map is in flight on the thread (a wrapper
 * calling the function it wraps, a graph compute calling the backend's) only
 * counts depth: the outermost call is the one reported. */
#ifndef SCOPE_CALLS_BPF_H
#define SCOPE_CALLS_BPF_H

#define SCOPE_CALL_STATE(type)                                                  \
  static struct type zero_##type;                                               \
  /* The state of a call entering; NULL when nested or when the map is full. */ \
  static __always_inline struct type *begin_##type(void *map, __u32 tid) {      \
    struct type *st = bpf_map_lookup_elem(map, &tid);                           \
    if (st) {                                                                   \
      if (st->depth < 255) st->depth++;                                         \
      return 0;                                                                 \
    }                                                                           \
    if (bpf_map_update_elem(map, &tid, &zero_##type, BPF_ANY)) return 0;        \
    return bpf_map_lookup_elem(map, &tid);                                      \
  }                                                                             \
  /* The state of the outermost call returning; NULL for a nested return. The   \
   * caller deletes the entry once done with it. */                             \
  static __always_inline struct type *end_##type(void *map, __u32 tid) {        \
    struct type *st = bpf_map_lookup_elem(map, &tid);                           \
    if (!st) return 0;                                                          \
    if (st->depth) {                                                            \
      st->depth--;                                                              \
      return 0;                                                                 \
    }                                                                           \
    return st;                                                                  \
  }

#endif
