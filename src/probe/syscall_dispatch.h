// The syscalls family's dispatch of syscalls to the exec, open and net
// families (bpf/shared/syscall_dispatch.h says why): two BPF program arrays,
// indexed by syscall number, that the syscalls family's raw_syscalls programs
// tail-call into. start_families() creates it when the syscalls family runs
// with one of the others; each family adds its handlers and takes them out
// again when it stops.
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "common/result.h"

namespace scope::probe {

class SyscallDispatch {
 public:
  enum class Side { kEnter, kExit };
  // `prog` (loaded, a tp_btf program on sys_enter or sys_exit as `side` says) runs for syscall
  // `nr`.
  struct Handler {
    Side side;
    uint32_t nr;
    const bpf_program* prog;
  };

  static Result<std::shared_ptr<SyscallDispatch>> create();
  ~SyscallDispatch();
  SyscallDispatch(const SyscallDispatch&) = delete;
  SyscallDispatch& operator=(const SyscallDispatch&) = delete;

  // Points the syscalls family's program arrays at these; call between open and load.
  Status reuse_in(bpf_map* enter_handlers, bpf_map* exit_handlers) const;

  // One family's handlers: in the arrays from install() to clear() (or destruction).
  class Handlers {
   public:
    Handlers() = default;
    ~Handlers() { clear(); }
    Handlers(const Handlers&) = delete;
    Handlers& operator=(const Handlers&) = delete;
    // Puts `handlers` into `dispatch`'s arrays; nothing without a dispatch (the
    // syscalls family does not run, and the family attached to syscalls:*).
    Status install(std::shared_ptr<SyscallDispatch> dispatch, const std::vector<Handler>& handlers);
    void clear();

   private:
    std::shared_ptr<SyscallDispatch> dispatch_;
    std::vector<std::pair<Side, uint32_t>> added_;
  };

 private:
  SyscallDispatch() = default;
  int fd(Side side) const { return side == Side::kEnter ? enter_fd_ : exit_fd_; }
  int enter_fd_ = -1;
  int exit_fd_ = -1;
};

// Loads one of two program sets: the handlers when the family runs under a
// dispatch (`dispatched`), else the syscalls:* tracepoint programs. Handlers
// are never attached: they are only tail-called.
void choose_syscall_programs(bool dispatched, const std::vector<bpf_program*>& tracepoints,
                             const std::vector<bpf_program*>& handlers);

}  // namespace scope::probe
