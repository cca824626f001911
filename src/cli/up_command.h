// `scope up`: everything on one machine — the probes, the embedded SQLite
// store and the HTTP server (/health, /metrics, /api/v1/sql) in one process.
#pragma once

#include <CLI/CLI.hpp>
#include <cstddef>
#include <string>

#include "cli/http_flags.h"
#include "cli/session_flags.h"

namespace scope::cli {

struct UpOptions {
  SessionFlags session;
  std::string data_dir = "/var/lib/scope";
  HttpFlags http;
  std::string retention = "7d";
  size_t batch_events = 8192;
  int batch_ms = 100;
  size_t queue_batches = 256;  // in memory between the probes and the store
};

CLI::App* add_up_command(CLI::App& app, UpOptions& options);
int run_up(const UpOptions& options);

}  // namespace scope::cli
