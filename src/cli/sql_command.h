// `scope sql`: read-only SQL against the store of a running `scope up` or
// `scope server`, through that process (it holds the store).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace scope::cli {

struct SqlOptions {
  std::string data_dir = "/var/lib/scope";
  std::string server;  // http://HOST:PORT; default: the endpoint recorded in the data dir
  std::string token;   // default: DATA_DIR/admin.token
  bool json = false;
  bool csv = false;
  size_t max_rows = 10000;
  int timeout_ms = 10000;
  std::string query;
};

CLI::App* add_sql_command(CLI::App& app, SqlOptions& options);
int run_sql(const SqlOptions& options);

}  // namespace scope::cli
