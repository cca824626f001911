// The flags of every command that serves HTTP (`scope up`, `scope server`): where to listen, the
// access log and the one origin whose pages may call the API.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "auth/accounts.h"
#include "http/router.h"
#include "http/server.h"

namespace scope::cli {

struct HttpFlags {
  std::string listen = "127.0.0.1:18080";
  std::string access_log;
  std::string cors_origin;
  bool open_registration = false;
};

void add_http_flags(CLI::App* cmd, HttpFlags& flags);
// The server's options from the flags; a bad --listen or --cors-origin is a kBadInput error.
Result<http::ServerOptions> http_server_options(const HttpFlags& flags);
// Users and tokens on `router`; `options` authenticate with them and with the admin token.
void serve_accounts(auth::Accounts& accounts, const std::string& admin_token, http::Router& router,
                    http::ServerOptions& options);

}  // namespace scope::cli
