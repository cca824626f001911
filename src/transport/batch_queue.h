// The in-process hop between the ring-buffer reader and whoever writes
// batches out (the embedded store, or the Redis shipper). Bounded: when the
// consumer falls behind, the oldest batch is dropped and counted, so the
// reader never waits.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

#include "event/batch.h"

namespace scope::transport {

class BatchQueue {
 public:
  explicit BatchQueue(size_t max_batches) : max_(max_batches) {}

  // Never blocks. Returns the number of events dropped to make room (0 usually).
  size_t push(event::Batch&& b) {
    size_t dropped = 0;
    {
      std::lock_guard lock(mu_);
      while (q_.size() >= max_ && !q_.empty()) {
        dropped += q_.front().events.size();
        q_.pop_front();
      }
      q_.push_back(std::move(b));
    }
    cv_.notify_one();
    dropped_events_ += dropped;
    return dropped;
  }
  // Waits up to `timeout` for a batch; nullopt when none (or closed and empty).
  std::optional<event::Batch> pop(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return !q_.empty() || closed_; });
    if (q_.empty()) return std::nullopt;
    event::Batch b = std::move(q_.front());
    q_.pop_front();
    return b;
  }
  void close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }
  bool closed_and_empty() {
    std::lock_guard lock(mu_);
    return closed_ && q_.empty();
  }
  size_t size() {
    std::lock_guard lock(mu_);
    return q_.size();
  }
  uint64_t dropped_events() const { return dropped_events_; }

 private:
  size_t max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<event::Batch> q_;
  bool closed_ = false;
  std::atomic<uint64_t> dropped_events_{0};
};

}  // namespace scope::transport
