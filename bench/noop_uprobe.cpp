// noop_uprobe LIBPATH SYMBOL -- CMD...: attaches a no-op uprobe to SYMBOL in LIBPATH (all
// processes), runs CMD, waits for it, detaches. The benchmark floor: what any uprobe costs.
#include <bpf/libbpf.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "discover/elf_file.h"
#include "noop_uprobe.skel.h"

int main(int argc, char** argv) {
  if (argc < 5 || std::strcmp(argv[3], "--") != 0) {
    std::fprintf(stderr, "usage: %s LIBPATH SYMBOL -- CMD...\n", argv[0]);
    return 2;
  }
  const std::string lib = argv[1];
  const std::string symbol = argv[2];

  auto elf = scope::discover::ElfFile::open(lib);
  if (!elf) {
    std::fprintf(stderr, "noop_uprobe: %s\n", elf.error().c_str());
    return 1;
  }
  auto sym = elf->find(symbol);
  if (!sym) {
    std::fprintf(stderr, "noop_uprobe: %s has no function %s\n", lib.c_str(), symbol.c_str());
    return 1;
  }
  auto off = elf->file_offset(sym->vaddr);
  if (!off) {
    std::fprintf(stderr, "noop_uprobe: no file offset for %s\n", symbol.c_str());
    return 1;
  }

  noop_uprobe_bpf* skel = noop_uprobe_bpf::open_and_load();
  if (!skel) {
    std::fprintf(stderr, "noop_uprobe: load failed: %s (root needed)\n", std::strerror(errno));
    return 1;
  }
  bpf_link* link = bpf_program__attach_uprobe(skel->progs.noop, false, -1, lib.c_str(), *off);
  if (!link) {
    std::fprintf(stderr, "noop_uprobe: attach failed: %s\n", std::strerror(errno));
    noop_uprobe_bpf::destroy(skel);
    return 1;
  }

  int status = 0;
  pid_t pid = fork();
  if (pid == 0) {
    execvp(argv[4], argv + 4);
    std::fprintf(stderr, "noop_uprobe: exec %s: %s\n", argv[4], std::strerror(errno));
    _exit(127);
  }
  if (pid < 0) {
    std::fprintf(stderr, "noop_uprobe: fork: %s\n", std::strerror(errno));
  } else {
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  bpf_link__destroy(link);
  noop_uprobe_bpf::destroy(skel);
  if (pid < 0) return 1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
