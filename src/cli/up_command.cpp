#include "cli/up_command.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <thread>

#include "agent/node.h"
#include "agent/store_writer.h"
#include "auth/auth_db.h"
#include "common/clock.h"
#include "common/data_dir.h"
#include "common/host.h"
#include "common/stop_signal.h"
#include "common/strings.h"
#include "common/text.h"
#include "http/server.h"
#include "http/standard_routes.h"
#include "server/fleet.h"
#include "server/sql_api.h"
#include "store/sqlite/sqlite_store.h"

namespace scope::cli {

namespace {

// Deletes events older than the retention beside ingest, in bounded steps, once a minute.
class Retention {
 public:
  Retention(store::Store& store, int64_t keep_ns) {
    if (keep_ns <= 0) return;
    thread_ = std::thread([this, &store, keep_ns] {
      auto next = std::chrono::steady_clock::now();
      while (!stopping_) {
        if (std::chrono::steady_clock::now() >= next) {
          if (auto r = store.apply_retention(unix_now_ns() - keep_ns); !r)
            spdlog::warn("scope: retention: {}", r.error());
          next += std::chrono::minutes(1);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    });
  }
  ~Retention() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// The node's options from the flags (bad_input errors).
Result<agent::NodeOptions> node_options(const UpOptions& o) {
  auto families = probe_set(o.session);
  if (!families) return families.failure();
  auto session = session_options(o.session);
  if (!session) return session.failure();
  agent::NodeOptions n;
  n.node = host_name();
  n.data_dir = o.data_dir;
  n.batch_events = o.batch_events;
  n.batch_delay = std::chrono::milliseconds(o.batch_ms);
  n.queue_batches = o.queue_batches;
  n.session = *session;
  n.session.hold_library_loads = true;  // system-wide: a process loading CUDA waits for its probes
  n.session.family.interval_rows = true;
  n.families = *families;
  n.cgroup = o.session.cgroup;
  return n;
}

}  // namespace

CLI::App* add_up_command(CLI::App& app, UpOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "up",
      "Everything on one machine: trace every process (CUDA, ggml/llama, and the host families "
      "asked for), keep the events in an embedded SQLite store and serve the web UI at / and "
      "the API (users, SQL, /health, /metrics; the document at /api/v1/openapi.json, Swagger UI "
      "at /swagger/index.html) on --listen. Runs until Ctrl-C or SIGTERM.");
  add_session_flags(cmd, o.session);
  cmd->add_option("--data-dir", o.data_dir, "Where the store, the admin token and state live")
      ->envname("SCOPE_DATA_DIR")
      ->capture_default_str();
  add_http_flags(cmd, o.http);
  cmd->add_option("--retention", o.retention,
                  "Delete events older than this (90s, 15m, 12h, 7d; 0 keeps everything)")
      ->envname("SCOPE_RETENTION")
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

int run_up(const UpOptions& o) {
  int64_t retention_ns = o.retention == "0" ? 0 : parse_duration_ns(o.retention);
  if (retention_ns < 0)
    return report(make_error(Errc::kBadInput, "--retention '" + o.retention +
                                                  "' is not a duration (90s, 15m, 12h, 7d or 0)"));
  auto options = node_options(o);
  if (!options) return report(options.failure());
  auto http_options = http_server_options(o.http);
  if (!http_options) return report(http_options.failure());
  if (auto st = ensure_data_dir(o.data_dir); !st) return report(st.failure());
  // What scope and SQLite create from here on (the -wal and -shm files too) is its user's only.
  ::umask(077);
  auto store = store::SqliteStore::open({o.data_dir + "/scope.db"});
  if (!store) return report(store.failure());
  auto token = load_or_create_admin_token(o.data_dir);
  if (!token) return report(token.failure());
  if (token->created)
    std::printf("scope: admin token (shown once; also in %s/admin.token, mode 0600):\n  %s\n",
                o.data_dir.c_str(), token->token.c_str());
  std::fflush(stdout);
  metrics::Registry registry;
  auto node = agent::Node::open(*options, registry);
  if (!node) return report(node.failure());
  // The port is taken before the probes load: a busy port fails fast.
  auto router = std::make_shared<http::Router>();
  // Before the server: its WebSockets hold the hub's clients until it stops.
  server::LiveHub live({}, &registry);
  // Accounts live in their own file: the SQL API's connection cannot name them.
  auto auth_db = auth::open_sqlite_auth_db(o.data_dir + "/auth.db");
  if (!auth_db) return report(auth_db.failure());
  auto accounts = auth::Accounts::open(**auth_db, auth::revoked_tokens_in_db(**auth_db),
                                       {.open_registration = o.http.open_registration}, &registry);
  if (!accounts) return report(accounts.failure());
  // Plans set through the API go to this node's own session.
  server::NodeRegistry node_registry(**auth_db);
  server::Fleet fleet(
      node_registry,
      {.deliver = [&n = **node](const std::string& name, const server::DesiredPlan& d) -> Status {
        if (name != n.name()) return make_error(Errc::kNotFound, "no node '" + name + "' here");
        n.offer(d.version, d.plan);
        return Ok{};
      }});
  serve_api({.health = {"up", &registry,
                        [&n = **node, &s = **store] {
                          auto j = n.health();
                          j["store"] = std::string(s.kind());
                          return j;
                        }},
             .store = store->get(),
             .accounts = accounts->get(),
             .admin_token = token->token,
             .fleet = &fleet,
             .live = &live},
            *router, *http_options);
  auto web = http::Server::start(std::move(*http_options), std::move(router));
  if (!web) return report(web.failure());
  install_stop_signal_handlers();
  // A plan an admin set through the API outlives a restart.
  if (auto desired = node_registry.desired((*node)->name()); desired && *desired) {
    (*node)->offer((**desired).version, (**desired).plan);
    std::fprintf(stderr, "scope up: probes from the plan %s set (version %lld), not --probes\n",
                 (**desired).updated_by.c_str(), static_cast<long long>((**desired).version));
  }
  if (auto st = (*node)->start_probes(); !st) return report(st.failure());
  // Written once the probes run: `scope sql` and the tests take it for "ready".
  std::string url = (*web)->url();
  if (auto st = write_endpoint(o.data_dir, url); !st)
    std::fprintf(stderr, "scope: %s ('scope sql' will need --server)\n", st.error().c_str());
  agent::StoreWriter writer(**store, (*node)->queue(), (*node)->metrics(),
                            [&live](event::Batch&& b) { live.publish(std::move(b)); });
  std::fprintf(stderr, "scope up: serving %s, store %s/scope.db, probes %s\n", url.c_str(),
               o.data_dir.c_str(), join(options->families, ",").c_str());
  int status = 0;
  {
    Retention retention(**store, retention_ns);
    // A fleet of one: the node's heartbeats go straight into its registry.
    agent::HeartbeatLoop heartbeats(
        **node, std::chrono::seconds(5), [&fleet, &n = **node](nlohmann::json&& hb) {
          if (auto st = fleet.heartbeat(n.name(), unix_now_ns(), hb.dump()); !st)
            spdlog::warn("scope: node registry: {}", st.error());
        });
    status = (*node)->run();
    (*node)->drain();
    writer.join();
  }
  (*web)->stop();
  remove_endpoint(o.data_dir);
  auto& pm = (*node)->metrics();
  uint64_t dropped = pm.dropped_kernel.value() + pm.dropped_bad.value() + pm.dropped_queue.value() +
                     pm.dropped_store.value();
  std::fprintf(stderr, "scope up: stopped; %" PRIu64 " events stored, %" PRIu64 " dropped\n",
               pm.stored.value(), dropped);
  return status;
}

}  // namespace scope::cli
