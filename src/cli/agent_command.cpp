#include "cli/agent_command.h"

#include <sys/stat.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent/control_link.h"
#include "agent/identity.h"
#include "agent/node.h"
#include "agent/shipper.h"
#include "agent/spool.h"
#include "auth/crypto.h"
#include "cli/credentials.h"
#include "common/clock.h"
#include "common/data_dir.h"
#include "common/host.h"
#include "common/stop_signal.h"
#include "event/batch.h"
#include "event/cuda_event.h"
#include "families/cuda_output.h"
#include "http/server.h"
#include "http/standard_routes.h"
#include "transport/redis_stream.h"

namespace scope::cli {

namespace {

// The test hook's events: cuda launches with a few kernel names and pids, added to the node
// instead of the probes' (load and fault tests without root).
class SyntheticSource {
 public:
  SyntheticSource(uint64_t rate, uint64_t count, size_t queue_batches)
      : rate_(rate), count_(count), queue_batches_(queue_batches) {
    start_ = std::chrono::steady_clock::now();
    CudaEvent e;
    e.comm = "synthetic";
    e.call = CALL_cuLaunchKernel;
    e.op = CUDA_OP_LAUNCH;
    e.grid = {128, 1, 1};
    e.block = {256, 1, 1};
    e.stream = 0x7f0000002000;
    e.handle = 0x55550000;
    for (int k = 0; k < 16; ++k) {
      e.kernel = "synthetic_kernel_" + std::to_string(k) + "(float*, float const*, int)";
      templates_.push_back(cuda_row(e));
    }
  }

  // Adds what is due now (at most one batch worth); false when it has nothing to add.
  bool step(agent::Node& node) {
    // Unlike ring buffers, this source can wait for room in the queue: load tests then measure
    // throughput, not drops.
    if (made_ >= count_ || node.queue().size() + 2 >= queue_batches_) return done(node);
    uint64_t due = count_ - made_;
    if (rate_ > 0) {
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      uint64_t target =
          std::min<uint64_t>(count_, static_cast<uint64_t>(s * static_cast<double>(rate_)));
      due = target > made_ ? target - made_ : 0;
    }
    due = std::min<uint64_t>(due, 8192);
    int64_t ts = unix_now_ns();
    for (uint64_t i = 0; i < due; ++i) {
      uint64_t n = made_ + i;
      event::EventRow row = templates_[n % templates_.size()];
      row.ts_ns = ts + static_cast<int64_t>(i);
      row.pid = 1000 + static_cast<uint32_t>(n % 8);
      row.tid = row.pid;
      node.add(std::move(row));
    }
    made_ += due;
    return due > 0;
  }

