// What an aggregating family's cumulative kernel counters gained since the
// last interval, per key (a thread and syscall, a thread). A counter that went
// backwards belongs to a new owner of a recycled key: it counts from zero.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <unordered_map>

namespace scope::families {

template <size_t N>
class IntervalDeltas {
 public:
  using Counters = std::array<uint64_t, N>;
  // The gain of `now` over the previous value of `key`, or nullopt when nothing changed.
  std::optional<Counters> update(uint64_t key, const Counters& now) {
    Counters& prev = prev_[key];
    bool restarted = false;
    for (size_t i = 0; i < N; ++i) restarted |= now[i] < prev[i];
    Counters d{};
    bool changed = false;
    for (size_t i = 0; i < N; ++i) {
      d[i] = restarted ? now[i] : now[i] - prev[i];
      changed |= d[i] != 0;
    }
    prev = now;
    if (!changed) return std::nullopt;
    return d;
  }
  // Forgets a key that will not be updated again.
  void forget(uint64_t key) { prev_.erase(key); }

 private:
  std::unordered_map<uint64_t, Counters> prev_;
};

}  // namespace scope::families
