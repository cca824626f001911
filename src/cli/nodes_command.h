// `scope nodes`: the fleet's nodes on a running `scope server` (or `scope up`), through its API:
// list them, add one (its one-time enrollment token), remove one (its key is revoked).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli/api_client.h"

namespace scope::cli {

struct NodesOptions {
  ApiFlags api;
  bool json = false;
  std::string add;         // a node to add
  std::string token_file;  // with `add`: write the enrollment token here, not to stdout
  std::string remove;      // a node to remove
};

struct NodesCommand {
  CLI::App* nodes = nullptr;
  CLI::App* add = nullptr;
  CLI::App* remove = nullptr;
};

NodesCommand add_nodes_command(CLI::App& app, NodesOptions& options);
int run_nodes(const NodesCommand& command, const NodesOptions& options);

}  // namespace scope::cli
