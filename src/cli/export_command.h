// `scope export perfetto`: a Perfetto trace of one node's events, from the store of a running
// `scope up` or `scope server` (through its API, as `scope sql`).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli/api_client.h"

namespace scope::cli {

struct ExportOptions {
  ApiFlags api;
  std::string output;
  std::string from = "1h";  // Unix ns or relative to now: 5m, 1h, 2d
  std::string to = "now";
  std::string node;
  int64_t pid = 0;
  int timeout_s = 600;
};

CLI::App* add_export_command(CLI::App& app, ExportOptions& options);
int run_export(const ExportOptions& options);

}  // namespace scope::cli
