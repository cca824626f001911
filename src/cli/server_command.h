// `scope server`: the fleet's backend, Redis stream → PostgreSQL.
#pragma once

#include <CLI/CLI.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

#include "cli/http_flags.h"

namespace scope::cli {

struct ServerOptions {
  std::string redis;
  std::string postgres;
  HttpFlags http;
  std::string data_dir = "/var/lib/scope";
  std::string stream = "scope:events";
  std::string group = "scope-server";
  std::string consumer;  // default: the host name
  std::string schema = "public";
  std::string partitioning = "auto";
  double retention_days = 0;
  int claim_idle_ms = 30000;
  size_t dead_letter_max_len = 10000;   // XADD MAXLEN ~ of <stream>:dead
  bool allow_unsigned_batches = false;  // insecure: for agents not yet enrolled
  // The probes a node gets on its first heartbeat when no admin set any ("none": every probe
  // off); empty: a node keeps what its agent was started with.
  std::string default_probes;
  // Liveness (tests shorten them): stale and down after this long without a heartbeat.
  uint64_t stale_after_ms = 15000;
  uint64_t down_after_ms = 60000;
};

CLI::App* add_server_command(CLI::App& app, ServerOptions& options);
int run_server(const ServerOptions& options);

}  // namespace scope::cli
