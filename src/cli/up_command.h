// `scope up`: everything on one machine — the probes, the embedded SQLite
// store and the HTTP server (/health, /metrics, /api/v1/sql) in one process.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace scope::cli {

struct UpOptions {
  std::string data_dir = "/var/lib/scope";
  std::string listen = "127.0.0.1:18080";
  std::string probes = "cuda,ggml,llama";
  std::string comm;
  std::string cgroup;
  std::string retention = "7d";
  bool open_skip_pseudo = false;
  uint64_t ring_mb = 32;
  size_t batch_events = 8192;
  int batch_ms = 100;
  size_t queue_batches = 256;  // in memory between the probes and the store
};

CLI::App* add_up_command(CLI::App& app, UpOptions& options);
int run_up(const UpOptions& options, bool explicit_probes);

}  // namespace scope::cli
