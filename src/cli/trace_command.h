// `scope trace`: run or attach to processes and print their events live.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "cli/session_flags.h"

namespace scope::cli {

struct TraceOptions {
  SessionFlags session;
  int pid = 0;
  bool json = false;
  bool quiet = false;  // no per-event lines: the summary only
  double duration_s = 0;
  std::string output;              // -o: events and summary to this file
  std::string perfetto;            // --perfetto: also a Perfetto trace to this file
  bool no_follow_orphans = false;  // stop at the command's exit
  bool no_gpu_times = false;       // do not hand COMMAND scope's CUPTI library
  int reader_stall_ms = 0;         // test hook: stall the reader to fill the ring
  std::vector<std::string> command;
};

// Adds the subcommand to `app`.
CLI::App* add_trace_command(CLI::App& app, TraceOptions& options);
// Runs the trace; returns the process exit status.
int run_trace(const TraceOptions& options);

}  // namespace scope::cli
