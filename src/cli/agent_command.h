// `scope agent`: a fleet node's probes, batched and shipped to a Redis stream,
// spooled on disk while Redis is unreachable.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "cli/session_flags.h"

namespace scope::cli {

struct AgentOptions {
  SessionFlags session;
  std::string redis;
  std::string node;
  std::string data_dir = "/var/lib/scope";
  std::string listen;  // /metrics and /health; empty: none
  std::string stream = "scope:events";
  uint64_t spool_max_mb = 1024;
  uint64_t batch_events = 8192;
  uint64_t batch_delay_ms = 100;
  uint64_t queue_batches = 64;
  // Enrollment: a one-time token (from --enroll, --enroll-file or SCOPE_ENROLL_TOKEN) traded
  // with the server at `server` for registering this node's public key.
  std::string enroll_token;
  std::string enroll_file;
  std::string server;
  // Test hooks (hidden): synthetic cuda launch events instead of probes, at
  // `rate` per second (0: as fast as possible), `count` in all, for load and
  // fault tests without root.
  uint64_t synthetic_rate = 0;
  int64_t synthetic_count = -1;  // -1: no synthetic source (0: none, but no probes either)
  uint64_t spool_max_kb = 0;     // a spool smaller than 1 MiB (spool-full tests)
  uint64_t heartbeat_ms = 5000;  // between heartbeats (liveness tests)
};

CLI::App* add_agent_command(CLI::App& app, AgentOptions& options);
int run_agent(const AgentOptions& options);

}  // namespace scope::cli
