// `scope sql`: read-only SQL against the store of a running `scope up` or
// `scope server`, through that process (it holds the store).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli/api_client.h"

namespace scope::cli {

struct SqlOptions {
  ApiFlags api;
  bool json = false;
  bool csv = false;
  size_t max_rows = 10000;
  int timeout_ms = 10000;
  std::string query;
};

CLI::App* add_sql_command(CLI::App& app, SqlOptions& options);
int run_sql(const SqlOptions& options);

}  // namespace scope::cli
