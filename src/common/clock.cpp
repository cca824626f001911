#include "common/clock.h"

#include <time.h>

namespace scope {

namespace {

int64_t clock_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

}  // namespace

int64_t unix_now_ns() { return clock_ns(CLOCK_REALTIME); }
int64_t mono_now_ns() { return clock_ns(CLOCK_MONOTONIC); }
int64_t mono_to_unix_ns() { return unix_now_ns() - mono_now_ns(); }

}  // namespace scope
