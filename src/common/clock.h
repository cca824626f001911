// Time, in one place. Events carry Unix ns (CLOCK_REALTIME); BPF programs
// stamp them with bpf_ktime_get_ns() (CLOCK_MONOTONIC), which
// mono_to_unix_ns() turns into Unix time.
#pragma once

#include <cstdint>

namespace scope {

// CLOCK_REALTIME now, in ns since the Unix epoch.
int64_t unix_now_ns();
// CLOCK_MONOTONIC now (bpf_ktime_get_ns's clock).
int64_t mono_now_ns();
// CLOCK_REALTIME - CLOCK_MONOTONIC now: a BPF timestamp + this = Unix ns.
int64_t mono_to_unix_ns();

}  // namespace scope
