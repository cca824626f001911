// The embedded store's side of the in-process queue: a thread that commits
// each batch. A store error is retried (a busy or briefly full disk) before
// the batch is dropped and counted.
#pragma once

#include <atomic>
#include <functional>
#include <thread>

#include "export/pipeline_metrics.h"
#include "store/store.h"
#include "transport/batch_queue.h"

namespace scope::agent {

class StoreWriter {
 public:
  // `on_committed` (may be null) gets each batch once it is committed, on the writer's thread:
  // the live stream (LiveHub::publish, which never blocks). It may take the batch's contents.
  StoreWriter(store::Store& store, transport::BatchQueue& queue, metrics::PipelineMetrics& metrics,
              std::function<void(event::Batch&&)> on_committed = nullptr);
  ~StoreWriter();
  // Returns once the queue is closed and everything in it is written.
  void join();

 private:
  void run();
  store::Store& store_;
  transport::BatchQueue& queue_;
  metrics::PipelineMetrics& metrics_;
  std::function<void(event::Batch&&)> on_committed_;
  std::thread thread_;
};

}  // namespace scope::agent
