#include "probe/syscall_dispatch.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>

#include "bpf/shared/syscall_dispatch.h"
#include "common/text.h"

namespace scope::probe {

Result<std::shared_ptr<SyscallDispatch>> SyscallDispatch::create() {
  std::shared_ptr<SyscallDispatch> d(new SyscallDispatch());
  for (int* fd : {&d->enter_fd_, &d->exit_fd_}) {
    *fd = bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY,
                         fd == &d->enter_fd_ ? "sys_enter_disp" : "sys_exit_disp", sizeof(uint32_t),
                         sizeof(uint32_t), SYSCALL_DISPATCH_NRS, nullptr);
    if (*fd < 0)
      return make_error("cannot create the syscall dispatch's program array: " + errno_text(-*fd));
  }
  return d;
}

SyscallDispatch::~SyscallDispatch() {
  // Closing the last descriptor of a program array empties it.
  if (enter_fd_ >= 0) close(enter_fd_);
  if (exit_fd_ >= 0) close(exit_fd_);
}

Status SyscallDispatch::reuse_in(bpf_map* enter_handlers, bpf_map* exit_handlers) const {
  for (auto [map, fd] :
       {std::pair{enter_handlers, enter_fd_}, std::pair{exit_handlers, exit_fd_}}) {
    if (int err = bpf_map__reuse_fd(map, fd))
      return make_error("cannot share the syscall dispatch's program array: " + errno_text(-err));
  }
  return Ok{};
}

Status SyscallDispatch::Handlers::install(std::shared_ptr<SyscallDispatch> dispatch,
                                          const std::vector<Handler>& handlers) {
  clear();
  dispatch_ = std::move(dispatch);
  if (!dispatch_) return Ok{};
  for (const Handler& h : handlers) {
    uint32_t prog_fd = static_cast<uint32_t>(bpf_program__fd(h.prog));
    if (bpf_map_update_elem(dispatch_->fd(h.side), &h.nr, &prog_fd, BPF_ANY) != 0)
      return make_error(std::string("cannot add ") + bpf_program__name(h.prog) +
                        " to the syscall dispatch: " + errno_text(errno));
    added_.emplace_back(h.side, h.nr);
  }
  return Ok{};
}

void SyscallDispatch::Handlers::clear() {
  if (dispatch_)
    for (auto [side, nr] : added_) bpf_map_delete_elem(dispatch_->fd(side), &nr);
  added_.clear();
  dispatch_.reset();
}

void choose_syscall_programs(bool dispatched, const std::vector<bpf_program*>& tracepoints,
                             const std::vector<bpf_program*>& handlers) {
  for (bpf_program* p : tracepoints) bpf_program__set_autoload(p, !dispatched);
  for (bpf_program* p : handlers) {
    bpf_program__set_autoload(p, dispatched);
    bpf_program__set_autoattach(p, false);
  }
}

}  // namespace scope::probe
