/* Records shared by bpf/exec.bpf.c and src/families/exec_family.cpp.
 * Fixed-width fields only; sizes are static_assert'ed on both sides. Included
 * from BPF C (vmlinux.h types) and C++. */
#ifndef SCOPE_BPF_SHARED_EXEC_H
#define SCOPE_BPF_SHARED_EXEC_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* What is captured of an execve: the filename (PATH_MAX, with its NUL) and at
 * most EXEC_MAX_ARGS arguments of at most EXEC_MAX_ARGV_BYTES in all (each
 * with its NUL). More is cut and the record says so (EXEC_F_ARGV_TRUNCATED). */
#define EXEC_MAX_FILENAME 4096
#define EXEC_MAX_ARGS 64
#define EXEC_MAX_ARGV_BYTES 4096
/* The data of one record (filename + argv) is at most this long. */
#define EXEC_MAX_DATA (EXEC_MAX_FILENAME + EXEC_MAX_ARGV_BYTES)
/* The scratch area behind the header: reads start below EXEC_MAX_DATA (an
 * offset masked with EXEC_MAX_DATA - 1) and are at most EXEC_MAX_ARGV_BYTES
 * long, which the verifier must see fit. */
#define EXEC_DATA_BUF (EXEC_MAX_DATA + EXEC_MAX_ARGV_BYTES)

/* The first byte of every record. */
enum exec_kind { EXEC_KIND_EXEC = 1, EXEC_KIND_EXIT = 2 };

/* exec_event.flags */
enum exec_flags {
  EXEC_F_ARGV_TRUNCATED = 1,     /* more arguments or bytes than captured */
  EXEC_F_FILENAME_TRUNCATED = 2, /* filename cut at EXEC_MAX_FILENAME - 1 bytes */
  EXEC_F_ARGV_FAULT = 4,         /* argv (or an argument) could not be read */
  EXEC_F_FILENAME_FAULT = 8,     /* the filename could not be read */
  EXEC_F_EXECVEAT = 16,          /* the call was execveat (filename relative to dirfd) */
  /* The strings are the kernel's: the entry could not read them (a forked child's literals);
   * for an execveat the filename may then be "/dev/fd/<dirfd>/<name>" */
  EXEC_F_FROM_KERNEL = 32,
};

/* One execve/execveat, emitted at its return. Followed in the ring record by
 * filename_len bytes (the filename and its NUL) and args_len bytes (argc
 * NUL-terminated arguments). */
struct exec_event {
  __u8 kind; /* EXEC_KIND_EXEC */
  __u8 flags;
  __u16 argc;         /* arguments captured */
  __u16 filename_len; /* with its NUL */
  __u16 args_len;     /* bytes of the arguments, NULs included */
  __u32 pid;          /* tgid */
  __u32 tid;          /* at the return (a successful exec from a thread takes the tgid) */
  __u32 ppid;         /* real_parent's tgid */
  __s32 ret;          /* 0 or -errno */
  __u64 ts_ns;        /* bpf_ktime_get_ns() at the return */
  __u64 duration_ns;  /* entry to return */
  __u32 uid;
  __u32 dirfd;   /* execveat's dirfd (as passed); 0 for execve */
  char comm[16]; /* at the return: the new program's after a successful exec */
};

/* The last thread of a process exited. */
struct exit_event {
  __u8 kind; /* EXEC_KIND_EXIT */
  __u8 reserved0;
  __u16 reserved1;
  __u32 pid;
  __u32 tid;
  __u32 ppid;
  __s32 exit_code; /* the kernel's task->exit_code: (code << 8) | core dump 0x80 | signal */
  __u32 reserved2;
  __u64 ts_ns;
  __u64 lifetime_ns; /* since the process (its group leader) started */
  char comm[16];
};

/* Slots of the `dropped` per-CPU array. */
enum exec_drop {
  EXEC_DROP_EXEC_RING = 0,     /* an exec event, ring buffer full */
  EXEC_DROP_EXEC_INFLIGHT = 1, /* an exec not followed: the in-flight map was full */
  EXEC_DROP_EXIT_RING = 2,     /* an exit event, ring buffer full */
  EXEC_DROP_SLOTS = 3,
};

#ifdef __cplusplus
static_assert(sizeof(struct exec_event) == 64, "exec_event layout");
static_assert(sizeof(struct exit_event) == 56, "exit_event layout");
#else
_Static_assert(sizeof(struct exec_event) == 64, "exec_event layout");
_Static_assert(sizeof(struct exit_event) == 56, "exit_event layout");
#endif

#endif
