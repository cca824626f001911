#include "cli/up_command.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

#include "agent/batcher.h"
#include "agent/collector.h"
#include "agent/data_dir.h"
#include "agent/pipeline_metrics.h"
#include "agent/sequence.h"
#include "agent/store_writer.h"
#include "common/stop_signal.h"
#include "common/text.h"
#include "families/probe_family.h"
#include "server/http_server.h"
#include "store/sqlite/sqlite_store.h"
#include "transport/batch_queue.h"

namespace scope::cli {

CLI::App* add_up_command(CLI::App& app, UpOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "up",
      "Everything on one machine: trace every process (CUDA, ggml/llama, and the host families "
      "asked for), keep the events in an embedded SQLite store and serve /health, /metrics and "
      "the SQL API on --listen. Runs until Ctrl-C or SIGTERM.");
  cmd->add_option("--data-dir", o.data_dir, "Where the store, the admin token and state live")
      ->envname("SCOPE_DATA_DIR")
      ->capture_default_str();
  cmd->add_option("--listen", o.listen, "HTTP address (HOST:PORT)")
      ->envname("SCOPE_LISTEN")
      ->capture_default_str();
  cmd->add_option("--probes", o.probes,
                  "Comma list of probe families: cuda,ggml,llama,exec,open,sched,syscalls,net")
      ->envname("SCOPE_PROBES")
      ->capture_default_str();
  cmd->add_option("-c,--comm", o.comm, "Only processes with this name (comm)")
      ->envname("SCOPE_COMM");
  cmd->add_option("--cgroup", o.cgroup, "Only processes in this cgroup (its cgroup v2 path)")
      ->envname("SCOPE_CGROUP");
  cmd->add_option("--retention", o.retention,
                  "Delete events older than this (90s, 15m, 12h, 7d; 0 keeps everything)")
      ->envname("SCOPE_RETENTION")
      ->capture_default_str();
  cmd->add_flag("--open-skip-pseudo", o.open_skip_pseudo,
                "open family: leave out paths under /proc and /sys (counted)")
      ->envname("SCOPE_OPEN_SKIP_PSEUDO");
  cmd->add_option("--ring-buffer-mb", o.ring_mb, "Size of the cuda family's ring buffer in MiB")
      ->envname("SCOPE_RING_BUFFER_MB")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--batch-events", o.batch_events, "Most events per stored batch")
      ->envname("SCOPE_BATCH_EVENTS")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--batch-delay-ms", o.batch_ms, "Longest an event waits for its batch (ms)")
      ->envname("SCOPE_BATCH_DELAY_MS")
      ->check(CLI::Range(1, 60000))
      ->capture_default_str();
  cmd->footer(
      "On first start an admin token is created, printed once and kept in DATA_DIR/admin.token\n"
      "(mode 0600). Query the store with: scope sql \"SELECT ...\"\n"
      "Examples:\n"
      "  scope up                                   CUDA and LLM probes, data in /var/lib/scope\n"
      "  scope up --probes cuda,exec,open,net --data-dir /tmp/scope --listen 127.0.0.1:9000");
  return cmd;
}