 private:
  bool done(agent::Node& node) {
    if (made_ < count_ || reported_) return false;
    reported_ = true;
    node.flush();
    std::fprintf(stderr, "scope agent: synthetic events done (%llu)\n",
                 static_cast<unsigned long long>(made_));
    return false;
  }
  uint64_t rate_, count_, made_ = 0;
  size_t queue_batches_;
  bool reported_ = false;
  std::chrono::steady_clock::time_point start_;
  std::vector<event::EventRow> templates_;
};

Result<agent::NodeOptions> node_options(const AgentOptions& o) {
  if (o.batch_events == 0 || o.queue_batches == 0)
    return make_error(Errc::kBadInput, "--batch-events must be positive");
  if (!o.listen.empty())
    if (auto addr = http::parse_listen(o.listen); !addr) return addr.failure();
  auto families = probe_set(o.session);
  if (!families) return families.failure();
  auto session = session_options(o.session);
  if (!session) return session.failure();
  agent::NodeOptions n;
  n.node = o.node.empty() ? host_name() : o.node;
  // The server dead-letters every batch of a node it cannot name: say so now, not per batch.
  if (!event::valid_identity(n.node))
    return make_error(Errc::kBadInput, (o.node.empty() ? "the host name '" + n.node +
                                                             "' is not a node name: pass "
                                                             "--node NAME"
                                                       : "--node '" + n.node + "'") +
                                           " (1-64 of A-Z a-z 0-9 . _ -)");
  n.data_dir = o.data_dir;
  n.batch_events = o.batch_events;
  n.batch_delay = std::chrono::milliseconds(o.batch_delay_ms);
  n.queue_batches = o.queue_batches;
  n.session = *session;
  n.session.hold_library_loads = true;
  n.session.family.interval_rows = true;
  n.families = *families;
  n.cgroup = o.session.cgroup;
  return n;
}

// The summary line printed when the agent stops.
nlohmann::json summary(agent::Node& node, const agent::Shipper& shipper) {
  auto ss = shipper.stats();
  auto sp = shipper.spool_stats();
  auto& pm = node.metrics();
  return {{"event", "summary"},
          {"node", node.name()},
          {"received", pm.received.value()},
          {"shipped", ss.shipped_events},
          {"spooled", sp.appended_events},
          {"replayed", sp.replayed_events},
          {"spool_pending", sp.pending_events},
          {"dropped",
           {{"queue_full", pm.dropped_queue.value()},
            {"spool_full", sp.dropped_events},
            {"kernel", pm.dropped_kernel.value()},
            {"spool_error", ss.lost_events},
            {"no_sequence", pm.dropped_sequence.value()}}}};
}

}  // namespace

CLI::App* add_agent_command(CLI::App& app, AgentOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "agent", "Fleet node: trace this host and ship events to a Redis stream for `scope server`");
  add_session_flags(cmd, o.session);
  cmd->add_option("--redis", o.redis,
                  "Redis URL: redis://[[user]:password@]host[:port][/db] (required, except to "
                  "only enroll; else the systemd credential `redis`)")
      ->envname("SCOPE_REDIS");
  cmd->add_option("--enroll", o.enroll_token,
                  "Enroll this node with the one-time token from POST /api/v1/nodes (prefer "
                  "--enroll-file, SCOPE_ENROLL_TOKEN or the systemd credential `enroll-token`: "
                  "argv is visible to other users)")
      ->envname("SCOPE_ENROLL_TOKEN");
  cmd->add_option("--enroll-file", o.enroll_file, "Read the enrollment token from this file");
  cmd->add_option("--server", o.server, "The scope server to enroll with: http://HOST:PORT")
      ->envname("SCOPE_SERVER");
  cmd->add_option("--node", o.node,
                  "This node's name in the store (default: the name it enrolled as, else the host "
                  "name; an enrolled node must give that name or none)")
      ->envname("SCOPE_NODE");
  cmd->add_option("--data-dir", o.data_dir, "State and the on-disk spool")
      ->envname("SCOPE_DATA_DIR")
      ->capture_default_str();
  cmd->add_option("--listen", o.listen, "Serve /metrics and /health on HOST:PORT")
      ->envname("SCOPE_LISTEN");
  cmd->add_option("--stream", o.stream, "Redis stream name")
      ->envname("SCOPE_STREAM")
      ->capture_default_str();
  cmd->add_option("--spool-max-mb", o.spool_max_mb,
                  "Spool size; when full the oldest batches are dropped (and counted)")
      ->envname("SCOPE_SPOOL_MAX_MB")
      ->capture_default_str();
  cmd->add_option("--batch-events", o.batch_events,
                  "Events per batch (a server refuses a batch of more than 100000)")
      ->envname("SCOPE_BATCH_EVENTS")
      ->check(CLI::Range(size_t{1}, event::kMaxBatchEvents))
      ->capture_default_str();
  cmd->add_option("--batch-delay-ms", o.batch_delay_ms, "Longest wait before a batch is shipped")
      ->envname("SCOPE_BATCH_DELAY_MS")
      ->capture_default_str();
  // Test hooks, left out of --help.
  cmd->add_option("--test-synthetic-rate", o.synthetic_rate)
      ->envname("SCOPE_TEST_SYNTHETIC_RATE")
      ->group("");
  cmd->add_option("--test-synthetic-count", o.synthetic_count)
      ->envname("SCOPE_TEST_SYNTHETIC_COUNT")
      ->group("");
  cmd->add_option("--test-spool-max-kb", o.spool_max_kb)
      ->envname("SCOPE_TEST_SPOOL_MAX_KB")
      ->group("");
  cmd->add_option("--test-heartbeat-ms", o.heartbeat_ms)
      ->envname("SCOPE_TEST_HEARTBEAT_MS")
      ->check(CLI::Range(uint64_t{50}, uint64_t{60000}))
      ->group("");
  return cmd;
}

