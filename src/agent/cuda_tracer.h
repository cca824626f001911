// The CUDA probe lifecycle: finds the CUDA runtime, driver and statically
// linked runtimes in processes (now, at exec and at every dlopen), attaches
// each library file once, reads the ring buffer, decodes records into
// CudaEvents and names their kernels.
//
// Its process watch (exec, dlopen through ld.so's _dl_debug_state, exit, and
// the hold of a `-- COMMAND` process until its libraries are attached) also
// serves the other families that probe libraries (llama, ggml): each file a
// traced process maps is handed to `on_library` before the process resumes.
// With `cuda` off the tracer only watches processes for them.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/kernel_names.h"
#include "common/result.h"
#include "discover/symbolizer.h"
#include "event/cuda_event.h"
#include "probe/cuda_probe.h"

namespace scope::agent {

// The time of `clock` in ns.
int64_t clock_ns(clockid_t clock);
// CLOCK_REALTIME - CLOCK_MONOTONIC now: bpf_ktime_get_ns() + this = Unix ns.
int64_t mono_to_unix_ns();

struct CudaTracerOptions {
  const probe::TargetFilter* filter = nullptr;  // required: which processes to trace
  uint64_t ring_bytes = 32ull << 20;
  uint64_t wakeup_bytes = 1ull << 20;
  // How long the runtime's launch functions stay probed after a launch whose
  // kernel had no name (the runtime's host stub names it).
  std::chrono::milliseconds naming_window{2000};
  // System-wide tracing: hold a process that loads a CUDA library until
  // attached (never one with a controlling terminal).
  bool hold_cuda_loads = false;
  // Attach the CUDA runtime and driver (the cuda family).
  bool cuda = true;
  // Every file a traced process maps (`pid`), or that a command is about to
  // load (pid 0), as scope can open it; returns whether it is a library the
  // listener probes. Called at scans, before a held process resumes.
  std::function<bool(uint32_t pid, const std::string& path)> on_library;
};

struct CudaTracerStats {
  uint64_t records = 0;
  uint64_t cuda_events = 0;
  uint64_t name_events = 0;
  uint64_t loader_events = 0;
  uint64_t decode_errors = 0;
  // Stops of a `-- COMMAND` process until attached: at exec (static executables, interpreters
  // not hooked yet) and at the loader's hook (program start, each dlopen).
  uint64_t held_at_exec = 0;
  uint64_t held_at_loader = 0;
};

class CudaTracer {
 public:
  using EventSink = std::function<void(const CudaEvent&)>;
  using ExitSink = std::function<void(uint32_t pid, int exit_code)>;

  static Result<std::unique_ptr<CudaTracer>> create(const CudaTracerOptions& options,
                                                    EventSink on_event, ExitSink on_exit);
  ~CudaTracer();

  // Attaches to the CUDA libraries `pid` maps now, hands its files to
  // `on_library` and hooks its loader. Returns the number of library files
  // the process maps that the cuda family or the listener probes.
  Result<size_t> scan_process(uint32_t pid);
  // The host's driver (libcuda.so.1 in the loader cache): every launch goes
  // through it, so a process started later is seen from its first launch.
  void attach_host_driver();
  // Every process on the host (no filter).
  void scan_all_processes();
  // Before exec: attaches to the libraries `exe` will load with this environment.
  Status prepare_command(const std::string& exe, const std::vector<std::string>& environ);

  // Waits up to timeout_ms for records and handles them; also ends naming windows.
  int poll(int timeout_ms);
  // Handles what is left in the ring buffer.
  void drain();
  // Resumes every process still stopped at exec/dlopen (called on the way out).
  void release_held();

  uint64_t dropped() const;
  const CudaTracerStats& stats() const { return stats_; }
  // Library files attached so far, and the problems met (one line each).
  const std::vector<std::string>& attached_files() const { return attached_files_; }
  const std::vector<std::string>& problems() const { return problems_; }
  bool saw_cuda() const { return !attached_files_.empty(); }
  size_t link_count() const { return probe_->link_count(); }
  // Launches reported without a name whose name was learned later, by name.
  std::map<std::string, uint64_t> named_later() const { return names_.named_later(); }
  // Test hook: probe the runtime's launch functions from now on.
  void force_runtime_launch_probes();

 private:
  struct FileInfo {
    std::string path;
    int kind = 0;              // discover::CudaLibraryKind
    std::string launch_group;  // runtime launch probes; empty for the driver
    std::vector<probe::ProbePoint> launch_points;
    bool driverless = false;  // no driver resolvable: launches only seen here
    bool launch_attached = false;
  };

  explicit CudaTracer(const CudaTracerOptions& options) : options_(options) {}
  static int on_record(void* ctx, void* data, size_t size);
  int handle_record(const void* data, size_t size);
  void handle_cuda(const cuda_event& rec);
  void handle_name(const cuda_name_event& rec);
  void handle_loader(const loader_event& rec);
  // Attaches one file (once per file); returns its key or empty.
  // The environment a runtime's dlopen("libcuda.so.1") searches with: the
  // command's (given) or a running process's (read from /proc when needed).
  // A default one has no LD_LIBRARY_PATH.
  struct LoaderEnv {
    uint32_t pid = 0;
    const std::vector<std::string>* environ = nullptr;
    std::vector<std::string> get() const;
  };
  std::string attach_file(const std::string& path, const LoaderEnv& env);
  void attach_loader(const std::string& path);
  void attach_driver_candidates(const std::string& runtime_path,
                                const std::vector<std::string>& environ, FileInfo& info);
  void note_problem(const std::string& line);
  void begin_naming(uint32_t pid);
  void set_runtime_launch_probes(const std::string& key, bool on);
  void resume(uint32_t pid);

  CudaTracerOptions options_;
  std::unique_ptr<probe::CudaProbe> probe_;
  EventSink on_event_;
  ExitSink on_exit_;
  int64_t mono_to_unix_ns_ = 0;
  CudaTracerStats stats_;

  std::map<std::string, FileInfo> files_;  // key: "dev:inode"
  std::set<std::string> loader_hooks_;
  std::set<std::string> scanned_paths_;  // paths already classified (incl. non-CUDA)
  // Files scan_process has handled, by "dev:inode": whether a library family took the file.
  std::unordered_map<std::string, bool> handled_files_;
  std::unordered_map<uint32_t, std::set<std::string>> pid_files_;  // pid -> runtime keys
  std::vector<std::string> attached_files_;
  std::vector<std::string> problems_;
  std::set<std::string> problem_set_;

  KernelNames names_;
  discover::ProcessSymbolizer symbolizer_;
  std::set<uint32_t> held_;
  std::chrono::steady_clock::time_point naming_until_{};
  std::set<std::string> naming_keys_;
  bool force_runtime_launches_ = false;
};

}  // namespace scope::agent
