// The process watch (bpf/watch.bpf.c): follows traced processes through exec,
// dlopen (ld.so's _dl_debug_state hook) and exit, hands every file they map to
// the library families (cuda, ggml, llama) and holds a process (SIGSTOP from
// the kernel) until they have attached, so that no first call is missed.
// Loaded while at least one library family runs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "families/family.h"
#include "probe/target_filter.h"
#include "probe/uprobe_links.h"

struct watch_bpf;

namespace scope::session {

struct ProcessWatchOptions {
  const probe::TargetFilter* filter = nullptr;
  // System-wide tracing: a process that opens one of the listeners' hold_names() is held at the
  // loader's next hook until attached (never one with a controlling terminal).
  bool hold_library_loads = false;
};

struct WatchStats {
  uint64_t events = 0;      // exec, dlopen and exit records read
  uint64_t bad_events = 0;  // records that did not decode
  // Stops of a process until its libraries were attached: at exec (static executables,
  // interpreters not hooked yet) and at the loader's hook (program start, each dlopen).
  uint64_t held_at_exec = 0;
  uint64_t held_at_loader = 0;
};

class ProcessWatch {
 public:
  static Result<std::unique_ptr<ProcessWatch>> start(const ProcessWatchOptions& options);
  ~ProcessWatch();  // resumes every held process; nothing stays in the kernel
  ProcessWatch(const ProcessWatch&) = delete;
  ProcessWatch& operator=(const ProcessWatch&) = delete;

  // The library families to hand files to (after any of them starts or stops). A listener new
  // to the watch is offered every file seen from then on, and by the caller's rescan.
  void set_listeners(const std::vector<families::LibraryListener*>& listeners);
  // Called before an exec or exit is handled: the session reads the families' rings first, so
  // that what the process did before is handled before it (names, leaks).
  void set_before_process_event(std::function<void()> fn) { before_event_ = std::move(fn); }

  // Hands the files `pid` maps now to the listeners and hooks its loader. Returns how many of
  // them some listener took; an error (not_found) when the process is gone.
  Result<size_t> scan_process(uint32_t pid);
  // Every process on the host.
  void scan_all_processes();
  // Before `exe` is exec'd with `environ`: hooks its interpreter and hands the libraries it
  // will load (as its loader would find them) to the listeners.
  void prepare_command(const std::string& exe, const std::vector<std::string>& environ);
  // Continues every process still stopped (on the way out, or before killing a command).
  void release_held();

  int ring_map_fd() const;
  static int on_record(void* ctx, void* data, size_t size);
  const WatchStats& stats() const { return stats_; }
  uint64_t dropped() const;  // records the kernel could not deliver

 private:
  explicit ProcessWatch(const ProcessWatchOptions& options) : options_(options) {}
  int handle_record(const void* data, size_t size);
  void attach_loader(const std::string& path);
  void update_hold_names();
  void resume(uint32_t pid);

  ProcessWatchOptions options_;
  watch_bpf* skel_ = nullptr;
  std::unique_ptr<probe::UprobeLinks> links_;
  std::vector<families::LibraryListener*> listeners_;
  std::function<void()> before_event_;
  // Files handled, by the "dev:inode" of their maps line: which listeners were offered it and
  // which took it (bit i: listeners_[i]; a listener leaving clears its bits).
  struct Handled {
    uint32_t offered = 0;
    uint32_t taken = 0;
  };
  std::unordered_map<std::string, Handled> handled_;
  std::set<std::string> loader_hooks_;  // ld.so files hooked, by key
  std::set<uint32_t> held_;
  WatchStats stats_;
};

}  // namespace scope::session
