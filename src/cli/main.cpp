// scope: eBPF observability for GPU and LLM inference hosts.
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "cli/agent_command.h"
#include "cli/export_command.h"
#include "cli/login_command.h"
#include "cli/nodes_command.h"
#include "cli/probes_command.h"
#include "cli/server_command.h"
#include "cli/sql_command.h"
#include "cli/trace_command.h"
#include "cli/up_command.h"
#include "cli/users_command.h"
#include "probe/libbpf_log.h"

int main(int argc, char** argv) {
  auto logger = spdlog::stderr_logger_mt("scope");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%v");
  spdlog::set_level(spdlog::level::warn);
  scope::probe::route_libbpf_logs();

  CLI::App app{"scope: see what CUDA programs and the host around them are doing, by eBPF"};
  app.require_subcommand(1);
  int verbose = 0;
  app.add_flag("-v,--verbose", verbose, "More diagnostics on stderr (-vv for debug)")
      ->envname("SCOPE_VERBOSE");
  scope::cli::TraceOptions trace;
  CLI::App* trace_cmd = scope::cli::add_trace_command(app, trace);
  scope::cli::UpOptions up;
  CLI::App* up_cmd = scope::cli::add_up_command(app, up);
  scope::cli::SqlOptions sql;
  CLI::App* sql_cmd = scope::cli::add_sql_command(app, sql);
  scope::cli::ExportOptions export_options;
  CLI::App* export_cmd = scope::cli::add_export_command(app, export_options);
  scope::cli::NodesOptions nodes;
  scope::cli::NodesCommand nodes_cmd = scope::cli::add_nodes_command(app, nodes);
  scope::cli::ProbesOptions probes;
  CLI::App* probes_cmd = scope::cli::add_probes_command(app, probes);
  scope::cli::LoginOptions login;
  CLI::App* login_cmd = scope::cli::add_login_command(app, login);
  std::string logout_server;
  CLI::App* logout_cmd = scope::cli::add_logout_command(app, logout_server);
  scope::cli::UsersOptions users;
  scope::cli::UsersCommand users_cmd = scope::cli::add_users_command(app, users);
  scope::cli::AgentOptions agent;
  CLI::App* agent_cmd = scope::cli::add_agent_command(app, agent);
  scope::cli::ServerOptions server;
  CLI::App* server_cmd = scope::cli::add_server_command(app, server);

  // Everything after the first "--" is the command to run, verbatim.
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--") {
      trace.command.assign(argv + i + 1, argv + argc);
      if (trace.command.empty()) {
        std::fprintf(stderr, "scope: nothing after --: give a command to run\n");
        return 2;
      }
      break;
    }
    args.emplace_back(argv[i]);
  }
  std::reverse(args.begin(), args.end());  // CLI11 takes them in reverse order
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() != 0) {
      std::fprintf(stderr, "scope: %s\nRun '%s --help' for usage.\n", e.what(), argv[0]);
      return 2;
    }
    return app.exit(e);
  }
  if (verbose >= 2)
    spdlog::set_level(spdlog::level::debug);
  else if (verbose == 1)
    spdlog::set_level(spdlog::level::info);

  if (trace_cmd->parsed()) return scope::cli::run_trace(trace);
  if (up_cmd->parsed()) return scope::cli::run_up(up);
  if (sql_cmd->parsed()) return scope::cli::run_sql(sql);
  if (export_cmd->parsed()) return scope::cli::run_export(export_options);
  if (nodes_cmd.nodes->parsed()) return scope::cli::run_nodes(nodes_cmd, nodes);
  if (probes_cmd->parsed()) return scope::cli::run_probes(probes);
  if (login_cmd->parsed()) return scope::cli::run_login(login);
  if (logout_cmd->parsed()) return scope::cli::run_logout(logout_server);
  if (users_cmd.users->parsed()) return scope::cli::run_users(users_cmd, users);
  if (agent_cmd->parsed()) return scope::cli::run_agent(agent);
  if (server_cmd->parsed()) return scope::cli::run_server(server);
  return 2;
}
