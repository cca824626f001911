// The flags of every command that serves HTTP (`scope up`, `scope server`): where to listen, the
// access log and the one origin whose pages may call the API.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "auth/accounts.h"
#include "auth/nodes.h"
#include "http/router.h"
#include "http/server.h"
#include "http/standard_routes.h"
#include "server/fleet.h"
#include "server/live.h"
#include "store/store.h"

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
// What `scope up` and `scope server` serve: /health and /metrics, the OpenAPI document, users and
// tokens, the SQL API, and the nodes (scope server). One place, so that the OpenAPI contract test
// sees every route they serve.
struct ApiParts {
  http::HealthOptions health;
  store::Store* store = nullptr;
  auth::Accounts* accounts = nullptr;
  std::string admin_token;
  auth::Nodes* nodes = nullptr;     // null: no enrollment routes (scope up)
  server::Fleet* fleet = nullptr;   // the nodes' liveness and probes
  server::LiveHub* live = nullptr;  // the live stream (GET /api/v1/live)
};
// The routes on `router`; `options` authenticate with the accounts and the admin token.
void serve_api(const ApiParts& parts, http::Router& router, http::ServerOptions& options);

}  // namespace scope::cli
