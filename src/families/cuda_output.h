// `cuda` events and totals for people (one aligned line per event, summary tables) and for
// machines (the JSON of DESIGN.md's event vocabulary and the summary's `cuda` object).
#pragma once

#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "event/cuda_event.h"
#include "event/row.h"
#include "families/cuda_accounting.h"

namespace scope {

// "0x7f12..." (lowercase, no padding).
std::string cuda_hex(uint64_t value);
// "850ns", "52.1us", "2.10ms", "1.234s".
std::string cuda_duration(uint64_t ns);
// "512 B", "4.0 KiB", "1.0 MiB", "2.50 GiB".
std::string cuda_bytes(uint64_t bytes);

// One human line, no trailing newline: seconds since trace_start_ns, comm[pid/tid], call, op,
// then what the op carries.
std::string format_cuda_line(const CudaEvent& event, uint64_t trace_start_ns);

// Its cuda_events row (DESIGN.md's keys; its JSON is event::row_json of it).
event::EventRow cuda_row(const CudaEvent& event);

// The `cuda` object of the summary.
nlohmann::json cuda_summary_json(const CudaAccounting& acct);

// Human tables: top kernels (at most top_n), memory, leaks, time in sync, copies.
void print_cuda_summary(std::FILE* out, const CudaAccounting& acct, size_t top_n = 15);

}  // namespace scope
