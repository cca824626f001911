#include "cli/sql_command.h"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

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
  add_api_flags(cmd, o.api);
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
  auto api = api_client(o.api);
  if (!api) return report_api_error(api.failure());
  nlohmann::json body = {
      {"query", o.query}, {"max_rows", o.max_rows}, {"timeout_ms", o.timeout_ms}};
  auto res =
      api->call("POST", "/api/v1/sql", body, std::chrono::milliseconds(o.timeout_ms + 30000));
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
    std::fprintf(stderr, "scope: %s answered something that is not a query result\n",
                 api->url.c_str());
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
