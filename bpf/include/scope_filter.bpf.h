/* The traced-process filter every probe family shares. The agent creates the
 * `traced` map once (bpf/targets.bpf.c keeps it: children inherit, exits
 * leave) and hands it to every skeleton with bpf_map__reuse_fd; the comm and
 * cgroup to match are written into each skeleton's .rodata before load. */
#ifndef SCOPE_FILTER_BPF_H
#define SCOPE_FILTER_BPF_H

#define SCOPE_COMM_LEN 16

/* Flags of a traced tgid. */
#define TRACED_ON 1u
#define TRACED_HOLD 2u /* stop at exec and dlopen until the agent has attached */
/* scope's own launcher, between its fork and the command's exec: not traced until that exec
 * (its pipe read and signal resets are not the command's calls). */
#define TRACED_AFTER_EXEC 4u

const volatile bool filter_enabled = false; /* only tgids in `traced`, or matching below */
const volatile bool filter_comm = false;
const volatile char targ_comm[SCOPE_COMM_LEN] = {};
const volatile __u64 targ_cgroup = 0; /* cgroup v2 id (the directory's inode); 0: any */
/* scope itself: never traced (its own opens and writes would feed its store). */
const volatile __u32 filter_skip_tgid = 0;

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, __u32);   /* tgid */
  __type(value, __u32); /* TRACED_* */
} traced SEC(".maps");

/* Whether the current task matches --comm/--cgroup (both, when both are given). */
static __always_inline bool matches_current(void) {
  if (!filter_comm && !targ_cgroup) return false;
  if (targ_cgroup && bpf_get_current_cgroup_id() != targ_cgroup) return false;
  if (filter_comm) {
    char comm[SCOPE_COMM_LEN];
    bpf_get_current_comm(comm, sizeof(comm));
    for (int i = 0; i < SCOPE_COMM_LEN; i++) {
      if (comm[i] != targ_comm[i]) return false;
      if (comm[i] == 0) break;
    }
  }
  return true;
}

/* Whether the current process (tgid) is traced; a match by comm or cgroup is
 * remembered so later checks are one lookup. */
static __always_inline bool is_traced(__u32 tgid) {
  if (tgid == filter_skip_tgid) return false;
  if (!filter_enabled) return true;
  __u32 *flags = bpf_map_lookup_elem(&traced, &tgid);
  if (flags) return !(*flags & TRACED_AFTER_EXEC);
  if (!matches_current()) return false;
  __u32 on = TRACED_ON;
  bpf_map_update_elem(&traced, &tgid, &on, BPF_NOEXIST);
  return true;
}

/* is_traced at an exec (its syscall's entry, or sched_process_exec, whichever a program sees
 * first): a command scope launched is traced from here on. */
static __always_inline bool is_traced_at_exec(__u32 tgid) {
  if (filter_enabled) {
    __u32 *flags = bpf_map_lookup_elem(&traced, &tgid);
    /* Every program that sees the exec clears the same bit: a plain store is enough. */
    if (flags && (*flags & TRACED_AFTER_EXEC)) *flags &= ~TRACED_AFTER_EXEC;
  }
  return is_traced(tgid);
}

/* For programs that see another task than the current one (sched_switch):
 * only the map, no comm/cgroup match. */
static __always_inline bool is_traced_tgid(__u32 tgid) {
  if (tgid == filter_skip_tgid) return false;
  if (!filter_enabled) return true;
  __u32 *flags = bpf_map_lookup_elem(&traced, &tgid);
  return flags && !(*flags & TRACED_AFTER_EXEC);
}

#endif
