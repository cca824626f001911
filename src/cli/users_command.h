// `scope users`: the users of a running `scope up` or `scope server`, through its API with the
// admin token: list them (the default), invite one, end a user's sessions, remove one.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli/api_client.h"

namespace scope::cli {

struct UsersOptions {
  ApiFlags api;
  bool json = false;
  std::string invite_role = "viewer";
  std::string revoke;  // a user whose sessions end
  std::string remove;  // a user to delete
};

struct UsersCommand {
  CLI::App* users = nullptr;
  CLI::App* invite = nullptr;
  CLI::App* revoke = nullptr;
  CLI::App* remove = nullptr;
};

UsersCommand add_users_command(CLI::App& app, UsersOptions& options);
int run_users(const UsersCommand& command, const UsersOptions& options);

}  // namespace scope::cli
