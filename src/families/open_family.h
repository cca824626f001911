// The open family: open, openat and openat2 with absolute paths. Decoding,
// path joining, flag names, output lines and the summary live here as plain
// code (unit-tested); open_family.cpp adds the skeleton.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "event/row.h"

namespace scope::families {

// "O_RDONLY|O_CLOEXEC"; bits without a name as one trailing hex value.
std::string open_flags_str(uint64_t flags);

// `path` made lexically normal: no empty, "." or ".." components; ".." at the
// root stays at the root. An absolute path stays absolute; a relative one
// stays relative (leading ".." kept); "" becomes ".".
std::string normalize_path(std::string_view path);

// `path` resolved against the directory `dir` (absolute) and normalised; an
// absolute `path` ignores `dir`.
std::string resolve_path(std::string_view dir, std::string_view path);

// Under /proc or /sys (what --open-skip-pseudo leaves out).
bool is_pseudo_fs_path(std::string_view absolute_path);

// "open", "openat", "openat2".
std::string_view open_call_name(uint32_t call);

struct OpenEvent {
  uint64_t ts_ns = 0;  // Unix ns
  uint32_t pid = 0, tid = 0;
  std::string comm;
  std::string call;
  std::string path;  // absolute unless path_unresolved
  uint64_t flags = 0;
  int32_t ret = 0;
  int32_t dfd = 0;
  bool path_truncated = false;   // a component or the path was cut, or the tree was too deep
  bool path_unresolved = false;  // relative and its directory unknown (a bad dirfd)
};

// One ring-buffer record (a struct open_event header, the path, then any
// directory names; see bpf/shared/open.h), or nothing when it is too short
// to be one.
std::optional<OpenEvent> decode_open_record(const void* data, size_t size, int64_t mono_to_unix_ns);

// Its open_events row.
event::EventRow open_row(const OpenEvent& e);
// The JSON keys made from an open's columns for people: flags_str ("O_RDONLY|O_CLOEXEC") and,
// for a failure, errno_name.
void decorate_open_json(nlohmann::json& j);
// "   0.001234 cat[55/55]                open    /etc/hostname O_RDONLY ret=3"
std::string format_open_line(const OpenEvent& e, uint64_t trace_start_ns);

// The summary: counts per comm, path and errno.
class OpenStats {
 public:
  static constexpr size_t kMaxPaths = 65536;  // distinct paths remembered
  void add(const OpenEvent& e);
  void add_skipped() { ++skipped_pseudo_; }
  uint64_t opens() const { return opens_; }
  uint64_t failed() const { return failed_; }
  uint64_t skipped_pseudo() const { return skipped_pseudo_; }
  nlohmann::json json() const;
  void print(std::FILE* out) const;

 private:
  // Hashed: one lookup per open; only the summary sorts (count desc, then name).
  using Counts = std::unordered_map<std::string, uint64_t>;
  static void sort_desc(std::vector<std::pair<std::string, uint64_t>>& v, size_t limit);
  static std::vector<std::pair<std::string, uint64_t>> top(const Counts& m, size_t limit);
  std::vector<std::pair<std::string, uint64_t>> errors_desc() const;

  uint64_t opens_ = 0, failed_ = 0, skipped_pseudo_ = 0, paths_untracked_ = 0;
  Counts by_comm_, by_path_;
  std::map<int32_t, uint64_t> by_errno_;  // by -errno
};

}  // namespace scope::families
