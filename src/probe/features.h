// What this kernel and process can do, probed once (bpftrace's BPFfeature habit): each feature
// is tried, not guessed from the kernel's version or the environment. Families state what they
// need and get an error with a code (not_root, kernel_too_old) when it is missing; tests skip
// on the same codes.
#pragma once

#include <string>

#include "common/result.h"

namespace scope::probe {

struct Features {
  std::string kernel;        // uname's release, for messages
  bool bpf_allowed = false;  // a BPF program could be loaded (root, or CAP_BPF + CAP_PERFMON)
  bool btf = false;          // /sys/kernel/btf/vmlinux: CO-RE and tp_btf programs
  bool tracefs = false;      // tracepoints are visible (scope mounts tracefs when it can)
  bool syscall_tracepoints = false;  // syscalls:sys_enter_* (CONFIG_FTRACE_SYSCALLS)
  bool uprobe_multi = false;         // a uprobe_multi link could be created (6.6+)
  bool rdonly_cast = false;          // the bpf_rdonly_cast kfunc (6.2+)
  bool bpf_loop = false;             // the bpf_loop helper (5.17+)
  bool find_vma = false;             // the bpf_find_vma helper (5.17+)
  bool attach_cookie = false;        // bpf_get_attach_cookie (5.15+)

  // Probed on the first call (and mounts tracefs when it is missing); the same object after.
  static const Features& get();

  // Errors with codes: not_root when BPF cannot be loaded, kernel_too_old naming the feature.
  Status require_bpf() const;
  Status require(bool have, const char* what, const char* since) const;
};

// Mounts tracefs at /sys/kernel/tracing when nothing is mounted there.
void ensure_tracefs();

}  // namespace scope::probe
