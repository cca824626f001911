#include "cli/agent_command.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent/batcher.h"
#include "agent/collector.h"
#include "agent/data_dir.h"
#include "agent/pipeline_metrics.h"
#include "agent/sequence.h"
#include "agent/shipper.h"
#include "agent/spool.h"
#include "common/stop_signal.h"
#include "common/text.h"
#include "event/cuda_event.h"
#include "server/http_server.h"
#include "transport/batch_queue.h"
#include "transport/redis_stream.h"

namespace scope::cli {

namespace {

// The test hook's events: cuda launches with a few kernel names and pids.
class SyntheticSource {
 public:
  SyntheticSource(uint64_t rate, uint64_t count) : rate_(rate), count_(count) {
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
      templates_.push_back(event::row_from_cuda(e));
    }
  }
  bool done() const { return made_ >= count_; }
  uint64_t made() const { return made_; }
  // Adds what is due now (at most one batch worth); returns how many.
  template <typename Add>
  uint64_t step(Add&& add) {
    uint64_t due = count_ - made_;
    if (rate_ > 0) {
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      uint64_t target =
          std::min<uint64_t>(count_, static_cast<uint64_t>(s * static_cast<double>(rate_)));
      due = target > made_ ? target - made_ : 0;
    }
    due = std::min<uint64_t>(due, 8192);
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t ts = now.tv_sec * 1000000000LL + now.tv_nsec;
    for (uint64_t i = 0; i < due; ++i) {
      uint64_t n = made_ + i;
      event::EventRow row = templates_[n % templates_.size()];
      row.ts_ns = ts + static_cast<int64_t>(i);
      row.pid = 1000 + static_cast<uint32_t>(n % 8);
      row.tid = row.pid;
      add(std::move(row));
    }
    made_ += due;
    return due;
  }

 private:
  uint64_t rate_, count_, made_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::vector<event::EventRow> templates_;
};

}  // namespace

CLI::App* add_agent_command(CLI::App& app, AgentOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "agent", "Fleet node: trace this host and ship events to a Redis stream for `scope server`");
  cmd->add_option("--redis", o.redis, "Redis URL: redis://[[user]:password@]host[:port][/db]")
      ->envname("SCOPE_REDIS")
      ->required();
  cmd->add_option("--node", o.node, "This node's name in the store (default: the host name)")
      ->envname("SCOPE_NODE");
  cmd->add_option("--probes", o.probes, "Probe families, comma-separated")->envname("SCOPE_PROBES");
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
  cmd->add_option("--batch-events", o.batch_events, "Events per batch")
      ->envname("SCOPE_BATCH_EVENTS")
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
  return cmd;
}

