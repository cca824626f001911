// The exec family's decoding, formatting and aggregation: plain code, unit
// tested without privileges (tests/unit/exec_family_test.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/shared/exec.h"
#include "event/row.h"

namespace scope::families {

// An execve/execveat as the kernel saw it at its return.
struct ExecEvent {
  uint64_t ts_ns = 0;  // Unix ns
  uint32_t pid = 0, tid = 0, ppid = 0, uid = 0;
  int32_t ret = 0;
  uint64_t duration_ns = 0;
  std::string comm;
  std::string filename;
  std::vector<std::string> argv;
  bool execveat = false;
  int32_t dirfd = 0;  // execveat only
  bool argv_truncated = false;
  bool filename_truncated = false;
  bool argv_fault = false;
  bool filename_fault = false;
};

// The filename an execveat was given, from the kernel's "/dev/fd/<dirfd>/<name>" (what the
// exec family reads when a forked child's strings were not readable at entry).
std::string execveat_name(std::string_view kernel_filename, int32_t dirfd);

// The last thread of a process exited.
struct ExitEvent {
  uint64_t ts_ns = 0;  // Unix ns
  uint32_t pid = 0, tid = 0, ppid = 0;
  std::string comm;
  int32_t raw_status = 0;  // task->exit_code
  uint64_t lifetime_ns = 0;

  int exit_code() const { return (raw_status >> 8) & 0xff; }
  int signal() const { return raw_status & 0x7f; }  // 0 when it exited
  bool core_dumped() const { return (raw_status & 0x80) != 0; }
};

// Decoders of ring records; nullopt for a malformed one (a size that does not
// match the header). `mono_to_unix_ns` turns bpf_ktime_get_ns() into Unix ns.
std::optional<ExecEvent> decode_exec_record(const void* data, size_t size, int64_t mono_to_unix_ns);
std::optional<ExitEvent> decode_exit_record(const void* data, size_t size, int64_t mono_to_unix_ns);

// An argument as a shell reader expects it: bare when it only has safe
// characters, else in double quotes with ", \, $ and ` escaped and control
// bytes as \n, \t, \xNN.
std::string quote_arg(std::string_view arg);

// "SIGKILL" for 9; "SIG<n>" when unknown.
std::string signal_name(int sig);

// The exec_events rows of both.
event::EventRow exec_row(const ExecEvent& e);
event::EventRow exit_row(const ExitEvent& e);
// `  12.345678 bash[123/123]   exec  ppid=100 ret=0 /usr/bin/ls ls -l "a b"`
std::string format_exec_line(const ExecEvent& e, uint64_t start_ns);
std::string format_exit_line(const ExitEvent& e, uint64_t start_ns);

// Totals for the summary.
class ExecStats {
 public:
  void add(const ExecEvent& e);
  void add(const ExitEvent& e);
  uint64_t execs() const { return execs_; }
  uint64_t failed() const { return failed_; }
  uint64_t exits() const { return exits_; }
  uint64_t truncated() const { return truncated_; }
  // The `count` most frequent comms of exec events, most first (ties by name).
  std::vector<std::pair<std::string, uint64_t>> top_comms(size_t count) const;
  // drops: {exec ring, exec in-flight map, exit ring}
  nlohmann::json summary_json(uint64_t dropped_execs, uint64_t dropped_exits) const;
  void print(std::FILE* out, uint64_t dropped_execs, uint64_t dropped_exits) const;

 private:
  uint64_t execs_ = 0, failed_ = 0, exits_ = 0, truncated_ = 0;
  std::map<std::string, uint64_t> by_comm_;
};

}  // namespace scope::families
