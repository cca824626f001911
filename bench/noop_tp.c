/* The floor of the syscalls family's overhead: two empty BPF programs
 * (r0 = 0; exit) on the raw tracepoints raw_syscalls:sys_enter and sys_exit,
 * the same attach points bpf/syscalls.bpf.c uses, loaded from hand-written
 * instructions with libbpf's low-level API (no object file, no CMake).
 *   noop_tp -- COMMAND [ARGS...]   runs COMMAND with both attached
 * Every process on the host pays for them while COMMAND runs. */
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int load_noop(const char *name) {
  struct bpf_insn insns[2];
  memset(insns, 0, sizeof(insns));
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K; /* r0 = 0 */
  insns[0].dst_reg = BPF_REG_0;
  insns[0].imm = 0;
  insns[1].code = BPF_JMP | BPF_EXIT;
  int fd = bpf_prog_load(BPF_PROG_TYPE_RAW_TRACEPOINT, name, "GPL", insns, 2, NULL);
  if (fd < 0) perror("bpf_prog_load");
  return fd;
}

int main(int argc, char **argv) {
  if (argc < 3 || strcmp(argv[1], "--") != 0) {
    fprintf(stderr, "usage: noop_tp -- COMMAND [ARGS...]\n");
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
    execvp(argv[2], argv + 2);
    perror("exec");
    _exit(127);
  }
  int st = 0;
  waitpid(child, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
