#include "agent/store_writer.h"

#include <spdlog/spdlog.h>

namespace scope::agent {

StoreWriter::StoreWriter(store::Store& store, transport::BatchQueue& queue,
                         metrics::PipelineMetrics& metrics,
                         std::function<void(event::Batch&&)> on_committed)
    : store_(store), queue_(queue), metrics_(metrics), on_committed_(std::move(on_committed)) {
  thread_ = std::thread([this] { run(); });
}

StoreWriter::~StoreWriter() { join(); }

void StoreWriter::join() {
  if (thread_.joinable()) thread_.join();
}

void StoreWriter::run() {
  while (!queue_.closed_and_empty()) {
    auto batch = queue_.pop(std::chrono::milliseconds(100));
    metrics_.queue_depth.set(static_cast<int64_t>(queue_.size()));
    if (!batch) continue;
    for (int attempt = 0;; ++attempt) {
      auto r = store_.write(*batch);
      if (r) {
        if (r->duplicate)
          metrics_.duplicates.add(batch->events.size());
        else
          metrics_.committed(*batch, r->stored);
        if (!r->duplicate && on_committed_) on_committed_(std::move(*batch));
        break;
      }
      if (attempt == 4) {
        spdlog::error("scope: {} events not stored: {}", batch->events.size(), r.error());
        metrics_.dropped_store.add(batch->events.size());
        break;
      }
      spdlog::warn("scope: store write failed (retrying): {}", r.error());
      std::this_thread::sleep_for(std::chrono::milliseconds(100 << attempt));
    }
  }
}

}  // namespace scope::agent
