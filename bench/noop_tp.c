/* The floor of the syscalls family's overhead: two empty BPF programs
 * (r0 = 0; exit) on the raw tracepoints raw_syscalls:sys_enter and sys_exit,
 * the same attach points bpf/syscalls.bpf.c uses, loaded from hand-written
 * instructions with libbpf's low-level API (no object file, no CMake).
 *   noop_tp [--syscall NAME]... -- COMMAND [ARGS...]
 * runs COMMAND with both attached; each --syscall NAME adds two more on the
 * tracepoints syscalls:sys_enter_NAME/sys_exit_NAME (what the exec, open and
 * net families use without the syscalls family: their perf handlers then run
 * on every syscall). Every process on the host pays for them while COMMAND
 * runs. */
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int load_noop_type(enum bpf_prog_type type, const char *name) {
  struct bpf_insn insns[2];
  memset(insns, 0, sizeof(insns));
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K; /* r0 = 0 */
  insns[0].dst_reg = BPF_REG_0;
  insns[0].imm = 0;
  insns[1].code = BPF_JMP | BPF_EXIT;
  int fd = bpf_prog_load(type, name, "GPL", insns, 2, NULL);
  if (fd < 0) perror("bpf_prog_load");
  return fd;
}

static int load_noop(const char *name) {
  return load_noop_type(BPF_PROG_TYPE_RAW_TRACEPOINT, name);
}

/* An empty program on the tracepoint syscalls:EVENT (a perf event, as libbpf attaches it). */
static int attach_syscall_tp(const char *event) {
  char path[256];
  int id = -1;
  snprintf(path, sizeof(path), "/sys/kernel/tracing/events/syscalls/%s/id", event);
  FILE *f = fopen(path, "r");
  if (!f && mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0) f = fopen(path, "r");
  if (!f || fscanf(f, "%d", &id) != 1) {
    fprintf(stderr, "noop_tp: no tracepoint syscalls:%s (%s)\n", event, path);
    if (f) fclose(f);
    return -1;
  }
  fclose(f);
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.size = sizeof(attr);
  attr.config = id;
  attr.sample_period = 1;
  int pfd = (int)syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
  int prog = load_noop_type(BPF_PROG_TYPE_TRACEPOINT, "noop_syscall_tp");
  if (pfd < 0 || prog < 0 || ioctl(pfd, PERF_EVENT_IOC_SET_BPF, prog) ||
      ioctl(pfd, PERF_EVENT_IOC_ENABLE, 0)) {
    perror("noop_tp: syscalls tracepoint");
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  int cmd = 1;
  for (; cmd + 1 < argc && strcmp(argv[cmd], "--syscall") == 0; cmd += 2) {
    char event[128];
    snprintf(event, sizeof(event), "sys_enter_%s", argv[cmd + 1]);
    if (attach_syscall_tp(event)) return 1;
    snprintf(event, sizeof(event), "sys_exit_%s", argv[cmd + 1]);
    if (attach_syscall_tp(event)) return 1;
  }
  if (cmd + 1 >= argc || strcmp(argv[cmd], "--") != 0) {
    fprintf(stderr, "usage: noop_tp [--syscall NAME]... -- COMMAND [ARGS...]\n");
    return 2;
  }
  const char *tps[2] = {"sys_enter", "sys_exit"};
  for (int i = 0; i < 2; i++) {
    int prog = load_noop(i == 0 ? "noop_sys_enter" : "noop_sys_exit");
    if (prog < 0) return 1;
    if (bpf_raw_tracepoint_open(tps[i], prog) < 0) {
      perror("bpf_raw_tracepoint_open");
      return 1;
    }
  }
  fflush(NULL);
  pid_t child = fork();
  if (child < 0) return 1;
  if (child == 0) {
    execvp(argv[cmd + 1], argv + cmd + 1);
    perror("exec");
    _exit(127);
  }
  int st = 0;
  waitpid(child, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
