// `scope trace`: run or attach to processes and print their events live.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace scope::cli {

struct TraceOptions {
  std::string probes = "cuda,ggml,llama";
  int pid = 0;
  std::string comm;
  std::string cgroup;             // --cgroup
  bool open_skip_pseudo = false;  // --open-skip-pseudo
  bool json = false;
  bool quiet = false;  // no per-event lines: the summary only
  double duration_s = 0;
  uint64_t ring_mb = 32;
  uint64_t wakeup_bytes = 1 << 20;  // wake the reader once this much is pending
  int reader_stall_ms = 0;          // test hook: stall the reader to fill the ring
  std::vector<std::string> command;
};

// Adds the subcommand to `app`; `run` is set to call it.
CLI::App* add_trace_command(CLI::App& app, TraceOptions& options);
// Runs the trace; returns the process exit status.
int run_trace(const TraceOptions& options);

}  // namespace scope::cli
