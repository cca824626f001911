// `scope login`: a user's access and refresh tokens for a server, kept in
// ~/.config/scope/credentials.json (0600) for the commands that call the API (`scope nodes`,
// `scope probes`, `scope users`, `scope sql` with --server and no --token). An access token about
// to expire is refreshed on the way (the refresh token rotates); `scope logout` revokes them.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "common/result.h"

namespace scope::cli {

struct LoginOptions {
  std::string server;
  std::string user;
  std::string password_file;  // else SCOPE_PASSWORD, else asked on the terminal (or one stdin line)
};

CLI::App* add_login_command(CLI::App& app, LoginOptions& options);
int run_login(const LoginOptions& options);
CLI::App* add_logout_command(CLI::App& app, std::string& server);
int run_logout(const std::string& server);

// The saved access token for `server` (refreshed first when it expires within a minute);
// not_found when there is no login for it.
Result<std::string> saved_access_token(const std::string& server);

}  // namespace scope::cli
