// What `scope up` and `scope agent` share: this node's probe session, whose
// rows are numbered into batches (Batcher) and handed to an in-process queue
// that the store writer (up) or the shipper (agent) empties; the pipeline's
// counters for /metrics and /health; and the loop that runs until a stop
// signal, then hands on what is still in flight.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "agent/batcher.h"
#include "agent/sequence.h"
#include "common/result.h"
#include "export/metrics.h"
#include "export/pipeline_metrics.h"
#include "session/session.h"
#include "session/sinks.h"
#include "transport/batch_queue.h"

namespace scope::agent {

struct NodeOptions {
  std::string node;      // its name in the store
  std::string data_dir;  // agent.seq lives here
  size_t batch_events = 8192;
  std::chrono::milliseconds batch_delay{100};
  size_t queue_batches = 256;
  session::SessionOptions session;
  std::set<std::string> families;  // started by start_probes()
};

class Node {
 public:
  static Result<std::unique_ptr<Node>> open(const NodeOptions& options,
                                            metrics::Registry& registry);

  // Opens the session and starts the families; an error names the family and keeps its code.
  Status start_probes();
  // Instead of probes (a test hook): `source` is called every loop turn and adds rows itself;
  // it returns false when it has nothing more to add for now.
  void set_source(std::function<bool(Node&)> source) { source_ = std::move(source); }
  void add(event::EventRow&& row);
  // Hands on the rows waiting for their batch now.
  void flush() { batcher_.flush(); }

  transport::BatchQueue& queue() { return queue_; }
  metrics::PipelineMetrics& metrics() { return pm_; }
  session::Session* session() { return session_.get(); }
  const std::string& name() const { return options_.node; }
  // /health's node part: node, probes, events, dropped, held, attached (updated twice a second).
  nlohmann::json health() const;

  // Polls the probes and batches their rows until a stop signal (or a ring-buffer error, 1).
  int run();
  // The session's end: what is left in the rings and maps, the last batch, the queue closed.
  void drain();

 private:
  Node(const NodeOptions& options, metrics::Registry& registry,
       std::unique_ptr<SequenceAllocator> seq);
  void account();

  NodeOptions options_;
  metrics::PipelineMetrics pm_;
  std::unique_ptr<SequenceAllocator> seq_;
  transport::BatchQueue queue_;
  Batcher batcher_;
  session::RowSink sink_;
  std::unique_ptr<session::Session> session_;
  std::function<bool(Node&)> source_;
  mutable std::mutex health_mu_;
  nlohmann::json health_;
  uint64_t kernel_seen_ = 0, undecodable_seen_ = 0;
};

}  // namespace scope::agent
