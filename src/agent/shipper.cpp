#include "agent/shipper.h"

#include <spdlog/spdlog.h>

#include "export/pipeline_metrics.h"

namespace scope::agent {

Shipper::Shipper(ShipperOptions options, transport::BatchQueue& queue, std::unique_ptr<Spool> spool,
                 metrics::Registry& r)
    : options_(std::move(options)),
      queue_(queue),
      spool_(std::move(spool)),
      redis_(options_.redis, options_.redis_timeout_ms),
      producer_(redis_, options_.stream),
      m_shipped_batches_(r.counter("scope_batches_shipped_total", "Batches added to the stream")),
      m_shipped_events_(r.counter("scope_events_shipped_total", "Events added to the stream")),
      m_spooled_events_(metrics::PipelineMetrics(r).spooled),
      m_replayed_events_(metrics::PipelineMetrics(r).replayed),
      m_dropped_spool_full_(metrics::PipelineMetrics(r).dropped_spool),
      m_dropped_spool_error_(r.counter("scope_events_dropped_total", "Events lost, by cause",
                                       {{"cause", "spool_error"}})),
      m_spool_bytes_(r.gauge("scope_spool_bytes", "Bytes in the on-disk spool")),
      m_spool_events_(r.gauge("scope_spool_events", "Events waiting in the on-disk spool")),
      m_redis_up_(r.gauge("scope_redis_up", "1 when the last Redis call succeeded")),
      m_ship_seconds_(r.histogram("scope_ship_seconds", "Time to add a round of batches")) {
  if (options_.signer) producer_.set_signer(options_.node, options_.signer);
}

Shipper::~Shipper() { stop(); }

void Shipper::start() {
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void Shipper::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

ShipperStats Shipper::stats() const {
  ShipperStats s;
  s.shipped_batches = shipped_batches_;
  s.shipped_events = shipped_events_;
  s.spool_write_errors = spool_errors_;
  s.lost_events = lost_;
  return s;
}

void Shipper::update_gauges() {
  SpoolStats s = spool_->stats();
  m_spool_bytes_.set(static_cast<int64_t>(s.bytes));
  m_spool_events_.set(static_cast<int64_t>(s.pending_events));
  if (s.dropped_events > reported_spool_drops_) {
    m_dropped_spool_full_.add(s.dropped_events - reported_spool_drops_);
    reported_spool_drops_ = s.dropped_events;
  }
  if (s.appended_events > reported_spooled_) {
    m_spooled_events_.add(s.appended_events - reported_spooled_);
    reported_spooled_ = s.appended_events;
  }
  if (s.replayed_events > reported_replayed_) {
    m_replayed_events_.add(s.replayed_events - reported_replayed_);
    reported_replayed_ = s.replayed_events;
  }
  m_redis_up_.set(redis_up_ ? 1 : 0);
}

void Shipper::spool(const std::string& encoded, uint64_t events) {
  if (auto st = spool_->append(encoded, events); !st) {
    // Neither Redis nor the disk takes it: lost, and said so.
    ++spool_errors_;
    lost_ += events;
    m_dropped_spool_error_.add(events);
    spdlog::error("scope: {} events lost: Redis unreachable and {}", events, st.error());
  }
}

bool Shipper::replay() {
  if (!redis_.connect()) {  // fails fast while the client backs off
    redis_up_ = false;
    return false;
  }
  // Bounded: live batches keep flowing (into the spool, behind these) meanwhile.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  while (!spool_->empty() && std::chrono::steady_clock::now() < deadline) {
    auto rec = spool_->peek();
    if (!rec) {
      spdlog::error("scope: {}", rec.error());
      return false;
    }
    if (!rec->has_value()) return true;
    const SpoolRecord& r = **rec;
    auto id = producer_.add(r.data);
    if (!id) {
      if (redis_up_)
        spdlog::warn("scope: Redis went away while replaying the spool: {}", id.error());
      redis_up_ = false;
      return false;
    }
    if (!redis_up_)  // at the outage warning's level, so that a log showing it shows its end
      spdlog::warn("scope: Redis at {} answers again: replaying the spool ({} events)",
                   options_.redis.text(), spool_->stats().pending_events);
    redis_up_ = true;
    if (auto st = spool_->pop(); !st) spdlog::error("scope: {}", st.error());
    ++shipped_batches_;
    shipped_events_ += r.events;
    m_shipped_batches_.add();
    m_shipped_events_.add(r.events);
  }
  return true;
}

void Shipper::ship(std::vector<std::string>&& encoded, std::vector<uint64_t>&& events) {
  size_t done = 0;
  if (spool_->empty()) {
    auto start = std::chrono::steady_clock::now();
    std::vector<std::string_view> views(encoded.begin(), encoded.end());
    auto added = producer_.add_many(views);
    if (added) {
      done = *added;
      if (!redis_up_) spdlog::warn("scope: Redis at {} answers again", options_.redis.text());
      redis_up_ = done == encoded.size();
      for (size_t i = 0; i < done; ++i) {
        ++shipped_batches_;
        shipped_events_ += events[i];
        m_shipped_batches_.add();
        m_shipped_events_.add(events[i]);
      }
      m_ship_seconds_.observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    } else {
      if (redis_up_) spdlog::warn("scope: Redis unreachable, spooling to disk: {}", added.error());
      redis_up_ = false;
    }
  }
  // The rest waits in the spool, behind what is already there (order kept).
  for (size_t i = done; i < encoded.size(); ++i) spool(encoded[i], events[i]);
}

void Shipper::run() {
  redis_up_ = redis_.connect().ok();
  if (!redis_up_)
    spdlog::warn("scope: Redis at {} is unreachable: batches are spooled until it answers",
                 options_.redis.text());
  auto last_gauges = std::chrono::steady_clock::now();
  while (true) {
    std::vector<std::string> encoded;
    std::vector<uint64_t> events;
    auto first = queue_.pop(std::chrono::milliseconds(100));
    if (first) {
      encoded.push_back(event::encode_batch(*first, options_.zstd_level));
      events.push_back(first->events.size());
      while (encoded.size() < options_.max_pipeline) {
        auto more = queue_.pop(std::chrono::milliseconds(0));
        if (!more) break;
        encoded.push_back(event::encode_batch(*more, options_.zstd_level));
        events.push_back(more->events.size());
      }
    }
    // Older spooled batches go first; while they wait, new ones join them.
    if (!spool_->empty()) replay();
    if (!encoded.empty()) ship(std::move(encoded), std::move(events));
    auto now = std::chrono::steady_clock::now();
    if (now - last_gauges > std::chrono::milliseconds(500)) {
      update_gauges();
      last_gauges = now;
    }
    if (stopping_ && queue_.size() == 0) {
      // One last try to empty the spool; what stays is replayed by the next agent.
      if (!spool_->empty()) replay();
      break;
    }
  }
  update_gauges();
}

}  // namespace scope::agent
