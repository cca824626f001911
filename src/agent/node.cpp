#include "agent/node.h"

#include <spdlog/spdlog.h>

#include <thread>

#include "common/host.h"
#include "common/stop_signal.h"
#include "common/strings.h"
#include "common/text.h"

namespace scope::agent {

Result<std::unique_ptr<Node>> Node::open(const NodeOptions& options, metrics::Registry& registry) {
  auto seq = SequenceAllocator::open(options.data_dir + "/agent.seq");
  if (!seq) return seq.failure();
  return std::unique_ptr<Node>(
      new Node(options, registry, std::make_unique<SequenceAllocator>(std::move(seq.value()))));
}

Node::Node(const NodeOptions& options, metrics::Registry& registry,
           std::unique_ptr<SequenceAllocator> seq)
    : options_(options),
      pm_(registry),
      seq_(std::move(seq)),
      queue_(options.queue_batches),
      batcher_(
          BatcherOptions{options.node, read_boot_id(), options.batch_events, options.batch_delay},
          *seq_, [this](event::Batch&& b) { pm_.dropped_queue.add(queue_.push(std::move(b))); }),
      sink_([this](event::EventRow&& row) { add(std::move(row)); }) {
  health_ = {{"node", options_.node}, {"probes", "starting"}};
}

void Node::add(event::EventRow&& row) {
  pm_.received.add();
  batcher_.add(std::move(row));
}

Status Node::start_probes() {
  auto s = session::Session::open(options_.session, &sink_);
  if (!s) return s.failure();
  session_ = std::move(s.value());
  auto st = session_->apply(options_.families);
  account();
  return st;
}

void Node::account() {
  session::SessionStats s;
  std::vector<std::string> attached;
  std::string probes;
  if (session_) {
    s = session_->stats();
    attached = session_->attached_files();
    probes = join(session_->running(), ",");
  }
  // Counters only grow: add what they gained since the last look.
  uint64_t kernel = s.dropped - s.undecodable;
  pm_.dropped_kernel.add(kernel - std::min(kernel, kernel_seen_));
  pm_.dropped_bad.add(s.undecodable - std::min(s.undecodable, undecodable_seen_));
  kernel_seen_ = std::max(kernel_seen_, kernel);
  undecodable_seen_ = std::max(undecodable_seen_, s.undecodable);
  std::lock_guard lock(health_mu_);
  health_ = {{"node", options_.node},
             {"probes", probes},
             {"events", s.events},
             {"dropped", s.dropped},
             {"held", {{"at_exec", s.held_at_exec}, {"at_loader", s.held_at_loader}}},
             {"attached", attached}};
}

nlohmann::json Node::health() const {
  std::lock_guard lock(health_mu_);
  return health_;
}

int Node::run() {
  // The probes' counters (per-CPU map reads) go to /metrics and /health twice a second.
  auto next_account = std::chrono::steady_clock::now();
  while (!stop_signal()) {
    if (session_) {
      int n = session_->poll(5);
      if (n < 0 && n != -EINTR) {
        spdlog::error("scope: reading the ring buffers failed: {}", errno_text(-n));
        return 1;
      }
    } else if (!source_ || !source_(*this)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    batcher_.tick();
    if (std::chrono::steady_clock::now() >= next_account) {
      account();
      next_account += std::chrono::milliseconds(500);
    }
  }
  return 0;
}

void Node::drain() {
  if (session_) session_->finish();
  account();
  batcher_.flush();
  if (batcher_.lost() > 0) pm_.dropped_sequence.add(batcher_.lost());
  queue_.close();
}

}  // namespace scope::agent
