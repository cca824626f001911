// `scope trace` lines held for a short window and released in the order of their events' times.
// Each family reads its own ring buffer, so without this an exec line could come out after the
// open that followed it, only because the open family's buffer was read first.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>

namespace scope::session {

class LineReorder {
 public:
  explicit LineReorder(uint64_t window_ns) : window_ns_(window_ns) {}

  // A line and its event's Unix ns; 0 (no time) places it after the latest line seen.
  void add(uint64_t ts_ns, std::string line) {
    if (!ts_ns) ts_ns = latest_;
    if (ts_ns > latest_) latest_ = ts_ns;
    lines_.emplace(ts_ns, std::move(line));  // equal times keep their arrival order
  }

  // Hands `out` the lines whose events are older than `now_ns` - window, oldest first.
  template <class Out>
  void release(uint64_t now_ns, Out&& out) {
    uint64_t cut = now_ns > window_ns_ ? now_ns - window_ns_ : 0;
    auto end = lines_.upper_bound(cut);
    for (auto it = lines_.begin(); it != end; ++it) out(it->second);
    lines_.erase(lines_.begin(), end);
  }

  // Every line held, oldest first (the trace's end).
  template <class Out>
  void release_all(Out&& out) {
    for (auto& [ts, line] : lines_) out(line);
    lines_.clear();
  }

  size_t held() const { return lines_.size(); }

 private:
  uint64_t window_ns_;
  uint64_t latest_ = 0;
  std::multimap<uint64_t, std::string> lines_;
};

}  // namespace scope::session