namespace {

// The enrollment token of --enroll / SCOPE_ENROLL_TOKEN or --enroll-file; empty when none.
Result<std::string> enrollment_token(const AgentOptions& o) {
  if (o.enroll_file.empty()) return o.enroll_token;
  std::FILE* f = std::fopen(o.enroll_file.c_str(), "re");
  if (!f) return make_error(Errc::kBadInput, "--enroll-file " + o.enroll_file + ": cannot read");
  char buf[256] = {};
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  std::string token(buf, n);
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  if (token.empty())
    return make_error(Errc::kBadInput, "--enroll-file " + o.enroll_file + ": empty");
  return token;
}

}  // namespace

int run_agent(const AgentOptions& given) {
  AgentOptions o = given;
  if (auto st = flag_or_credential(o.redis, "--redis", "SCOPE_REDIS", "redis", false); !st)
    return report(st.failure(), "scope agent");
  if (o.enroll_file.empty())
    if (auto st = flag_or_credential(o.enroll_token, "--enroll", "SCOPE_ENROLL_TOKEN",
                                     "enroll-token", false);
        !st)
      return report(st.failure(), "scope agent");
  auto token = enrollment_token(o);
  if (!token) return report(token.failure(), "scope agent");
  if (o.redis.empty() && token->empty())
    return report(make_error(Errc::kBadInput, "--redis is required"), "scope agent");
  if (!token->empty() && o.server.empty())
    return report(make_error(Errc::kBadInput, "--enroll needs --server http://HOST:PORT"),
                  "scope agent");
  Result<transport::RedisEndpoint> endpoint = transport::RedisEndpoint{};
  if (!o.redis.empty()) {
    endpoint = transport::parse_redis_url(o.redis);
    if (!endpoint)
      return report(make_error(Errc::kBadInput, "--redis: " + endpoint.error()), "scope agent");
  }
  if (auto st = ensure_data_dir(o.data_dir); !st) return report(st.failure(), "scope agent");
  ::umask(077);  // what it creates from here on is its user's only
  auto identity = agent::load_node_identity(o.data_dir);
  if (!identity) return report(identity.failure(), "scope agent");
  if (!token->empty()) {
    if (*identity) {
      std::fprintf(stderr,
                   "scope agent: already enrolled as node %s (%s/node.key); the enrollment "
                   "token is not used (to enroll again, remove node.key and node.name)\n",
                   (*identity)->name.c_str(), o.data_dir.c_str());
    } else {
      auto name = agent::enroll_node(o.server, *token, o.data_dir);
      if (!name) return report(name.failure(), "scope agent");
      std::printf("scope agent: enrolled as node %s (secret key in %s/node.key, mode 0600)\n",
                  name->c_str(), o.data_dir.c_str());
      std::fflush(stdout);
      identity = agent::load_node_identity(o.data_dir);
      if (!identity) return report(identity.failure(), "scope agent");
    }
    if (o.redis.empty()) return 0;
  }
  if (*identity) {
    if (!o.node.empty() && o.node != (*identity)->name)
      return report(
          make_error(Errc::kBadInput, "--node " + o.node + ": this node is enrolled as " +
                                          (*identity)->name + " (" + o.data_dir + "/node.name)"),
          "scope agent");
    o.node = (*identity)->name;
  }
  auto options = node_options(o);
  if (!options) return report(options.failure(), "scope agent");
  auto spool = agent::Spool::open(
      {o.data_dir + "/spool", o.spool_max_kb > 0 ? o.spool_max_kb << 10 : o.spool_max_mb << 20});
  if (!spool) return report(spool.failure(), "scope agent");
  metrics::Registry registry;
  auto node = agent::Node::open(*options, registry);
  if (!node) return report(node.failure(), "scope agent");
  install_stop_signal_handlers();
  transport::BatchSigner signer;
  if (*identity)
    signer = [key = (*identity)->secret_key](std::string_view bytes) {
      return auth::sign_detached(key, bytes);
    };
  // The plans an admin sets for this node, and its heartbeats. The shipper is there before the
  // link's first heartbeat asks it for the spool's depth.
  std::unique_ptr<agent::Shipper> shipper_holder;
  agent::ControlLink control({.redis = *endpoint,
                              .stream = o.stream,
                              .node = (*node)->name(),
                              .signer = signer,
                              .heartbeat_every = std::chrono::milliseconds(o.heartbeat_ms),
                              .extend =
                                  [&shipper_holder](nlohmann::json& hb) {
                                    if (!shipper_holder) return;
                                    auto sp = shipper_holder->spool_stats();
                                    hb["spool_pending"] = sp.pending_events;
                                    hb["dropped"]["spool_full"] = sp.dropped_events;
                                    hb["dropped"]["spool_error"] =
                                        shipper_holder->stats().lost_events;
                                  }},
                             **node);
  std::unique_ptr<SyntheticSource> source;
  if (o.synthetic_count >= 0) {
    source = std::make_unique<SyntheticSource>(
        o.synthetic_rate, static_cast<uint64_t>(o.synthetic_count), o.queue_batches);
    (*node)->set_source([&source](agent::Node& n) { return source->step(n); });
  } else {
    // An agent that was away starts with what it should run now, not with its flags.
    if (control.fetch_latest())
      std::fprintf(stderr, "scope agent: probes from the plan set for node %s on the server\n",
                   (*node)->name().c_str());
    if (auto st = (*node)->start_probes(); !st) return report(st.failure(), "scope agent");
  }
  agent::ShipperOptions ship_options{*endpoint, o.stream};
  if (*identity) {
    ship_options.node = (*identity)->name;
    ship_options.signer = signer;
  } else {
    std::fprintf(stderr,
                 "scope agent: not enrolled (no %s/node.key): batches are unsigned, and a server "
                 "refuses them unless it runs with --allow-unsigned-batches\n",
                 o.data_dir.c_str());
  }
  shipper_holder = std::make_unique<agent::Shipper>(std::move(ship_options), (*node)->queue(),
                                                    std::move(spool.value()), registry);
  agent::Shipper& shipper = *shipper_holder;
  shipper.start();
  control.start();
  std::unique_ptr<http::Server> web;
  if (!o.listen.empty()) {
    auto router = std::make_shared<http::Router>();
    http::add_health_and_metrics(*router, {"agent", &registry, [&] {
                                             auto j = (*node)->health();
                                             j["redis"] = shipper.redis_up() ? "up" : "unreachable";
                                             return j;
                                           }});
    http::ServerOptions ho;
    ho.listen = o.listen;
    ho.io_threads = 1;
    ho.worker_threads = 1;
    ho.metrics = &registry;
    auto h = http::Server::start(std::move(ho), std::move(router));
    if (!h) {
      (*node)->drain();
      control.stop();
      shipper.stop();
      return report(h.failure(), "scope agent");
    }
    web = std::move(h.value());
    std::fprintf(stderr, "scope agent: /metrics on %s\n", web->url().c_str());
  }
  std::fprintf(stderr, "scope agent: node %s shipping to %s stream %s\n", (*node)->name().c_str(),
               endpoint->text().c_str(), o.stream.c_str());
  (*node)->run();
  (*node)->drain();
  control.stop();
  shipper.stop();
  if (web) web->stop();
  std::printf("%s\n", summary(**node, shipper).dump().c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace scope::cli