int run_agent(const AgentOptions& o) {
  auto endpoint = transport::parse_redis_url(o.redis);
  if (!endpoint) {
    std::fprintf(stderr, "scope agent: --redis: %s\n", endpoint.error().c_str());
    return 2;
  }
  if (o.batch_events == 0 || o.queue_batches == 0) {
    std::fprintf(stderr, "scope agent: --batch-events must be positive\n");
    return 2;
  }
  bool synthetic = o.synthetic_count >= 0;
  if (!o.listen.empty())
    if (auto addr = server::parse_listen(o.listen); !addr) {
      std::fprintf(stderr, "scope agent: --listen: %s\n", addr.error().c_str());
      return 2;
    }
  std::string node = o.node.empty() ? agent::host_name() : o.node;
  if (auto st = agent::ensure_data_dir(o.data_dir); !st) {
    std::fprintf(stderr, "scope agent: %s\n", st.error().c_str());
    return 1;
  }
  auto seq = agent::SequenceAllocator::open(o.data_dir + "/agent.seq");
  if (!seq) {
    std::fprintf(stderr, "scope agent: %s\n", seq.error().c_str());
    return 1;
  }
  agent::SpoolOptions sopts;
  sopts.dir = o.data_dir + "/spool";
  sopts.max_bytes = o.spool_max_kb > 0 ? o.spool_max_kb << 10 : o.spool_max_mb << 20;
  auto spool = agent::Spool::open(sopts);
  if (!spool) {
    std::fprintf(stderr, "scope agent: %s\n", spool.error().c_str());
    return 1;
  }

  metrics::Registry registry;
  agent::PipelineMetrics pm(registry);
  auto& received = pm.received;
  auto& dropped_queue = pm.dropped_queue;
  auto& dropped_seq = registry.counter("scope_events_dropped_total", "Events lost, by cause",
                                       {{"cause", "no_sequence"}});
  transport::BatchQueue queue(o.queue_batches);
  agent::BatcherOptions bopts;
  bopts.node = node;
  bopts.boot_id = agent::read_boot_id();
  bopts.max_events = o.batch_events;
  bopts.max_delay = std::chrono::milliseconds(o.batch_delay_ms);
  agent::Batcher batcher(bopts, *seq, [&](event::Batch&& b) {
    if (size_t d = queue.push(std::move(b))) dropped_queue.add(d);
  });
  // The probes, unless the test hook replaces them with synthetic events.
  std::unique_ptr<agent::Collector> collector;
  if (!synthetic) {
    agent::CollectorOptions co;
    co.probes = o.probes.empty() ? co.probes : o.probes;
    co.explicit_probes = !o.probes.empty();
    auto c = agent::Collector::start(co, [&](event::EventRow&& row) {
      received.add();
      batcher.add(std::move(row));
    });
    if (!c) {
      std::fprintf(stderr, "scope agent: %s\n", c.error().c_str());
      return 1;
    }
    collector = std::move(c.value());
  }

  agent::ShipperOptions shopts;
  shopts.redis = *endpoint;
  shopts.stream = o.stream;
  agent::Shipper shipper(shopts, queue, std::move(spool.value()), registry);
  shipper.start();

  std::unique_ptr<server::HttpServer> http;
  if (!o.listen.empty()) {
    server::HttpOptions ho;
    ho.listen = o.listen;
    ho.metrics = &registry;
    ho.role = "agent";
    ho.health = [&] {
      return nlohmann::json{{"node", node}, {"redis", shipper.redis_up() ? "up" : "unreachable"}};
    };
    auto h = server::HttpServer::start(ho);
    if (!h) {
      std::fprintf(stderr, "scope agent: %s\n", h.error().c_str());
      queue.close();
      shipper.stop();
      return 1;
    }
    http = std::move(h.value());
    std::fprintf(stderr, "scope agent: /metrics on http://%s:%d\n", http->host().c_str(),
                 http->port());
  }
  std::fprintf(stderr, "scope agent: node %s shipping to %s stream %s\n", node.c_str(),
               endpoint->text().c_str(), o.stream.c_str());

  install_stop_signal_handlers();
  std::unique_ptr<SyntheticSource> source;
  if (synthetic)
    source = std::make_unique<SyntheticSource>(o.synthetic_rate,
                                               static_cast<uint64_t>(o.synthetic_count));
  bool flushed = false;
  uint64_t kernel_dropped_seen = 0;
  while (!stop_signal()) {
    if (collector) {
      int n = collector->poll(5);
      if (n < 0 && n != -EINTR) {
        std::fprintf(stderr, "scope agent: reading the ring buffer failed: %s\n",
                     errno_text(-n).c_str());
        break;
      }
      batcher.tick();
      auto cs = collector->stats();
      pm.dropped_kernel.add(cs.dropped - kernel_dropped_seen);
      kernel_dropped_seen = cs.dropped;
      continue;
    }
    // Unlike ring buffers, the synthetic source can wait for room in the
    // queue: load tests then measure throughput, not drops.
    if (source && !source->done() && queue.size() + 2 >= o.queue_batches) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    } else if (source && !source->done()) {
      uint64_t n = source->step([&](event::EventRow&& row) { batcher.add(std::move(row)); });
      received.add(n);
      if (n == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    } else {
      if (source && !flushed) {
        batcher.flush();
        flushed = true;
        std::fprintf(stderr, "scope agent: synthetic events done (%llu)\n",
                     static_cast<unsigned long long>(source->made()));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    batcher.tick();
  }
  if (collector) collector->drain();
  batcher.flush();
  if (batcher.lost() > 0) dropped_seq.add(batcher.lost());
  queue.close();
  shipper.stop();
  if (http) http->stop();

  auto ss = shipper.stats();
  auto sp = shipper.spool_stats();
  nlohmann::json summary = {{"event", "summary"},
                            {"node", node},
                            {"received", received.value()},
                            {"shipped", ss.shipped_events},
                            {"spooled", sp.appended_events},
                            {"replayed", sp.replayed_events},
                            {"spool_pending", sp.pending_events},
                            {"dropped",
                             {{"queue_full", dropped_queue.value()},
                              {"spool_full", sp.dropped_events},
                              {"kernel", pm.dropped_kernel.value()},
                              {"spool_error", ss.lost_events},
                              {"no_sequence", batcher.lost()}}}};
  std::printf("%s\n", summary.dump().c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace scope::cli
