/* What every probe family does with its events: count those the kernel could
 * not deliver (never lose one quietly) and wake the reader only in batches. */
#ifndef SCOPE_EVENTS_BPF_H
#define SCOPE_EVENTS_BPF_H

/* A per-CPU array `dropped` of `slots` counters (one per cause) and
 * count_drop(cause), which the agent sums and reports as `dropped`. */
#define SCOPE_DROPPED_COUNTERS(slots)                         \
  struct {                                                    \
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                  \
    __uint(max_entries, slots);                               \
    __type(key, __u32);                                       \
    __type(value, __u64);                                     \
  } dropped SEC(".maps");                                     \
  static __always_inline void count_drop(__u32 cause) {       \
    __u64 *n = bpf_map_lookup_elem(&dropped, &cause);         \
    if (n) *n += 1;                                           \
  }

/* Submit flags for `ring`: wake the reader only once `threshold` bytes are
 * pending; it polls every few milliseconds meanwhile. */
#define SCOPE_SUBMIT_FLAGS(ring, threshold)                                   \
  (bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) >= (threshold) ? BPF_RB_FORCE_WAKEUP \
                                                              : BPF_RB_NO_WAKEUP)

#endif