int run_up(const UpOptions& o, bool explicit_probes) {
  int64_t retention_ns = o.retention == "0" ? 0 : parse_duration_ns(o.retention);
  if (retention_ns < 0) {
    std::fprintf(stderr, "scope: --retention '%s' is not a duration (90s, 15m, 12h, 7d or 0)\n",
                 o.retention.c_str());
    return 2;
  }
  if (auto addr = server::parse_listen(o.listen); !addr) {
    std::fprintf(stderr, "scope: %s\n", addr.error().c_str());
    return 2;
  }
  if (auto families = families::parse_probe_list(o.probes, explicit_probes); !families) {
    std::fprintf(stderr, "scope: %s\n", families.error().c_str());
    return 2;
  }
  if (auto st = agent::ensure_data_dir(o.data_dir); !st) {
    std::fprintf(stderr, "scope: %s\n", st.error().c_str());
    return 1;
  }
  store::SqliteOptions so;
  so.path = o.data_dir + "/scope.db";
  auto store = store::SqliteStore::open(so);
  if (!store) {
    std::fprintf(stderr, "scope: %s\n", store.error().c_str());
    return 1;
  }
  auto token = agent::load_or_create_admin_token(o.data_dir);
  if (!token) {
    std::fprintf(stderr, "scope: %s\n", token.error().c_str());
    return 1;
  }
  if (token->created) {
    std::printf("scope: admin token (shown once; also in %s/admin.token, mode 0600):\n  %s\n",
                o.data_dir.c_str(), token->token.c_str());
    std::fflush(stdout);
  }
  auto seq = agent::SequenceAllocator::open(o.data_dir + "/agent.seq");
  if (!seq) {
    std::fprintf(stderr, "scope: %s\n", seq.error().c_str());
    return 1;
  }

  metrics::Registry registry;
  agent::PipelineMetrics pm(registry);
  transport::BatchQueue queue(o.queue_batches);
  agent::BatcherOptions bo;
  bo.node = agent::host_name();
  bo.boot_id = agent::read_boot_id();
  bo.max_events = o.batch_events;
  bo.max_delay = std::chrono::milliseconds(o.batch_ms);
  agent::Batcher batcher(bo, *seq,
                         [&](event::Batch&& b) { pm.dropped_queue.add(queue.push(std::move(b))); });

  server::HttpOptions ho;
  ho.listen = o.listen;
  ho.store = store->get();
  ho.metrics = &registry;
  ho.admin_token = token->token;
  ho.role = "up";
  // The port is taken before the probes load: a busy port fails fast.
  // Counters for /health are copied here by the main loop (no shared state).
  std::mutex health_mu;
  nlohmann::json health = {{"node", bo.node}, {"probes", "starting"}};
  ho.health = [&]() {
    std::lock_guard lock(health_mu);
    return health;
  };
  auto http = server::HttpServer::start(ho);
  if (!http) {
    std::fprintf(stderr, "scope: %s\n", http.error().c_str());
    return 1;
  }
  agent::CollectorOptions co;
  co.probes = o.probes;
  co.explicit_probes = explicit_probes;
  co.comm = o.comm;
  co.cgroup = o.cgroup;
  co.open_skip_pseudo = o.open_skip_pseudo;
  co.ring_mb = o.ring_mb;
  auto collector = agent::Collector::start(co, [&](event::EventRow&& row) {
    pm.received.add();
    batcher.add(std::move(row));
  });
  if (!collector) {
    std::fprintf(stderr, "scope: %s\n", collector.error().c_str());
    return 1;
  }
  agent::Collector& probes = **collector;
  std::string families;
  for (const auto& f : probes.families()) families += (families.empty() ? "" : ",") + f;
  // The probes' counters (per-CPU map reads) go to /metrics and /health twice
  // a second and once more after the last drain, not on every poll.
  uint64_t dropped_seen = 0, bad_seen = 0;
  auto account = [&] {
    auto s = probes.stats();
    pm.dropped_kernel.add(s.dropped - dropped_seen);
    pm.dropped_bad.add(s.bad_events - bad_seen);
    dropped_seen = s.dropped;
    bad_seen = s.bad_events;
    std::lock_guard lock(health_mu);
    health = {{"node", bo.node},
              {"probes", families},
              {"events", s.events},
              {"dropped", s.dropped},
              {"held", {{"at_exec", s.held_at_exec}, {"at_loader", s.held_at_loader}}},
              {"attached", probes.attached_files()}};
  };
  account();

  std::string url =
      "http://" + o.listen.substr(0, o.listen.rfind(':')) + ":" + std::to_string((*http)->port());
  if (auto st = agent::write_endpoint(o.data_dir, url); !st)
    std::fprintf(stderr, "scope: %s ('scope sql' will need --server)\n", st.error().c_str());

  agent::StoreWriter writer(**store, queue, pm);
  std::fprintf(stderr, "scope up: serving %s, store %s, probes %s\n", url.c_str(), so.path.c_str(),
               families.c_str());
  std::fflush(stdout);
  install_stop_signal_handlers();

  // Retention runs beside ingest, in bounded steps.
  std::atomic<bool> stopping{false};
  std::thread retention;
  if (retention_ns > 0)
    retention = std::thread([&] {
      auto next = std::chrono::steady_clock::now();
      while (!stopping) {
        if (std::chrono::steady_clock::now() >= next) {
          int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
          if (auto r = (*store)->apply_retention(now - retention_ns); !r)
            spdlog::warn("scope: retention: {}", r.error());
          next += std::chrono::minutes(1);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    });

  int status = 0;
  auto next_account = std::chrono::steady_clock::now();
  while (!stop_signal()) {
    int n = probes.poll(5);
    if (n < 0 && n != -EINTR) {
      std::fprintf(stderr, "scope: reading the ring buffer failed: %s\n", errno_text(-n).c_str());
      status = 1;
      break;
    }
    batcher.tick();
    if (std::chrono::steady_clock::now() >= next_account) {
      account();
      next_account += std::chrono::milliseconds(500);
    }
  }
  probes.drain();
  account();
  batcher.flush();
  queue.close();
  writer.join();
  stopping = true;
  if (retention.joinable()) retention.join();
  (*http)->stop();
  agent::remove_endpoint(o.data_dir);
  std::fprintf(
      stderr, "scope up: stopped; %llu events stored, %llu dropped\n",
      static_cast<unsigned long long>(pm.stored.value()),
      static_cast<unsigned long long>(pm.dropped_kernel.value() + pm.dropped_queue.value() +
                                      pm.dropped_store.value() + pm.dropped_bad.value()));
  return status;
}

}  // namespace scope::cli
