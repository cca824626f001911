#include "agent/node.h"

#include <spdlog/spdlog.h>

#include <thread>

#include "common/clock.h"
#include "common/host.h"
#include "common/stop_signal.h"
#include "common/strings.h"
#include "common/text.h"
#include "probe/target_filter.h"

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
  if (has_offer_) {
    apply_offered();
    account();
    return Ok{};
  }
  event::ProbePlan plan;
  plan.families = options_.families;
  plan.comm = options_.session.filter.comm;
  plan.cgroup = options_.cgroup;
  auto s = session::Session::open(options_.session, &sink_);
  if (!s) return s.failure();
  session_ = std::move(s.value());
  auto st = session_->apply(options_.families);
  std::lock_guard lock(plan_mu_);
  applied_.plan = plan;
  applied_.running = session_->running();
  applied_.errors = session_->start_errors();
  applied_.applied_ns = unix_now_ns();
  ++applied_.generation;
  account();
  return st;
}

void Node::offer(int64_t version, event::ProbePlan plan) {
  std::lock_guard lock(plan_mu_);
  if (offered_ && offered_->first > version) return;
  if (!offered_ && applied_.generation > 0 && applied_.version >= version && version > 0) return;
  offered_.emplace(version, std::move(plan));
  has_offer_ = true;
}

AppliedPlan Node::applied() const {
  std::lock_guard lock(plan_mu_);
  return applied_;
}

void Node::apply_offered() {
  std::optional<std::pair<int64_t, event::ProbePlan>> offer;
  {
    std::lock_guard lock(plan_mu_);
    offer.swap(offered_);
    has_offer_ = false;
  }
  if (offer) apply_plan(offer->first, offer->second);
}

void Node::close_session() {
  if (!session_) return;
  session_->finish();
  account();
  session_.reset();
  // The next session counts from zero.
  kernel_seen_ = undecodable_seen_ = 0;
}

void Node::apply_plan(int64_t version, const event::ProbePlan& plan) {
  std::map<std::string, std::string> errors;
  event::ProbePlan before;
  {
    std::lock_guard lock(plan_mu_);
    before = applied_.plan;
  }
  // Other processes: the filter is in each program's read-only data, so the probes load again.
  if (session_ && (!plan.same_targets(before) || plan.families.empty())) close_session();
  if (!plan.families.empty() && !session_) {
    session::SessionOptions so = options_.session;
    so.filter.comm = plan.comm;
    so.filter.cgroup_id = 0;
    so.filter.enabled = plan.pid != 0;
    Status ok = Ok{};
    if (!plan.cgroup.empty()) {
      auto id = probe::cgroup_id_of(plan.cgroup);
      if (id)
        so.filter.cgroup_id = *id;
      else
        ok = id.failure();
    }
    if (ok) {
      auto s = session::Session::open(so, &sink_);
      if (s)
        session_ = std::move(s.value());
      else
        ok = s.failure();
    }
    if (ok && plan.pid != 0) ok = session_->follow(plan.pid, probe::kTracedOn);
    if (!ok) {
      errors["targets"] = ok.error();
      if (session_) close_session();
    }
  }
  if (session_) {
    (void)session_->apply(plan.families);
    auto running = session_->running();
    for (const auto& f : plan.families)
      if (!running.count(f)) {
        auto it = session_->start_errors().find(f);
        errors[f] = it != session_->start_errors().end() ? it->second : "did not start";
      }
    if (plan.pid != 0) (void)session_->scan_process(plan.pid);
    // Nothing running: nothing of scope stays in the kernel.
    if (running.empty()) close_session();
  }
  std::lock_guard lock(plan_mu_);
  applied_.version = version;
  applied_.plan = plan;
  applied_.running = session_ ? session_->running() : std::set<std::string>{};
  applied_.errors = std::move(errors);
  applied_.applied_ns = unix_now_ns();
  ++applied_.generation;
  spdlog::info("scope: probes (version {}): {}{}", version,
               applied_.running.empty() ? "none" : join(applied_.running, ","),
               applied_.errors.empty() ? "" : " (some did not start)");
}

nlohmann::json Node::heartbeat() {
  if (host_.kernel.empty()) {
    host_ = read_host_facts();
    boot_id_ = read_boot_id();
  }
  AppliedPlan a = applied();
  nlohmann::json gpus = nlohmann::json::array();
  for (const auto& g : host_.gpus) gpus.push_back(g);
  uint64_t events = pm_.received.value();
  uint64_t kernel = pm_.dropped_kernel.value(), bad = pm_.dropped_bad.value(),
           queue_full = pm_.dropped_queue.value();
  uint64_t dropped = kernel + bad + queue_full;
  auto now = std::chrono::steady_clock::now();
  double seconds = hb_at_ == std::chrono::steady_clock::time_point{}
                       ? 0
                       : std::chrono::duration<double>(now - hb_at_).count();
  uint64_t since = events - std::min(events, hb_events_);
  nlohmann::json j = {
      {"ts_ns", unix_now_ns()},
      {"version", host_.scope_version},
      {"kernel", host_.kernel},
      {"boot_id", boot_id_},
      {"cpus", host_.cpus},
      {"memory_bytes", host_.memory_bytes},
      {"gpus", gpus},
      {"running", a.running},
      {"applied",
       {{"version", a.version},
        {"plan", event::probe_plan_json(a.plan)},
        {"errors", a.errors},
        {"applied_ns", a.applied_ns}}},
      {"events_total", events},
      {"events_since_last", since},
      {"events_per_s", seconds > 0 ? static_cast<double>(since) / seconds : 0.0},
      {"dropped", {{"kernel", kernel}, {"undecodable", bad}, {"queue_full", queue_full}}},
      {"dropped_since_last", dropped - std::min(dropped, hb_dropped_)},
      {"queue_fill", static_cast<double>(queue_.size()) /
                         static_cast<double>(std::max<size_t>(1, options_.queue_batches))}};
  hb_events_ = events;
  hb_dropped_ = dropped;
  hb_at_ = now;
  return j;
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
    if (has_offer_) apply_offered();
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

HeartbeatLoop::HeartbeatLoop(Node& node, std::chrono::milliseconds every, Send send)
    : node_(node), send_(std::move(send)) {
  thread_ = std::thread([this, every] {
    auto next = std::chrono::steady_clock::now();
    uint64_t reported = 0;
    while (!stopping_) {
      auto now = std::chrono::steady_clock::now();
      uint64_t generation = node_.applied().generation;
      if (now >= next || generation != reported) {
        send_(node_.heartbeat());
        reported = generation;
        next = now + every;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
}

void HeartbeatLoop::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  thread_.join();
  auto last = node_.heartbeat();
  last["stopping"] = true;
  send_(std::move(last));
}

}  // namespace scope::agent
