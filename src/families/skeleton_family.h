// What every family does with its bpftool skeleton, written once: open, the
// target filter, program choices before load, load, attach, drop counters,
// ring buffer, and, when stopped, detach (links in parallel) and destroy, with
// drop counts kept across restarts. A family adds its decoding and output.
#pragma once

#include <bpf/libbpf.h>

#include <cerrno>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/text.h"
#include "families/family.h"
#include "probe/drop_counters.h"
#include "probe/features.h"
#include "probe/skeleton_links.h"

namespace scope::families {

// A bpftool skeleton's functions.
template <class Skel>
struct SkeletonOps {
  Skel* (*open)();
  int (*load)(Skel*);
  int (*attach)(Skel*);
  void (*destroy)(Skel*);
};

template <class Skel>
class SkeletonFamily : public Family {
 public:
  SkeletonFamily(std::string name, SkeletonOps<Skel> ops) : name_(std::move(name)), ops_(ops) {}
  ~SkeletonFamily() override { unload(); }
  SkeletonFamily(const SkeletonFamily&) = delete;
  SkeletonFamily& operator=(const SkeletonFamily&) = delete;

  std::string_view name() const override { return name_; }
  bool running() const override { return skel_ != nullptr; }
  int ring_map_fd() const override {
    if constexpr (requires(Skel * s) { s->maps.events; })
      return skel_ ? bpf_map__fd(skel_->maps.events) : -1;
    return -1;
  }
  void stop() override {
    if (!skel_) return;
    before_stop();
    read_drops();
    for (size_t i = 0; i < drops_.size(); ++i) drops_base_[i] = drops_[i];
    unload();
    ctx_.syscall_dispatch.reset();  // its program arrays go with the last family holding them
  }
  uint64_t events() const override { return events_; }
  uint64_t dropped() const override {
    uint64_t n = bad_records_;
    for (uint64_t d : drops_) n += d;
    return n;
  }
  uint64_t undecodable() const override { return bad_records_; }

 protected:
  // Opens the skeleton, applies the target filter, lets `configure` choose programs and .rodata,
  // loads, and attaches the programs left to attach automatically (unless `attach` is false).
  // On an error everything is unloaded again.
  Status load(const FamilyContext& ctx, const std::function<Status(Skel*)>& configure,
              bool attach = true) {
    ctx_ = ctx;
    if (auto st = probe::Features::get().require_bpf(); !st) return st;
    skel_ = ops_.open();
    if (!skel_) return make_error("cannot open the " + name_ + " BPF object: " + errno_text(errno));
    Status st = ctx.filter ? ctx.filter->apply(skel_)
                           : Status(make_error(Errc::kInternal, name_ + " needs a target filter"));
    if (st && configure) st = configure(skel_);
    if (st) {
      if (int err = ops_.load(skel_))
        st = make_error(errno_code(err),
                        "cannot load the " + name_ + " BPF programs (" + errno_text(err) + ")");
    }
    if (st && attach) {
      if (int err = ops_.attach(skel_))
        st = make_error(errno_code(err),
                        "cannot attach the " + name_ + " BPF programs (" + errno_text(err) + ")");
    }
    if (!st) {
      unload();
      return st;
    }
    drops_.assign(bpf_map__max_entries(skel_->maps.dropped), 0);
    drops_base_.resize(drops_.size(), 0);
    read_drops();
    return Ok{};
  }

  // exec, open and net: the syscalls:* tracepoints they attach to unless they ride the syscalls
  // family's dispatch (kernel_too_old without CONFIG_FTRACE_SYSCALLS).
  static Status require_syscall_tracepoints(const FamilyContext& ctx) {
    if (ctx.syscall_dispatch) return Ok{};
    auto& f = probe::Features::get();
    return f.require(f.syscall_tracepoints, "syscall tracepoints (CONFIG_FTRACE_SYSCALLS)",
                     "2.6.33");
  }

  // Reads the kernel's drop counters (per cause, summed over CPUs, plus earlier runs).
  void read_drops() {
    if (!skel_) return;
    auto now = probe::read_drop_counters(skel_->maps.dropped);
    for (size_t i = 0; i < drops_.size() && i < now.size(); ++i)
      drops_[i] = drops_base_[i] + now[i];
  }
  uint64_t drops(size_t cause) const { return cause < drops_.size() ? drops_[cause] : 0; }

  // A record decoded (counted) or not (a bad record, counted as dropped).
  template <class T>
  bool count(const T& decoded) {
    if (!decoded) {
      ++bad_records_;
      return false;
    }
    ++events_;
    return true;
  }
  uint64_t bad_records() const { return bad_records_; }
  bool wants_events() const { return ctx_.sink && ctx_.sink->wants_events(); }

  // Hook for a family to read what the kernel still holds before it is unloaded.
  virtual void before_stop() {}

  Skel* skel_ = nullptr;
  FamilyContext ctx_;
  uint64_t events_ = 0;

 private:
  static Errc errno_code(int err) {
    err = err < 0 ? -err : err;
    return err == EPERM || err == EACCES ? Errc::kNotRoot : Errc::kFailed;
  }
  void unload() {
    if (!skel_) return;
    release_links();
    probe::destroy_links_in_parallel(skel_);
    ops_.destroy(skel_);
    skel_ = nullptr;
  }

 protected:
  // Links the family made itself (uprobes): released before the skeleton's.
  virtual void release_links() {}

 private:
  std::string name_;
  SkeletonOps<Skel> ops_;
  uint64_t bad_records_ = 0;
  std::vector<uint64_t> drops_, drops_base_;
};

}  // namespace scope::families
