// The userspace side of SCOPE_DROPPED_COUNTERS (bpf/include/scope_events.bpf.h):
// per-CPU counters of events a BPF program could not deliver, one per cause.
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <vector>

namespace scope::probe {

// The count per cause, summed over CPUs (a cause that cannot be read counts 0).
inline std::vector<uint64_t> read_drop_counters(const bpf_map* map) {
  std::vector<uint64_t> out(bpf_map__max_entries(map), 0);
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return out;
  std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpu));
  for (uint32_t cause = 0; cause < out.size(); ++cause) {
    if (bpf_map__lookup_elem(map, &cause, sizeof(cause), per_cpu.data(),
                             per_cpu.size() * sizeof(uint64_t), 0) != 0)
      continue;
    for (uint64_t v : per_cpu) out[cause] += v;
  }
  return out;
}

// All causes together.
inline uint64_t total_drops(const bpf_map* map) {
  uint64_t total = 0;
  for (uint64_t n : read_drop_counters(map)) total += n;
  return total;
}

}  // namespace scope::probe
