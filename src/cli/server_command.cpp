#include "cli/server_command.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>
#include <tuple>

#include "auth/auth_db.h"
#include "auth/nodes.h"
#include "auth/revoked_in_redis.h"
#include "cli/credentials.h"
#include "common/clock.h"
#include "common/data_dir.h"
#include "common/stop_signal.h"
#include "event/batch.h"
#include "event/probe_plan.h"
#include "http/server.h"
#include "http/standard_routes.h"
#include "server/fleet.h"
#include "server/ingest.h"
#include "server/sql_api.h"
#include "transport/redis_stream.h"
#ifdef SCOPE_WITH_POSTGRES
#include <libpq-fe.h>

#include "store/postgres/postgres_store.h"
#endif

namespace scope::cli {

#ifdef SCOPE_WITH_POSTGRES
namespace {

// Syntax only: libpq's own parser, so what it accepts here it accepts later.
Status check_postgres_url(const std::string& url) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (!opts) {
    std::string msg = err ? err : "cannot parse";
    PQfreemem(err);
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    return make_error("invalid PostgreSQL URL '" + url + "': " + msg);
  }
  PQconninfoFree(opts);
  return Ok{};
}

void sleep_unless_stopped(std::chrono::milliseconds d) {
  auto until = std::chrono::steady_clock::now() + d;
  while (!stop_signal() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

}  // namespace
#endif

CLI::App* add_server_command(CLI::App& app, ServerOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "server",
      "Fleet backend: ingest the agents' Redis stream (batches signed by enrolled nodes) into "
      "PostgreSQL and serve the web UI at / and the API (users, nodes, SQL, /health, /metrics; "
      "the document at /api/v1/openapi.json, Swagger UI at /swagger/index.html) on --listen");
  cmd->add_option("--redis", o.redis,
                  "Redis URL: redis://[[user]:password@]host[:port][/db] (required; else the "
                  "systemd credential `redis`)")
      ->envname("SCOPE_REDIS");
  cmd->add_option("--postgres", o.postgres,
                  "PostgreSQL URL or conninfo: postgresql://user@host:port/db (required; else the "
                  "systemd credential `postgres`)")
      ->envname("SCOPE_POSTGRES");
  add_http_flags(cmd, o.http);
  cmd->add_option("--data-dir", o.data_dir, "Server state")
      ->envname("SCOPE_DATA_DIR")
      ->capture_default_str();
  cmd->add_option("--stream", o.stream, "Redis stream name")
      ->envname("SCOPE_STREAM")
      ->capture_default_str();
  cmd->add_option("--group", o.group, "Consumer group")
      ->envname("SCOPE_GROUP")
      ->capture_default_str();
  cmd->add_option("--consumer", o.consumer,
                  "This server's consumer name, stable across restarts (default: the host name)")
      ->envname("SCOPE_CONSUMER");
  cmd->add_option("--postgres-schema", o.schema, "PostgreSQL schema for scope's tables")
      ->envname("SCOPE_POSTGRES_SCHEMA")
      ->capture_default_str();
  cmd->add_option("--partitioning", o.partitioning,
                  "auto (TimescaleDB when available), native or timescale")
      ->envname("SCOPE_PARTITIONING")
      ->capture_default_str();
  cmd->add_option("--retention-days", o.retention_days, "Drop events older than this (0: keep)")
      ->envname("SCOPE_RETENTION_DAYS");
  cmd->add_option("--claim-idle-ms", o.claim_idle_ms,
                  "Take over entries another consumer left pending this long")
      ->envname("SCOPE_CLAIM_IDLE_MS")
      ->capture_default_str();
  cmd->add_option("--dead-letter-max-len", o.dead_letter_max_len,
                  "About how many refused batches <stream>:dead keeps (XADD MAXLEN ~); older "
                  "ones go")
      ->envname("SCOPE_DEAD_LETTER_MAX_LEN")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--allow-unsigned-batches", o.allow_unsigned_batches,
                "INSECURE, for migrating agents not yet enrolled: store batches that carry no "
                "node signature (anyone who can XADD to the stream can then write events in the "
                "name of any node that is not enrolled)")
      ->envname("SCOPE_ALLOW_UNSIGNED_BATCHES");
  cmd->add_option("--default-probes", o.default_probes,
                  "The probe families a node runs from its first heartbeat until an admin sets "
                  "others (PUT /api/v1/nodes/NODE/probes): a list such as cuda,ggml,llama, or "
                  "none (every probe off). Default: what the node's agent was started with")
      ->envname("SCOPE_DEFAULT_PROBES");
  cmd->add_option("--test-stale-after-ms", o.stale_after_ms)
      ->envname("SCOPE_TEST_STALE_AFTER_MS")
      ->group("");
  cmd->add_option("--test-down-after-ms", o.down_after_ms)
      ->envname("SCOPE_TEST_DOWN_AFTER_MS")
      ->group("");
  return cmd;
}

