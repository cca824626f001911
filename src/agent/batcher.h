// Groups event rows into batches (at most `max_events` and `max_payload_bytes`, or
// whatever arrived within `max_delay`), numbers them and hands each batch to a
// sink. Runs on the ring-buffer reader's thread: it never blocks, the sink must
// not either.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "agent/sequence.h"
#include "event/batch.h"

namespace scope::agent {

struct BatcherOptions {
  std::string node;
  std::string boot_id;
  size_t max_events = 8192;
  std::chrono::milliseconds max_delay{100};
  // A batch is closed once its events take this much of a payload (event::payload_bytes): half
  // of what a server accepts (event::kMaxBatchPayloadBytes), so long argv and paths never make
  // one that it refuses.
  size_t max_payload_bytes = event::kMaxBatchPayloadBytes / 2;
};

class Batcher {
 public:
  using Sink = std::function<void(event::Batch&&)>;
  Batcher(BatcherOptions options, SequenceAllocator& seq, Sink sink);

  void add(event::EventRow&& row);
  // Flushes a batch older than max_delay; call it at least every max_delay.
  void tick();
  void flush();
  uint64_t batches() const { return batches_; }
  uint64_t events() const { return events_; }
  // Rows lost because no sequence number could be reserved (a full disk).
  uint64_t lost() const { return lost_; }

 private:
  BatcherOptions options_;
  SequenceAllocator& seq_;
  Sink sink_;
  event::Batch open_;
  size_t open_bytes_ = 0;
  std::chrono::steady_clock::time_point opened_at_;
  uint64_t batches_ = 0;
  uint64_t events_ = 0;
  uint64_t lost_ = 0;
};

}  // namespace scope::agent
