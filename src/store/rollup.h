// A rollup both stores keep beside cuda_events, in the same transaction as the
// batch: launches and their summed duration per minute, node, pid and kernel.
// "Top kernels in a window" reads a few rows per minute instead of every
// launch (a 5-minute window of a busy host is ~10^6 launches).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "event/batch.h"

namespace scope::store {

inline constexpr const char* kKernelMinutesTable = "cuda_kernel_minutes";
inline constexpr int64_t kMinuteNs = 60'000'000'000;

struct KernelMinute {
  int64_t minute_ns = 0;  // ts_ns rounded down to the minute
  int64_t pid = 0;
  std::string kernel;  // "" for a launch whose name is not known
  int64_t launches = 0;
  int64_t total_ns = 0;
};

// The batch's launches, aggregated.
std::vector<KernelMinute> kernel_minutes(const event::Batch& batch);

// The upsert of one row: parameters minute_ns, node, pid, kernel, launches, total_ns
// as ?1..?6 (SQLite) or $1..$6 (PostgreSQL, `dollar` true).
std::string kernel_minutes_upsert(bool dollar);

// Retention of the store's own tables (both stores): the dedupe rows of
// batches ingested before `cutoff_ns` and the rollup's whole minutes before it.
std::string bookkeeping_retention_sql(int64_t cutoff_ns);

}  // namespace scope::store
