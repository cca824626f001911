// `scope probes NODE`: what a node runs, and (admin) what it should run, through the API of a
// running `scope server` or `scope up`: `--set cuda,exec --comm ollama` stores the plan, the node
// applies it within a couple of seconds, and the command waits for the node to say so.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "cli/api_client.h"

namespace scope::cli {

struct ProbesOptions {
  ApiFlags api;
  std::string node;
  std::string set;  // families, or "none"; empty: only show
  std::string comm;
  std::string cgroup;
  uint32_t pid = 0;
  double wait_s = 10;  // for the node to apply it (0: do not wait)
  bool json = false;
};

CLI::App* add_probes_command(CLI::App& app, ProbesOptions& options);
int run_probes(const ProbesOptions& options);

}  // namespace scope::cli
