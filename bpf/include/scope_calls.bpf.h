/* Per-thread call state from a probed function's entry to its return, for
 * families whose state type has `entry_sp` and `nested` fields (llama, ggml).
 * A probed call made while another of the same map is in flight on the thread
 * (a wrapper calling the function it wraps, a graph compute calling the
 * backend's) is part of it: it only sets its bit (1 << (call & 31)) in the
 * outer call's `nested`, and the outermost call is the one reported.
 *
 * Nesting is told by the stack pointer, not by counting entries and returns:
 * a return probe removed while its function runs (a detached link) or a
 * thread that unwinds past a probed call would leave a count wrong for good.
 * At a function's first instruction [sp] is its return address; the stack
 * grows down, so a call made inside it enters below that, and its own return
 * (sp = entry sp + 8) is the first return above it. */
#ifndef SCOPE_CALLS_BPF_H
#define SCOPE_CALLS_BPF_H

#define SCOPE_CALL_STATE(type)                                                                   \
  static struct type zero_##type;                                                                \
  /* The state of a call entering at stack pointer `sp`; NULL when nested inside an              \
   * outer call's, or when the map is full. State left by a call whose return was                \
   * never seen (sp at or above its entry) is started afresh. */                                 \
  static __always_inline struct type *begin_##type(void *map, __u32 tid, __u32 call, __u64 sp) { \
    struct type *st = bpf_map_lookup_elem(map, &tid);                                            \
    if (st && sp < st->entry_sp) {                                                               \
      st->nested |= 1u << (call & 31);                                                           \
      return 0;                                                                                  \
    }                                                                                            \
    if (bpf_map_update_elem(map, &tid, &zero_##type, BPF_ANY)) return 0;                         \
    st = bpf_map_lookup_elem(map, &tid);                                                         \
    if (st) st->entry_sp = sp;                                                                   \
    return st;                                                                                   \
  }                                                                                              \
  /* The state of the outermost call returning (stack pointer `sp` above its entry);             \
   * NULL for a nested call's return. The caller deletes the entry once done. */                 \
  static __always_inline struct type *end_##type(void *map, __u32 tid, __u64 sp) {               \
    struct type *st = bpf_map_lookup_elem(map, &tid);                                            \
    if (!st || sp <= st->entry_sp) return 0;                                                     \
    return st;                                                                                   \
  }

#endif
