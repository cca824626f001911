// Event batches: what an agent ships and a store ingests. A batch carries the
// agent's node name, its boot id and the sequence number of its first event
// (event i has first_seq + i): a store that has seen (node, boot_id,
// first_seq) ignores the batch, so redelivery and replay are idempotent.
//
// Wire format, version 1 (little-endian):
//   "SCPB" | u8 version | u8 codec (1 = zstd) | u16 0 | u32 payload size | zstd frame
// payload: str node | str boot_id | varint first_seq | varint count | events
// event:   u8 family | zigzag varint ts delta | varint pid | varint tid | str comm |
//          varint n | n values (u8 tag 0 null, 1 zigzag varint, 2 str)
// str:     varint length | bytes
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "event/row.h"

namespace scope::event {

inline constexpr uint8_t kBatchVersion = 1;

struct Batch {
  std::string node;
  std::string boot_id;
  uint64_t first_seq = 0;
  std::vector<EventRow> events;
};

struct BatchLimits {
  size_t max_encoded_bytes = 64u << 20;
  size_t max_payload_bytes = 256u << 20;
  size_t max_events = 4u << 20;
  size_t max_string_bytes = 1u << 20;
};

// zstd level 1: the agent compresses on the ring-buffer reader's thread budget.
std::string encode_batch(const Batch& batch, int zstd_level = 1);
// Rejects malformed, truncated, oversized and unknown-version input with an
// error line; never crashes, never reads out of bounds.
Result<Batch> decode_batch(std::string_view bytes, const BatchLimits& limits = {});

}  // namespace scope::event
