// SPDX-License-Identifier: GPL-2.0
/* The process watch: what the library-probing families (cuda, ggml, llama)
 * need to know to attach before a process runs any code of a library.
 *
 *   loader_debug_state   ld.so's _dl_debug_state, once objects are mapped (program start,
 *                        every dlopen): the agent rescans the process's maps;
 *   on_exec / on_exit    a traced process exec'd / its last thread exited;
 *   lib_open             system-wide tracing only: a process opened a file named like a
 *                        family's library ("libcuda*", ...), so the next loader hook holds it.
 *
 * A held process is stopped (SIGSTOP from the program, before the event is
 * submitted) and continued by the agent once the families attached. */
// clang-format off
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpf/shared/watch.h"
#include "scope_events.bpf.h"
#include "scope_filter.bpf.h"
// clang-format on

char LICENSE[] SEC("license") = "GPL";

#define SIGSTOP 19

/* System-wide tracing: hold a process that opened one of the `hold_names` files at the
 * loader's next hook (never one with a controlling terminal). */
const volatile bool hold_library_loads = false;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} events SEC(".maps");

SCOPE_DROPPED_COUNTERS(WATCH_DROP_SLOTS)

/* The families' library names to hold for; userspace rewrites it as families start and stop. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct watch_hold_names);
} hold_names SEC(".maps");

/* Processes that opened such a file and have not reached the loader's hook since. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, __u32); /* tgid */
  __type(value, __u8);
} lib_opened SEC(".maps");

/* Interpreters with the loader hook attached (userspace adds them). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 256);
  __type(key, struct loader_file);
  __type(value, __u8);
} hooked_loaders SEC(".maps");

static __always_inline void emit(__u32 what, __u32 pid, __u32 tid, __s32 exit_code, bool hold) {
  struct watch_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count_drop(WATCH_DROP_RING);
    return;
  }
  /* Stop first, then tell: the agent's SIGCONT can only come after the stop. */
  e->held = hold && bpf_send_signal(SIGSTOP) == 0;
  e->pid = pid;
  e->tid = tid;
  e->what = what;
  e->exit_code = exit_code;
  e->reserved = 0;
  e->ts_ns = bpf_ktime_get_ns();
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
}

#define LIB_NAME_MAX 256

struct basename_scan {
  char name[LIB_NAME_MAX];
};

/* A per-CPU buffer: the path does not fit the BPF stack with room to spare. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct basename_scan);
} basename_buf SEC(".maps");

/* A library's name ("libcuda.so.580.95.05") is far shorter than this: the last '/' is looked
 * for only this far from the end. */
#define LIB_BASENAME_WINDOW 48

static __always_inline bool starts_with(const struct basename_scan *s, long base,
                                        const struct watch_hold_names *h, int n) {
  __u8 len = h->len[n];
  if (!len) return false;
  for (int c = 0; c < WATCH_HOLD_NAME_MAX; c++) {
    if (c >= len) return true;
    if (s->name[(base + c) & (LIB_NAME_MAX - 1)] != h->name[n][c]) return false;
  }
  return true;
}

/* A traced process opens a file: when its name is one of the families' libraries, the loader's
 * hook will hold the process once the library is mapped. Runs for every openat on the host under
 * a system-wide trace: a bounded scan back from the end of the path, no per-character callback. */
SEC("tp/syscalls/sys_enter_openat")
int lib_open(struct trace_event_raw_sys_enter *ctx) {
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  if (!is_traced(tgid)) return 0;
  __u32 zero = 0;
  struct basename_scan *s = bpf_map_lookup_elem(&basename_buf, &zero);
  const struct watch_hold_names *h = bpf_map_lookup_elem(&hold_names, &zero);
  if (!s || !h) return 0;
  long len = bpf_probe_read_user_str(s->name, sizeof(s->name), (const void *)ctx->args[1]);
  if (len <= 4) return 0;
  long end = len - 1; /* the NUL */
  long base = -1;
  for (int k = 1; k <= LIB_BASENAME_WINDOW; k++) {
    long i = end - k;
    if (i < 0) {
      base = 0;
      break;
    }
    if (s->name[i & (LIB_NAME_MAX - 1)] == '/') {
      base = i + 1;
      break;
    }
  }
  if (base < 0) return 0; /* a longer last name than any library's */
  bool match = false;
  for (int n = 0; n < WATCH_HOLD_NAMES && !match; n++) match = starts_with(s, base, h, n);
  if (!match) return 0;
  __u8 one = 1;
  bpf_map_update_elem(&lib_opened, &tgid, &one, BPF_ANY);
  return 0;
}

/* A process with a controlling terminal is never stopped by a system-wide
 * trace: its shell would see the stop and take the terminal back. */
