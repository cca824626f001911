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
// A batch whose payload compresses more than kMaxBatchRatio:1 is followed, after its zstd
// frame, by a zstd skippable frame of zeros, so that no batch an agent makes is taken for a
// decompression bomb (a decoder of any version skips it).
//
// What a server accepts (BatchLimits' defaults; a batch over them is refused whole, with its
// cause, and never partly decompressed past them): at most 16 MiB decompressed, 100,000 events,
// 200 bytes decompressed per byte received, a node name and boot id of 1 to 64 characters of
// [A-Za-z0-9._-].
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "event/row.h"

namespace scope::event {

inline constexpr uint8_t kBatchVersion = 1;
inline constexpr size_t kMaxBatchPayloadBytes = 16u << 20;
inline constexpr size_t kMaxBatchEvents = 100'000;
inline constexpr size_t kMaxBatchRatio = 200;
inline constexpr size_t kMaxIdentityBytes = 64;

struct Batch {
  std::string node;
  std::string boot_id;
  uint64_t first_seq = 0;
  std::vector<EventRow> events;
};

struct BatchLimits {
  // A frame that holds at most max_payload_bytes is never larger than this (zstd's bound).
  size_t max_encoded_bytes = kMaxBatchPayloadBytes + (kMaxBatchPayloadBytes >> 7) + 4096;
  size_t max_payload_bytes = kMaxBatchPayloadBytes;
  size_t max_events = kMaxBatchEvents;
  // Decompressed bytes per byte of the whole encoded batch.
  size_t max_ratio = kMaxBatchRatio;
  size_t max_string_bytes = 1u << 20;
};

// Why a batch was refused, for the server's scope_ingest_rejected_total{cause}.
enum class BatchRefusal : uint8_t {
  kUndecodable,    // not a batch, a corrupt frame or payload, a size its header does not match
  kTooLarge,       // over max_encoded_bytes or max_payload_bytes (or a zstd window over it)
  kRatio,          // expands more than max_ratio:1
  kTooManyEvents,  // over max_events
  kBadNode,        // a node name or boot id that is not 1-64 of [A-Za-z0-9._-]
};
inline constexpr BatchRefusal kAllRefusals[] = {BatchRefusal::kUndecodable, BatchRefusal::kTooLarge,
                                                BatchRefusal::kRatio, BatchRefusal::kTooManyEvents,
                                                BatchRefusal::kBadNode};
// "undecodable", "too_large", "ratio", "too_many_events", "bad_node".
const char* refusal_cause(BatchRefusal why);

// A node name or boot id a batch may carry: 1 to 64 of [A-Za-z0-9._-].
bool valid_identity(std::string_view name);

// zstd level 1: the agent compresses on the ring-buffer reader's thread budget.
std::string encode_batch(const Batch& batch, int zstd_level = 1);
// An upper bound of `row`'s bytes in an encoded batch's payload (before compression).
size_t payload_bytes(const EventRow& row);
// Rejects malformed, truncated, oversized and unknown-version input with an
// error line (and, in `why`, its cause); never crashes, never reads out of
// bounds. Decompresses in steps into a buffer that grows with what the frame
// really holds, never past min(the header's size, max_payload_bytes,
// max_ratio x the input): the size a batch claims is never allocated up front.
Result<Batch> decode_batch(std::string_view bytes, const BatchLimits& limits = {},
                           BatchRefusal* why = nullptr);

}  // namespace scope::event
