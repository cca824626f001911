// Per-agent sequence numbers that survive restarts: batches are keyed by
// (node, boot_id, first_seq), so a restarted agent must never reuse a number.
// Numbers are reserved in blocks written (fsync'ed) to a file in the data
// dir; a restart continues after the last reserved block (gaps are fine).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include "common/result.h"

namespace scope::agent {

class SequenceAllocator {
 public:
  // `path`: the state file (created); `block`: numbers reserved per write.
  static Result<SequenceAllocator> open(const std::string& path, uint64_t block = 1u << 20);
  // An in-memory allocator starting at `first` (tests, `scope trace`).
  static SequenceAllocator in_memory(uint64_t first = 0);

  SequenceAllocator(SequenceAllocator&& other) noexcept;
  // The first of `n` consecutive new numbers.
  Result<uint64_t> take(uint64_t n);

 private:
  SequenceAllocator() = default;
  Status reserve(uint64_t up_to);
  std::mutex mu_;
  std::string path_;
  uint64_t block_ = 0;
  uint64_t next_ = 0;
  uint64_t reserved_ = UINT64_MAX;
};

}  // namespace scope::agent