static __always_inline bool has_tty(void) {
  struct task_struct *t = (struct task_struct *)bpf_get_current_task();
  return BPF_CORE_READ(t, signal, tty) != NULL;
}

/* Whether `tgid` is to be stopped at exec and dlopen until the agent has attached. */
static __always_inline bool held_at_loader(__u32 tgid) {
  __u32 *flags = bpf_map_lookup_elem(&traced, &tgid);
  return flags && (*flags & TRACED_HOLD);
}

/* At the loader's hook: a family's library was just mapped by a process that no one asked to
 * hold (system-wide tracing). */
static __always_inline bool hold_new_library(__u32 tgid) {
  if (!hold_library_loads || !bpf_map_lookup_elem(&lib_opened, &tgid)) return false;
  bpf_map_delete_elem(&lib_opened, &tgid);
  return !has_tty();
}

#define R_DEBUG_STATE_OFFSET 24 /* r_debug.r_state on x86-64 (<link.h>) */
#define RT_CONSISTENT 0

/* Whether the loader's objects are consistent at this call of its hook: glibc calls it with
 * r_state RT_ADD before mapping objects, RT_CONSISTENT once they are mapped (none of their code
 * run yet), RT_DELETE around dlclose. The cookie is `_r_debug`'s distance from the hook; 0 (not
 * known, another loader) counts every call. */
static __always_inline bool loader_consistent(struct pt_regs *ctx) {
  __s64 delta = (__s64)bpf_get_attach_cookie(ctx);
  if (!delta) return true;
  int state = RT_CONSISTENT;
  void *at = (void *)(PT_REGS_IP(ctx) + delta + R_DEBUG_STATE_OFFSET);
  if (bpf_probe_read_user(&state, sizeof(state), at)) return true;
  return state == RT_CONSISTENT;
}

/* ld.so calls _dl_debug_state when it has mapped new objects (program start
 * and every dlopen), before running their code. */
SEC("uprobe")
int loader_debug_state(struct pt_regs *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32;
  if (!is_traced(tgid) || !loader_consistent(ctx)) return 0;
  emit(WATCH_DLOPEN, tgid, (__u32)pid_tgid, 0, held_at_loader(tgid) || hold_new_library(tgid));
  return 0;
}

#define AT_NULL 0
#define AT_BASE 7 /* the interpreter's load address; 0 for a static executable */

struct mapped_file_ctx {
  struct loader_file key;
  bool found;
};

static long file_of_vma(struct task_struct *task, struct vm_area_struct *vma, void *data) {
  struct mapped_file_ctx *c = data;
  struct file *f = vma->vm_file;
  if (!f) return 0;
  struct inode *in = f->f_inode;
  __u32 dev = in->i_sb->s_dev; /* the kernel's MKDEV: major << 20 | minor */
  c->key.major = dev >> 20;
  c->key.minor = dev & ((1u << 20) - 1);
  c->key.ino = in->i_ino;
  c->found = true;
  return 0;
}

/* Whether the task that just exec'd runs through an interpreter with the loader hook. */
static __always_inline bool interpreter_hooked(struct task_struct *p) {
  if (!bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_find_vma)) return false;
  struct mm_struct *mm = p->mm;
  if (!mm) return false;
  __u64 base = 0;
  for (int i = 0; i + 1 < 56; i += 2) {
    __u64 type = mm->saved_auxv[i];
    if (type == AT_NULL) break;
    if (type == AT_BASE) {
      base = mm->saved_auxv[i + 1];
      break;
    }
  }
  if (!base) return false;
  struct mapped_file_ctx c = {};
  if (bpf_find_vma(p, base, file_of_vma, &c, 0) || !c.found) return false;
  return bpf_map_lookup_elem(&hooked_loaders, &c.key) != NULL;
}

/* A traced process asked to be held is held here only when no hooked loader will stop it
 * first: a static executable, or an interpreter scope has not seen yet (the agent attaches
 * the hook while the process waits). */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) {
  __u32 tgid = BPF_CORE_READ(p, tgid);
  if (!is_traced_at_exec(tgid)) return 0;
  emit(WATCH_EXEC, tgid, BPF_CORE_READ(p, pid), 0, held_at_loader(tgid) && !interpreter_hooked(p));
  return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p) {
  __u32 tgid = BPF_CORE_READ(p, tgid);
  if (BPF_CORE_READ(p, signal, live.counter) != 0) return 0; /* not the last thread */
  if (!is_traced_tgid(tgid)) return 0;
  /* The exiting task is the current one: emit's comm is its own. */
  emit(WATCH_EXIT, tgid, BPF_CORE_READ(p, pid), BPF_CORE_READ(p, exit_code), false);
  return 0;
}
