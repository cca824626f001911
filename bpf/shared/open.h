/* Records shared by bpf/open.bpf.c and src/families/open_family.cpp.
 * Fixed-width fields only; sizes are static_assert'ed on both sides.
 * Included from BPF C (vmlinux.h types) and C++. */
#ifndef SCOPE_BPF_SHARED_OPEN_H
#define SCOPE_BPF_SHARED_OPEN_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define OPEN_PATH_MAX 512 /* bytes of the path as the process passed it */
#define OPEN_COMP_MAX 64  /* bytes of one directory name (with its NUL) */
#define OPEN_COMPS 32     /* directory levels walked above the path */

/* The syscall. */
enum open_call {
  OPEN_CALL_OPEN = 0,
  OPEN_CALL_OPENAT = 1,
  OPEN_CALL_OPENAT2 = 2,
  OPEN_CALL_CREAT = 3,
};

enum open_event_flags {
  OPEN_F_PATH_TRUNCATED = 1 << 0, /* the user path filled path[] */
  OPEN_F_PATH_UNREADABLE = 1 << 1,
  OPEN_F_DIR = 1 << 2,                /* the names of the directory (cwd or dirfd) follow */
  OPEN_F_DIR_TOO_DEEP = 1 << 3,       /* more than OPEN_COMPS levels: the top ones are missing */
  OPEN_F_DIR_NAME_TRUNCATED = 1 << 4, /* a directory name was longer than OPEN_COMP_MAX - 1 */
  OPEN_F_DIR_UNKNOWN = 1 << 5,        /* the dirfd was not an open file */
};

/* Per-thread state from sys_enter to sys_exit. */
/* An open in flight, in its thread's slot: `starts`[tid % OPEN_SLOTS]. */
#define OPEN_SLOTS 16384u

struct open_start {
  __u64 ts_ns;    /* 0: none in flight */
  __u64 filename; /* user pointer */
  __u64 flags;
  __s32 dfd;
  __u32 call; /* enum open_call */
  __u32 tid;
  __u32 reserved;
};

/* One open. On the ring buffer a record is variable-sized: the header (up to
 * `path`), then the path as passed (path_len bytes and a NUL), then, for a
 * relative path, the directory it was resolved against as dirs_len bytes of
 * names packed back to back, each with its NUL, leaf first: the first is the
 * directory's own name, the ndirs-th the one below "/". `struct
 * open_event_rel` is the largest record (the BPF side's per-CPU scratch). */
struct open_event {
  __u64 ts_ns; /* CLOCK_MONOTONIC at sys_enter */
  __u32 pid;
  __u32 tid;
  __s32 ret;
  __s32 dfd;
  __u64 flags;
  __u8 call;    /* enum open_call */
  __u8 ndirs;   /* directory names that follow the path */
  __u16 eflags; /* enum open_event_flags */
  __u16 path_len;
  __u16 dirs_len; /* bytes of directory names after the path's NUL */
  char comm[16];
  char path[OPEN_PATH_MAX]; /* path_len bytes and a NUL, then the names */
};

#define OPEN_EVENT_HDR 56 /* offsetof(struct open_event, path) */

struct open_event_rel {
  struct open_event ev;
  char dirs[OPEN_COMPS * OPEN_COMP_MAX]; /* room for the names past a full path */
};

#ifdef __cplusplus
static_assert(sizeof(struct open_start) == 40, "open_start layout changed");
static_assert(__builtin_offsetof(struct open_event, path) == OPEN_EVENT_HDR, "open_event header");
static_assert(sizeof(struct open_event) == 568, "open_event layout changed");
static_assert(sizeof(struct open_event_rel) == 568 + 2048, "open_event_rel layout changed");
#else
_Static_assert(sizeof(struct open_start) == 40, "open_start layout changed");
_Static_assert(__builtin_offsetof(struct open_event, path) == OPEN_EVENT_HDR, "open_event header");
_Static_assert(sizeof(struct open_event) == 568, "open_event layout changed");
_Static_assert(sizeof(struct open_event_rel) == 568 + 2048, "open_event_rel layout changed");
#endif

#endif
