// What `scope up` and `scope agent` share: this node's probe session, whose
// rows are numbered into batches (Batcher) and handed to an in-process queue
// that the store writer (up) or the shipper (agent) empties; the pipeline's
// counters for /metrics and /health; and the loop that runs until a stop
// signal, then hands on what is still in flight.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "agent/batcher.h"
#include "agent/sequence.h"
#include "common/host.h"
#include "common/result.h"
#include "event/probe_plan.h"
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
  std::string cgroup;              // the cgroup path session.filter.cgroup_id came from
};

// The plan a node runs, as it reports it: the version it came with (0: its own flags), which
// families run, and why any that should does not.
struct AppliedPlan {
  int64_t version = 0;
  event::ProbePlan plan;
  std::set<std::string> running;
  std::map<std::string, std::string> errors;  // family (or "targets") → why it does not run
  int64_t applied_ns = 0;
  uint64_t generation = 0;  // grows with every plan applied
};

class Node {
 public:
  static Result<std::unique_ptr<Node>> open(const NodeOptions& options,
                                            metrics::Registry& registry);

  // Opens the session and starts the families (or the plan offered before); an error names the
  // family and keeps its code.
  Status start_probes();
  // A plan to run instead of the current one (from the control stream or the API), applied by
  // run() within a loop turn: families started and stopped without a restart, the probes
  // loaded again when the processes traced change, nothing left in the kernel when no family
  // is wanted. Thread-safe; a newer version replaces one not applied yet.
  void offer(int64_t version, event::ProbePlan plan);
  AppliedPlan applied() const;
  // What a heartbeat says of this node now: host facts, the applied plan, events and drops
  // (totals, since the previous call, per second), the queue's fill. One caller.
  nlohmann::json heartbeat();
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
  // In the loop's thread.
  void apply_offered();
  void apply_plan(int64_t version, const event::ProbePlan& plan);
  void close_session();

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

  mutable std::mutex plan_mu_;
  std::optional<std::pair<int64_t, event::ProbePlan>> offered_;
  std::atomic<bool> has_offer_{false};
  AppliedPlan applied_;
  HostFacts host_;
  std::string boot_id_;
  uint64_t hb_events_ = 0, hb_dropped_ = 0;
  std::chrono::steady_clock::time_point hb_at_{};
};

// A node's heartbeat handed to `send` every `every`, within 20 ms of the node applying a plan,
// and a last time (with "stopping": true) on stop(): what the agent's control link and `scope up`
// (a fleet of one) both report. A heartbeat `send` could not deliver is not resent: the next one
// says it all.
class HeartbeatLoop {
 public:
  using Send = std::function<void(nlohmann::json&& heartbeat)>;
  HeartbeatLoop(Node& node, std::chrono::milliseconds every, Send send);
  ~HeartbeatLoop() { stop(); }
  HeartbeatLoop(const HeartbeatLoop&) = delete;
  HeartbeatLoop& operator=(const HeartbeatLoop&) = delete;
  void stop();

 private:
  Node& node_;
  Send send_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace scope::agent
