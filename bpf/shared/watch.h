/* Records shared by bpf/watch.bpf.c and src/session/process_watch.cpp: the
 * process watch that every library-probing family (cuda, ggml, llama) relies on.
 * Fixed-width fields only; sizes are static_assert'ed on both sides. */
#ifndef SCOPE_BPF_SHARED_WATCH_H
#define SCOPE_BPF_SHARED_WATCH_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* What happened to a traced process. */
enum watch_what {
  WATCH_DLOPEN = 1, /* the loader mapped objects (program start, each dlopen): rescan its maps */
  WATCH_EXEC = 2,   /* it exec'd a new program */
  WATCH_EXIT = 3,   /* its last thread exited */
};

struct watch_event {
  __u32 pid;
  __u32 tid;
  __u32 what;      /* enum watch_what */
  __s32 exit_code; /* WATCH_EXIT: the kernel's task->exit_code */
  __u32 held;      /* 1 when the process was stopped and waits for SIGCONT */
  __u32 reserved;
  __u64 ts_ns;
  char comm[16];
};

/* An ELF interpreter (ld.so) that has the loader hook, by its device and inode (key of the
 * `hooked_loaders` map). A dynamic executable run through one of these is held at the hook's
 * first call, right after exec and before any of its code runs, so it is not held at exec too. */
struct loader_file {
  __u32 major;
  __u32 minor;
  __u64 ino;
};

/* System-wide tracing holds a process that opens a file whose name starts with one of these (a
 * family's libraries: "libcuda", "libggml", ...) at the loader's next hook, once the file is
 * mapped and before its code runs, until the families attached to it. */
#define WATCH_HOLD_NAMES 4
#define WATCH_HOLD_NAME_MAX 16
struct watch_hold_names {
  char name[WATCH_HOLD_NAMES][WATCH_HOLD_NAME_MAX]; /* not NUL-terminated when 16 long */
  __u8 len[WATCH_HOLD_NAMES];                       /* 0: unused */
  __u8 reserved[4];
};

/* Slots of the `dropped` per-CPU array: watch events the ring buffer could not take. */
enum watch_drop { WATCH_DROP_RING = 0, WATCH_DROP_SLOTS = 1 };

#ifdef __cplusplus
static_assert(sizeof(struct watch_event) == 48, "watch_event layout changed");
static_assert(sizeof(struct loader_file) == 16, "loader_file layout changed");
static_assert(sizeof(struct watch_hold_names) == 72, "watch_hold_names layout changed");
#else
_Static_assert(sizeof(struct watch_event) == 48, "watch_event layout changed");
_Static_assert(sizeof(struct loader_file) == 16, "loader_file layout changed");
_Static_assert(sizeof(struct watch_hold_names) == 72, "watch_hold_names layout changed");
#endif

#endif
