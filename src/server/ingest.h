// The server's consumer loop: Redis stream (consumer group) → decode → Store.
// An entry is acknowledged only after its batch is committed (or known to be
// stored already); a crash before the XACK leaves it pending, to be read
// again by this consumer after a restart (its own pending list) or claimed
// by another one (XAUTOCLAIM). An entry that does not decode, or that the
// store rejects while it answers other queries, is moved to `<stream>:dead`
// and counted; ingest goes on. While the store is unreachable the batch in
// hand is retried with backoff and nothing is acknowledged.
//
// What an agent sends is not trusted: a batch over event::BatchLimits (16 MiB
// decompressed, 100,000 events, 200:1), with a bad node name or boot id, or
// that does not decode is refused at once (never retried, never decompressed
// past the limits), moved to `<stream>:dead` (about dead_max_len entries kept,
// each cut to dead_keep_bytes) and counted in
// scope_ingest_rejected_total{cause=too_large|ratio|too_many_events|bad_node|undecodable}.
//
// Entries are authenticated before they are decoded: each carries the node's name (`n`) and its
// Ed25519 signature over the batch bytes (`s`); the signature must verify with that node's
// enrolled key (node_key) and the batch must name the same node. An entry that fails (unsigned,
// unknown node, bad signature, node mismatch) is counted in scope_ingest_rejected_total{cause},
// moved to `<stream>:dead` once and acknowledged: forged entries never reach the store, so they
// cannot take a real batch's (node, boot_id, first_seq) and have it dropped as a duplicate.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "event/batch.h"
#include "export/metrics.h"
#include "export/pipeline_metrics.h"
#include "store/store.h"
#include "transport/redis_stream.h"

namespace scope::server {

struct IngestOptions {
  transport::RedisEndpoint redis;
  std::string stream = "scope:events";
  std::string group = "scope-server";
  std::string consumer;  // default: host name (stable, so a restart finds its pending entries)
  size_t read_count = 16;
  int block_ms = 500;
  int claim_idle_ms = 30000;  // entries pending this long on another consumer are taken over
  std::chrono::milliseconds claim_every{5000};
  std::chrono::milliseconds trim_every{5000};
  int store_attempts = 3;  // failures while the store answers before a batch is dead-lettered
  event::BatchLimits limits;
  size_t dead_max_len = 10000;        // XADD MAXLEN ~ of `<stream>:dead`
  size_t dead_keep_bytes = 64 << 10;  // of a refused entry's data, in `<stream>:dead`
  // A node's raw Ed25519 public key; nullopt when it has none; an error when it cannot be known
  // now (retried). Unset: entries are not authenticated (tests of the stream alone).
  // `read_at`: when the entry was read from the stream (a node enrolled before that is known);
  // `stale`: the key given before did not verify (the node may have enrolled again since).
  std::function<Result<std::optional<std::string>>(
      const std::string& node, std::chrono::steady_clock::time_point read_at, bool stale)>
      node_key;
  // Migration from agents that do not sign: unsigned entries are stored, unless they name a node
  // that has a key (an enrolled node always signs). Insecure: anyone who can XADD can write.
  bool allow_unsigned = false;
  // A node's heartbeat (field `h`), authenticated like a batch and no older than
  // heartbeat_max_skew by its own clock against its entry's id (a replayed one is not taken).
  // An error is logged; a heartbeat is never retried (the next one comes in seconds).
  std::function<Status(const std::string& node, int64_t now_ns, std::string_view heartbeat)>
      on_heartbeat;
  std::chrono::seconds heartbeat_max_skew{120};
  // Called with each batch once it is committed (not with duplicates), on ingest's thread: the
  // live stream (LiveHub::publish, which never blocks). It may take the batch's contents.
  std::function<void(event::Batch&&)> on_committed;
};

struct IngestStats {
  uint64_t batches = 0, events_received = 0, events_stored = 0;
  uint64_t duplicate_batches = 0, duplicate_events = 0;
  uint64_t corrupt_batches = 0, rejected_batches = 0, rejected_events = 0;
  uint64_t claimed = 0, trimmed = 0;
  // Refused batches (of corrupt_batches) by event::BatchRefusal.
  std::array<uint64_t, std::size(event::kAllRefusals)> refused{};
  uint64_t unauthenticated = 0;  // entries refused: unsigned, unknown node, bad signature, ...
  uint64_t heartbeats = 0, heartbeats_refused = 0;
};

class Ingest {
 public:
  Ingest(IngestOptions options, store::Store& store, metrics::Registry& registry);
  ~Ingest();
  void start();
  void stop();
  IngestStats stats() const;

 private:
  void run();
  // Handles entries in order; false when interrupted by stop() before all were acknowledged.
  bool handle(std::vector<transport::StreamEntry>&& entries,
              std::chrono::steady_clock::time_point read_at);
  bool store_batch(const transport::StreamEntry& entry, event::Batch&& batch);
  void take_heartbeat(const transport::StreamEntry& entry);
  enum class Auth { kOk, kUnsigned, kUnknownNode, kBadSignature, kNodeMismatch, kStopped };
  // The node's key, waiting while the auth database cannot say; nullopt when it has none.
  std::optional<std::optional<std::string>> node_key(const std::string& node,
                                                     std::chrono::steady_clock::time_point read_at,
                                                     bool stale = false);
  Auth authenticate(const transport::StreamEntry& e, std::chrono::steady_clock::time_point read_at);
  // Counts, dead-letters and acknowledges an entry that failed authentication.
  void refuse(const transport::StreamEntry& e, Auth why, const std::string& node);
  // Moves `e` to `<stream>:dead` (cut to dead_keep_bytes) and acknowledges it, retrying while
  // Redis is away; returns early only on stop().
  void dead_letter(const transport::StreamEntry& e, const std::string& reason);
  bool flush_acks();
  void sleep_for(std::chrono::milliseconds d);

  IngestOptions options_;
  store::Store& store_;
  transport::RedisClient redis_;
  transport::StreamConsumer consumer_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::vector<std::string> unacked_;  // committed, XACK not yet through

  std::atomic<uint64_t> batches_{0}, received_{0}, stored_{0}, dup_batches_{0}, dup_events_{0},
      corrupt_{0}, rejected_batches_{0}, rejected_events_{0}, claimed_{0}, trimmed_{0},
      unauthenticated_{0}, heartbeats_{0}, heartbeats_refused_{0};
  std::array<std::atomic<uint64_t>, std::size(event::kAllRefusals)> refused_{};

  metrics::PipelineMetrics pm_;
  metrics::Counter& m_dup_batches_;
  metrics::Counter& m_claimed_;
  metrics::Counter& m_trimmed_;
  metrics::Counter& m_store_errors_;
  metrics::Histogram& m_write_seconds_;
  std::array<metrics::Counter*, std::size(event::kAllRefusals)> m_refused_{};
  // By Auth (kUnsigned .. kNodeMismatch; the others stay null).
  std::array<metrics::Counter*, static_cast<size_t>(Auth::kStopped)> m_unauthenticated_{};
};

}  // namespace scope::server