#ifndef SCOPE_WITH_POSTGRES
int run_server(const ServerOptions&) {
  std::fprintf(stderr,
               "scope server: PostgreSQL is not in this build (SCOPE_WITH_POSTGRES=OFF, e.g. the "
               "portable preset); build with the dev preset\n");
  return 2;
}
#else
int run_server(const ServerOptions& given) {
  ServerOptions o = given;
  for (auto [value, flag, env, name] :
       {std::tuple{&o.redis, "--redis", "SCOPE_REDIS", "redis"},
        std::tuple{&o.postgres, "--postgres", "SCOPE_POSTGRES", "postgres"}})
    if (auto st = flag_or_credential(*value, flag, env, name, true); !st) {
      std::fprintf(stderr, "scope server: %s\n", st.error().c_str());
      return 2;
    }
  auto endpoint = transport::parse_redis_url(o.redis);
  if (!endpoint) {
    std::fprintf(stderr, "scope server: --redis: %s\n", endpoint.error().c_str());
    return 2;
  }
  if (auto st = check_postgres_url(o.postgres); !st) {
    std::fprintf(stderr, "scope server: --postgres: %s\n", st.error().c_str());
    return 2;
  }
  auto partitioning = store::parse_partitioning(o.partitioning);
  if (!partitioning) {
    std::fprintf(stderr, "scope server: --partitioning: %s\n", partitioning.error().c_str());
    return 2;
  }
  auto http_options = http_server_options(o.http);
  if (!http_options) {
    std::fprintf(stderr, "scope server: %s\n", http_options.error().c_str());
    return 2;
  }
  std::optional<event::ProbePlan> default_plan;
  if (!o.default_probes.empty()) {
    auto families = o.default_probes == "none"
                        ? Result<std::set<std::string> >(std::set<std::string>{})
                        : event::parse_probe_list(o.default_probes);
    if (!families) {
      std::fprintf(stderr, "scope server: --default-probes: %s\n", families.error().c_str());
      return 2;
    }
    default_plan = event::ProbePlan{.families = *families};
  }
  if (auto st = ensure_data_dir(o.data_dir); !st) {
    std::fprintf(stderr, "scope server: %s\n", st.error().c_str());
    return 1;
  }
  ::umask(077);  // what it creates from here on is its user's only
  // Servers behind one front (nginx) share one admin token: the credential admin-token (a
  // file in $CREDENTIALS_DIRECTORY); without it each has its own, made in its data dir.
  auto shared = systemd_credential("admin-token");
  if (!shared) {
    std::fprintf(stderr, "scope server: %s\n", shared.error().c_str());
    return 2;
  }
  auto token = shared->empty() ? load_or_create_admin_token(o.data_dir)
                               : use_admin_token(o.data_dir, *shared);
  if (!token) {
    std::fprintf(stderr, "scope server: %s\n", token.error().c_str());
    return token.code() == Errc::kBadInput ? 2 : 1;
  }
  install_stop_signal_handlers();

  store::PostgresOptions popts;
  popts.url = o.postgres;
  popts.schema = o.schema;
  popts.partitioning = *partitioning;
  popts.retention_ns = static_cast<int64_t>(o.retention_days * 86400e9);
  std::unique_ptr<store::PostgresStore> store;
  auto backoff = std::chrono::milliseconds(500);
  while (!stop_signal()) {
    auto s = store::PostgresStore::open(popts);
    if (s) {
      store = std::move(s.value());
      break;
    }
    // Unreachable: wait for it. Anything else (a newer schema, no rights) will not heal.
    if (s.error().rfind("cannot connect", 0) != 0) {
      std::fprintf(stderr, "scope server: PostgreSQL: %s\n", s.error().c_str());
      return 1;
    }
    std::fprintf(stderr, "scope server: %s; retrying in %lld ms\n", s.error().c_str(),
                 static_cast<long long>(backoff.count()));
    sleep_unless_stopped(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
  if (!store) return 0;

  metrics::Registry registry;
  // Accounts in their own schema on their own connection (the SQL API's role has no grant on
  // it); revoked tokens in Redis, shared by every server of the fleet.
  const std::string auth_schema =
      (o.schema == "public" ? std::string("scope") : o.schema) + "_auth";
  auto auth_db = auth::open_postgres_auth_db(o.postgres, auth_schema);
  if (!auth_db) {
    std::fprintf(stderr, "scope server: %s\n", auth_db.error().c_str());
    return 1;
  }
  auto accounts =
      auth::Accounts::open(**auth_db, auth::revoked_tokens_in_redis(*endpoint, o.stream),
                           {.open_registration = o.http.open_registration}, &registry);
  if (!accounts) {
    std::fprintf(stderr, "scope server: %s\n", accounts.error().c_str());
    return 1;
  }
  // Ingest stores a batch only when it is signed by an enrolled node's key (auth_nodes).
  auth::NodeKeyCache node_keys(**auth_db);
  auth::Nodes nodes(**auth_db, **accounts);
  server::IngestOptions iopts;
  iopts.redis = *endpoint;
  iopts.stream = o.stream;
  iopts.group = o.group;
  iopts.consumer = o.consumer;
  iopts.claim_idle_ms = o.claim_idle_ms;
  iopts.dead_max_len = o.dead_letter_max_len;
  iopts.node_key = [&node_keys](const std::string& node, auto read_at, bool stale) {
    return node_keys.key(node, read_at, stale);
  };
  iopts.allow_unsigned = o.allow_unsigned_batches;
  // Heartbeats into the registry; plans to each node's control stream.
  server::NodeRegistry node_registry(**auth_db, {std::chrono::milliseconds(o.stale_after_ms),
                                                 std::chrono::milliseconds(o.down_after_ms)});
  server::RedisPlanDelivery plan_delivery(*endpoint, o.stream);
  server::Fleet fleet(
      node_registry,
      {.deliver = [&plan_delivery](const std::string& node,
                                   const server::DesiredPlan& d) { return plan_delivery(node, d); },
       .default_plan = default_plan});
  iopts.on_heartbeat = [&fleet](const std::string& node, int64_t now, std::string_view hb) {
    return fleet.heartbeat(node, now, hb);
  };
  if (o.allow_unsigned_batches)
    std::fprintf(stderr,
                 "scope server: --allow-unsigned-batches: unsigned batches are stored (insecure; "
                 "enroll the agents and drop this flag)\n");
  // Before the server: its WebSockets hold the hub's clients until it stops.
  server::LiveHub live({}, &registry);
  iopts.on_committed = [&live](event::Batch&& b) { live.publish(std::move(b)); };
  server::Ingest ingest(iopts, *store, registry);

  auto router = std::make_shared<http::Router>();
  serve_api({.health = {"server", &registry,
                        [&] {
                          auto s = ingest.stats();
                          return nlohmann::json{{"store", store->kind()},
                                                {"partitioning", store->partitioning()},
                                                {"events_stored", s.events_stored}};
                        }},
             .store = store.get(),
             .accounts = accounts->get(),
             .admin_token = token->token,
             .nodes = &nodes,
             .fleet = &fleet,
             .live = &live},
            *router, *http_options);
  auto web = http::Server::start(std::move(*http_options), std::move(router));
  if (!web) {
    std::fprintf(stderr, "scope server: %s\n", web.error().c_str());
    return 1;
  }
  std::string url = (*web)->url();
  if (auto st = write_endpoint(o.data_dir, url); !st)
    std::fprintf(stderr, "scope server: %s ('scope sql' will need --server)\n", st.error().c_str());
  if (token->created)
    std::printf("scope: admin token (shown once; also in %s/admin.token, mode 0600):\n  %s\n",
                o.data_dir.c_str(), token->token.c_str());
  std::fflush(stdout);
  ingest.start();
  std::fprintf(stderr,
               "scope server: ingesting stream %s of %s into PostgreSQL (schema %s, %s "
               "partitioning); /metrics on %s\n",
               o.stream.c_str(), endpoint->text().c_str(), o.schema.c_str(),
               store->partitioning().c_str(), url.c_str());

  auto next_retention = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (!stop_signal()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (o.retention_days > 0 && std::chrono::steady_clock::now() >= next_retention) {
      next_retention = std::chrono::steady_clock::now() + std::chrono::hours(1);
      int64_t cutoff = unix_now_ns() - popts.retention_ns;
      auto d = store->apply_retention(cutoff);
      if (!d) spdlog::warn("scope: retention: {}", d.error());
    }
  }
  ingest.stop();
  (*web)->stop();
  remove_endpoint(o.data_dir);
  auto s = ingest.stats();
  nlohmann::json refused = nlohmann::json::object();
  for (auto why : event::kAllRefusals)
    refused[event::refusal_cause(why)] = s.refused[static_cast<size_t>(why)];
  nlohmann::json summary = {{"event", "summary"},
                            {"batches", s.batches},
                            {"received", s.events_received},
                            {"stored", s.events_stored},
                            {"duplicate_batches", s.duplicate_batches},
                            {"duplicate_events", s.duplicate_events},
                            {"corrupt_batches", s.corrupt_batches},
                            {"refused", refused},
                            {"rejected_events", s.rejected_events},
                            {"claimed", s.claimed},
                            {"unauthenticated", s.unauthenticated}};
  std::printf("%s\n", summary.dump().c_str());
  std::fflush(stdout);
  return 0;
}

#endif

}  // namespace scope::cli
