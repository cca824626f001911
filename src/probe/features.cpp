#include "probe/features.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/filter.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "common/text.h"
#include "probe/uprobe_links.h"

namespace scope::probe {

namespace {

bool exists(const char* path) {
  struct stat st {};
  return ::stat(path, &st) == 0;
}

// "r0 = 0; exit" as a program of `type`; the fd, or -errno.
int load_trivial(bpf_prog_type type, bpf_attach_type expected = static_cast<bpf_attach_type>(0)) {
  const bpf_insn insns[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = 0},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = expected);
  int fd = bpf_prog_load(type, "scope_probe", "GPL", insns, 2, &opts);
  return fd >= 0 ? fd : -errno;
}

bool helper(bpf_func_id id) {
  return libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, id, nullptr) == 1;
}

// A function of this binary to attach the uprobe_multi probe to (never called).
extern "C" __attribute__((noinline, used)) int scope_feature_probe_target(int x) {
  asm volatile("" ::: "memory");
  return x + 1;
}

// The offset in /proc/self/exe of `addr`, from the mapping that holds it.
bool exe_offset_of(uintptr_t addr, uint64_t& offset) {
  std::FILE* maps = std::fopen("/proc/self/maps", "re");
  if (!maps) return false;
  char line[512];
  bool found = false;
  while (std::fgets(line, sizeof line, maps)) {
    uint64_t start = 0, end = 0, off = 0;
    if (std::sscanf(line, "%" SCNx64 "-%" SCNx64 " %*s %" SCNx64, &start, &end, &off) != 3)
      continue;
    if (addr >= start && addr < end) {
      offset = addr - start + off;
      found = true;
      break;
    }
  }
  std::fclose(maps);
  return found;
}

// Creates (and closes) a uprobe_multi link on one of this binary's functions.
bool try_uprobe_multi() {
  int prog = load_trivial(BPF_PROG_TYPE_KPROBE, static_cast<bpf_attach_type>(kBpfTraceUprobeMulti));
  if (prog < 0) return false;
  uint64_t offset = 0;
  bool ok = false;
  if (exe_offset_of(reinterpret_cast<uintptr_t>(&scope_feature_probe_target), offset)) {
    auto fd = create_uprobe_multi_link(prog, "/proc/self/exe", {offset}, {0}, false);
    if (fd) {
      ::close(*fd);
      ok = true;
    } else {
      spdlog::debug("uprobe_multi: {}", fd.error());
    }
  }
  ::close(prog);
  return ok;
}

bool vmlinux_has_func(const char* name) {
  btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return false;
  bool found = btf__find_by_name_kind(vmlinux, name, BTF_KIND_FUNC) >= 0;
  btf__free(vmlinux);
  return found;
}

Features probe_all() {
  Features f;
  utsname u{};
  if (uname(&u) == 0) f.kernel = u.release;
  f.btf = exists("/sys/kernel/btf/vmlinux");
  ensure_tracefs();
  f.tracefs = exists("/sys/kernel/tracing/events/sched/sched_process_exec");
  f.syscall_tracepoints = exists("/sys/kernel/tracing/events/syscalls/sys_enter_openat");
  int fd = load_trivial(BPF_PROG_TYPE_KPROBE);
  f.bpf_allowed = fd >= 0;
  if (fd >= 0) ::close(fd);
  if (!f.bpf_allowed) return f;  // nothing else can be tried
  f.attach_cookie = helper(BPF_FUNC_get_attach_cookie);
  f.bpf_loop = helper(BPF_FUNC_loop);
  f.find_vma = helper(BPF_FUNC_find_vma);
  f.rdonly_cast = f.btf && vmlinux_has_func("bpf_rdonly_cast");
  f.uprobe_multi = try_uprobe_multi();
  spdlog::debug(
      "features: kernel {} btf={} tracefs={} syscall_tracepoints={} uprobe_multi={} "
      "rdonly_cast={} bpf_loop={} find_vma={} attach_cookie={}",
      f.kernel, f.btf, f.tracefs, f.syscall_tracepoints, f.uprobe_multi, f.rdonly_cast, f.bpf_loop,
      f.find_vma, f.attach_cookie);
  return f;
}

}  // namespace

void ensure_tracefs() {
  if (exists("/sys/kernel/tracing/events")) return;
  if (::mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0)
    spdlog::debug("could not mount tracefs: {}", errno_text(errno));
}

const Features& Features::get() {
  static const Features features = probe_all();
  return features;
}

Status Features::require_bpf() const {
  if (!bpf_allowed)
    return make_error(Errc::kNotRoot,
                      "cannot load BPF programs: scope needs root, or CAP_BPF and CAP_PERFMON");
  if (!btf)
    return make_error(Errc::kKernelTooOld,
                      "the kernel has no BTF (/sys/kernel/btf/vmlinux): scope needs "
                      "CONFIG_DEBUG_INFO_BTF");
  return Ok{};
}

Status Features::require(bool have, const char* what, const char* since) const {
  if (auto st = require_bpf(); !st) return st;
  if (have) return Ok{};
  return make_error(Errc::kKernelTooOld, std::string("needs ") + what + " (Linux " + since +
                                             " or newer); this kernel is " + kernel);
}

}  // namespace scope::probe
