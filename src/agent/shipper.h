// The agent's network side: a thread that takes batches from the in-process
// queue, encodes them and XADDs them to the Redis stream. While Redis is
// unreachable (or while older batches wait in the spool) batches go to the
// spool, and the spool is replayed in order when Redis answers again. The
// ring-buffer reader only ever pushes into the queue: it never waits on the
// network or the disk.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "agent/spool.h"
#include "export/metrics.h"
#include "transport/batch_queue.h"
#include "transport/redis_stream.h"

namespace scope::agent {

struct ShipperOptions {
  transport::RedisEndpoint redis;
  std::string stream = "scope:events";
  size_t max_pipeline = 8;  // XADDs per round trip
  int zstd_level = 1;
  int redis_timeout_ms = 2000;
  // An enrolled node signs every entry it adds (live and replayed from the spool) at ship time;
  // without a signer entries go unsigned (a server refuses them unless --allow-unsigned-batches).
  std::string node;
  transport::BatchSigner signer;
};

struct ShipperStats {
  uint64_t shipped_batches = 0, shipped_events = 0;
  uint64_t spool_write_errors = 0, lost_events = 0;  // spool unwritable too: lost, counted
};

class Shipper {
 public:
  // Metrics (scope_events_shipped_total, scope_events_spooled_total, ...) go into `registry`.
  Shipper(ShipperOptions options, transport::BatchQueue& queue, std::unique_ptr<Spool> spool,
          metrics::Registry& registry);
  ~Shipper();

  void start();
  // Ships or spools what is queued, then stops the thread. Call after the
  // producers stopped and closed the queue.
  void stop();
  ShipperStats stats() const;
  SpoolStats spool_stats() const { return spool_->stats(); }
  bool redis_up() const { return redis_up_; }

 private:
  void run();
  // Replays spooled batches while Redis takes them; false when it failed.
  bool replay();
  void ship(std::vector<std::string>&& encoded, std::vector<uint64_t>&& events);
  void spool(const std::string& encoded, uint64_t events);
  void update_gauges();

  ShipperOptions options_;
  transport::BatchQueue& queue_;
  std::unique_ptr<Spool> spool_;
  transport::RedisClient redis_;
  transport::StreamProducer producer_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> redis_up_{false};
  std::atomic<uint64_t> shipped_batches_{0}, shipped_events_{0}, spool_errors_{0}, lost_{0};

  metrics::Counter& m_shipped_batches_;
  metrics::Counter& m_shipped_events_;
  metrics::Counter& m_spooled_events_;
  metrics::Counter& m_replayed_events_;
  metrics::Counter& m_dropped_spool_full_;
  metrics::Counter& m_dropped_spool_error_;
  metrics::Gauge& m_spool_bytes_;
  metrics::Gauge& m_spool_events_;
  metrics::Gauge& m_redis_up_;
  metrics::Histogram& m_ship_seconds_;
  uint64_t reported_spool_drops_ = 0;
  uint64_t reported_spooled_ = 0;
  uint64_t reported_replayed_ = 0;
};

}  // namespace scope::agent
