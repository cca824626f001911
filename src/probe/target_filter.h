// The traced-process filter shared by every probe family: one BPF hash map of
// tgids (kept by bpf/targets.bpf.c: children inherit, freed processes leave)
// that each family's skeleton reuses, plus the comm and cgroup matched in the
// kernel (bpf/include/scope_filter.bpf.h).
#pragma once

#include <bpf/libbpf.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

struct targets_bpf;

namespace scope::probe {

// Traced-tgid flags, as in bpf/include/scope_filter.bpf.h.
inline constexpr uint32_t kTracedOn = 1;
inline constexpr uint32_t kTracedHold = 2;
inline constexpr uint32_t kTracedAfterExec = 4;  // scope's launcher: traced from its exec on

struct TargetFilterOptions {
  bool enabled = false;    // trace only added pids (and comm/cgroup matches)
  std::string comm;        // --comm
  uint64_t cgroup_id = 0;  // --cgroup, as a cgroup v2 id
};

// Where the cgroup v2 hierarchy is mounted.
std::string cgroup2_mount();
// Resolves a cgroup v2 directory (its path in the v2 tree, or a full path under its mount) to
// its id.
Result<uint64_t> cgroup_id_of(const std::string& path);

class TargetFilter {
 public:
  static Result<std::unique_ptr<TargetFilter>> open(const TargetFilterOptions& options);
  ~TargetFilter();
  TargetFilter(const TargetFilter&) = delete;
  TargetFilter& operator=(const TargetFilter&) = delete;

  const TargetFilterOptions& options() const { return options_; }
  int map_fd() const;
  Status add(uint32_t tgid, uint32_t flags);
  void remove(uint32_t tgid);
  // The tgids in the map now (added, inherited or matched), alive or not yet freed.
  std::vector<uint32_t> traced_pids() const;

  // Writes the filter into a skeleton's .rodata and points its `traced` map at
  // the shared one; call between open and load.
  template <typename Skeleton>
  Status apply(Skeleton* skel) const {
    auto* ro = skel->rodata;
    ro->filter_enabled = options_.enabled;
    ro->filter_comm = !options_.comm.empty();
    std::strncpy(const_cast<char*>(ro->targ_comm), options_.comm.c_str(), 15);
    ro->targ_cgroup = options_.cgroup_id;
    ro->filter_skip_tgid = static_cast<uint32_t>(getpid());
    return reuse(skel->maps.traced);
  }

 private:
  TargetFilter() = default;
  Status reuse(bpf_map* map) const;
  TargetFilterOptions options_;
  targets_bpf* skel_ = nullptr;
  bpf_link* links_[3] = {};
};

}  // namespace scope::probe
