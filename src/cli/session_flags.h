// The flags every command that runs probes shares (`scope trace`, `scope up`, `scope agent`):
// the same names, meanings and environment aliases everywhere.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <set>
#include <string>

#include "common/result.h"
#include "session/session.h"

namespace scope::cli {

struct SessionFlags {
  std::string probes = "cuda,ggml,llama";
  std::string comm;
  std::string cgroup;
  bool open_skip_pseudo = false;
  uint64_t ring_mb = 32;
  uint64_t wakeup_bytes = 1 << 20;
  bool no_redact_args = false;  // keep credentials in exec argv and cmdlines as they are
};

// --probes, -c/--comm, --cgroup, --open-skip-pseudo, --ring-buffer-mb, --no-redact-args (and a
// hidden --wakeup-bytes), each with its SCOPE_* alias.
void add_session_flags(CLI::App* cmd, SessionFlags& flags);

// The families asked for (bad_input: an unknown one).
Result<std::set<std::string>> probe_set(const SessionFlags& flags);
// The session's options from the flags (bad_input: a comm too long; not_found: no such cgroup).
Result<session::SessionOptions> session_options(const SessionFlags& flags);

// "scope: MESSAGE" (and " [not_root]" or " [kernel_too_old]") on stderr, and the exit status for
// the error's code (2: bad input, else 1).
int report(const Error& error, const char* who = "scope");

}  // namespace scope::cli
