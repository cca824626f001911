// The agent's on-disk spool: encoded batches wait here while Redis is
// unreachable and are replayed, oldest first, when it returns. Bounded: when
// full, the oldest segment is dropped and its events counted. Records are
// checksummed (CRC-32C) and fsync'ed; a restarted agent replays what an
// earlier one left. A record replayed twice (a crash between XADD and the
// head update) is harmless: stores ignore a batch they have already stored.
//
// Layout: <dir>/<12-digit number>.seg files, appended in order, and <dir>/head
// ("segment offset") marking how far replay got.
// Record: u32 magic "SPR1" | u32 payload bytes | u64 events | u32 crc32c(events,
// payload) | payload (an encoded batch).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace scope::agent {

struct SpoolOptions {
  std::string dir;
  uint64_t max_bytes = 1ull << 30;
  uint64_t segment_bytes = 16ull << 20;  // capped at max_bytes / 4
  bool fsync = true;
};

struct SpoolRecord {
  uint64_t events = 0;
  std::string data;
};

struct SpoolStats {
  uint64_t appended_batches = 0, appended_events = 0;
  uint64_t replayed_batches = 0, replayed_events = 0;
  uint64_t dropped_batches = 0, dropped_events = 0;  // oldest dropped when full
  uint64_t corrupt_records = 0;                      // failed their checksum (or torn)
  uint64_t pending_batches = 0, pending_events = 0, bytes = 0;
};

// Not thread-safe: one thread (the shipper) owns it; stats() may be read from any.
class Spool {
 public:
  static Result<std::unique_ptr<Spool>> open(const SpoolOptions& options);
  ~Spool();

  // Appends one encoded batch carrying `events` events, durable on return.
  // Makes room by dropping the oldest segments (counted).
  Status append(std::string_view data, uint64_t events);
  // The oldest record not replayed yet; nullopt when empty.
  Result<std::optional<SpoolRecord>> peek();
  // Marks the record peek() returned as replayed.
  Status pop();
  bool empty() const { return pending_batches_ == 0; }
  SpoolStats stats() const;

 private:
  struct Segment {
    uint64_t number = 0;
    uint64_t bytes = 0;    // file size
    uint64_t batches = 0;  // records not yet replayed
    uint64_t events = 0;
  };
  explicit Spool(SpoolOptions o) : options_(std::move(o)) {}
  Status init();
  std::string path_of(uint64_t number) const;
  Status scan(Segment& seg, uint64_t from, bool truncate_tail);
  Status roll();
  void drop_front();
  Status save_head();
  Result<int> open_segment(uint64_t number, bool existing);
  void add_pending(int64_t batches, int64_t events, int64_t bytes);

  SpoolOptions options_;
  std::deque<Segment> segments_;  // oldest first; the back one is appended to
  int write_fd_ = -1;
  uint64_t head_offset_ = 0;  // in segments_.front()
  uint64_t peeked_size_ = 0;  // bytes of the record peek() returned, 0 when none
  uint64_t peeked_events_ = 0;
  std::atomic<uint64_t> pending_batches_{0}, pending_events_{0}, bytes_{0};
  std::atomic<uint64_t> appended_batches_{0}, appended_events_{0};
  std::atomic<uint64_t> replayed_batches_{0}, replayed_events_{0};
  std::atomic<uint64_t> dropped_batches_{0}, dropped_events_{0}, corrupt_{0};
};

// CRC-32C (Castagnoli), software.
uint32_t crc32c(uint32_t crc, const void* data, size_t n);

}  // namespace scope::agent
