// Who a process is, for enriching events: its command line, its cgroup (v2)
// and the container it runs in. Read from /proc on first sight and cached
// briefly (a process may exec); a process already gone yields nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace scope::discover {

struct ProcessInfo {
  std::string cmdline;       // arguments joined by spaces (at most 4 KiB)
  std::string cgroup;        // the cgroup v2 path ("0::" line of /proc/<pid>/cgroup)
  std::string container_id;  // 64 hex digits from the cgroup path, or ""
};

// The container id in a cgroup path: docker-<id>.scope, cri-containerd-<id>.scope,
// crio-<id>.scope, libpod-<id>.scope or a /docker/<id> path component.
std::string container_id_from_cgroup(std::string_view cgroup_path);
// /proc/<pid>/cmdline (NUL-separated) as one line; its credentials as "***" when `redact_args`.
std::string join_cmdline(std::string_view raw, size_t max_bytes = 4096, bool redact_args = false);
// The v2 path in /proc/<pid>/cgroup's text.
std::string cgroup_v2_path(std::string_view proc_cgroup);

class ProcessInfoCache {
 public:
  // `redact_args`: credentials in the cmdline become "***" (common/redact.h).
  explicit ProcessInfoCache(std::chrono::milliseconds ttl = std::chrono::milliseconds(1000),
                            bool redact_args = true)
      : ttl_(ttl), redact_args_(redact_args) {}
  // Info of `pid`, or nullptr when it cannot be read (the process is gone).
  const ProcessInfo* lookup(uint32_t pid);

 private:
  struct Entry {
    std::optional<ProcessInfo> info;
    std::chrono::steady_clock::time_point read_at;
  };
  std::chrono::milliseconds ttl_;
  bool redact_args_;
  std::unordered_map<uint32_t, Entry> cache_;
};

}  // namespace scope::discover
