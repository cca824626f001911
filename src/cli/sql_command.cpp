#include "cli/sql_command.h"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/data_dir.h"
#include "http/client.h"
#include "store/store.h"

namespace scope::cli {

CLI::App* add_sql_command(CLI::App& app, SqlOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "sql",
      "Read-only SQL against the store of a running 'scope up' (SQLite) or 'scope server' "
      "(PostgreSQL). Tables: cuda_events, exec_events, open_events, net_events, "
      "syscalls_events, sched_events, llama_events, ggml_events.");
  cmd->add_option("query", o.query, "The SQL statement (one, read-only)")->required();
  auto* dir = cmd->add_option("--data-dir", o.data_dir,
                              "Data dir of the running 'scope up' (finds its address and token)")
                  ->envname("SCOPE_DATA_DIR")
                  ->capture_default_str();
  auto* server =
      cmd->add_option("--server", o.server, "URL of a 'scope server' or 'scope up' instead")
          ->envname("SCOPE_SERVER");
  server->excludes(dir);
  cmd->add_option("--token", o.token, "Admin token (default: DATA_DIR/admin.token)")
      ->envname("SCOPE_TOKEN");
  auto* json = cmd->add_flag("--json", o.json, "Print {columns, rows, truncated} as JSON");
  auto* csv = cmd->add_flag("--csv", o.csv, "Print CSV with a header line");
  json->excludes(csv);
  cmd->add_option("--max-rows", o.max_rows, "Return at most this many rows")
      ->envname("SCOPE_MAX_ROWS")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd->add_option("--timeout-ms", o.timeout_ms, "Cancel the query after this long")
      ->envname("SCOPE_TIMEOUT_MS")
      ->check(CLI::Range(1, 600000))
      ->capture_default_str();
  cmd->footer(
      "Examples:\n"
      "  scope sql \"SELECT kernel, count(*) AS n FROM cuda_events WHERE op = 'launch' "
      "GROUP BY kernel ORDER BY n DESC LIMIT 10\"\n"
      "  scope sql --server http://central:18080 --token $TOKEN --csv \"SELECT ...\"");
  return cmd;
}

int run_sql(const SqlOptions& o) {
  std::string url = o.server;
  if (url.empty()) {
    // The endpoint and token are trusted only from a dir no other user can write: a planted
    // endpoint.json would otherwise receive the admin token.
    if (auto st = check_data_dir(o.data_dir); !st && st.code() != Errc::kNotFound) {
      std::fprintf(stderr, "scope: %s\n", st.error().c_str());
      return 1;
    }
    auto ep = read_endpoint(o.data_dir);
    if (!ep) {
      std::fprintf(stderr, "scope: %s\n", ep.error().c_str());
      return 1;
    }
    url = *ep;
  }
  std::string token = o.token;
  if (token.empty() && o.server.empty()) {
    auto t = read_admin_token(o.data_dir);
    if (!t) {
      std::fprintf(stderr, "scope: %s (or give --token)\n", t.error().c_str());
      return 1;
    }
    token = *t;
  }
  if (url.rfind("http://", 0) != 0) {
    std::fprintf(stderr, "scope: --server '%s' must be an http:// URL\n", url.c_str());
    return 2;
  }
  nlohmann::json body = {
      {"query", o.query}, {"max_rows", o.max_rows}, {"timeout_ms", o.timeout_ms}};
  http::ClientRequest req;
  req.method = "POST";
  req.url = url + "/api/v1/sql";
  req.headers = {{"Authorization", "Bearer " + token}};
  req.body = body.dump();
  req.timeout = std::chrono::milliseconds(o.timeout_ms + 30000);
  auto res = http::fetch(req);
  if (!res) {
    std::fprintf(stderr, "scope: %s\n", res.error().c_str());
    return 1;
  }
  if (res->status != 200) {
    std::fprintf(stderr, "scope: %s\n", http::error_message(*res).c_str());
    return 1;
  }
  auto j = nlohmann::json::parse(res->body, nullptr, false);
  if (j.is_discarded() || !j.contains("columns") || !j.contains("rows")) {
    std::fprintf(stderr, "scope: %s answered something that is not a query result\n", url.c_str());
    return 1;
  }
  if (o.json) {
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  store::QueryResult r;
  r.columns = j["columns"].get<std::vector<std::string>>();
  r.truncated = j.value("truncated", false);
  r.truncated_by = j.value("truncated_by", std::string());
  for (const auto& row : j["rows"]) {
    std::vector<event::Value> out;
    for (const auto& v : row) {
      if (v.is_number_integer())
        out.emplace_back(v.get<int64_t>());
      else if (v.is_string())
        out.emplace_back(v.get<std::string>());
      else if (v.is_null())
        out.emplace_back(std::monostate{});
      else
        out.emplace_back(v.dump());
    }
    r.rows.push_back(std::move(out));
  }
  std::fputs(o.csv ? store::query_result_csv(r).c_str() : store::query_result_table(r).c_str(),
             stdout);
  return 0;
}

}  // namespace scope::cli
