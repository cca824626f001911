#include "cli/http_flags.h"

#include "auth/auth_routes.h"
#include "http/openapi.h"
#include "http/swagger.h"
#include "http/webui.h"
#include "server/export_route.h"
#include "server/queries.h"
#include "server/sql_api.h"

namespace scope::cli {

void add_http_flags(CLI::App* cmd, HttpFlags& flags) {
  cmd->add_option("--listen", flags.listen,
                  "HTTP address HOST:PORT (':PORT' is loopback; 0.0.0.0:PORT every address)")
      ->envname("SCOPE_LISTEN")
      ->capture_default_str();
  cmd->add_option("--access-log", flags.access_log,
                  "Append one line per HTTP request to this file ('-': stderr)")
      ->envname("SCOPE_ACCESS_LOG");
  cmd->add_option("--cors-origin", flags.cors_origin,
                  "The one origin (https://host[:port]) whose web pages may call the API")
      ->envname("SCOPE_CORS_ORIGIN");
  cmd->add_flag("--open-registration", flags.open_registration,
                "Anyone who reaches the API may register as a viewer (default: by an admin's "
                "invite only)")
      ->envname("SCOPE_OPEN_REGISTRATION");
}

void serve_api(const ApiParts& parts, http::Router& router, http::ServerOptions& options) {
  http::add_health_and_metrics(router, parts.health);
  options.metrics = parts.health.metrics;
  http::add_openapi_route(router);
  http::add_swagger_routes(router);
  http::add_webui_routes(router);
  server::add_sql_routes(router, *parts.store);
  server::add_query_routes(router, *parts.store);
  server::add_export_routes(router, *parts.store);
  parts.accounts->set_admin_token(parts.admin_token);
  auth::add_auth_routes(router, *parts.accounts);
  if (parts.fleet) server::add_fleet_routes(router, *parts.fleet, parts.nodes);
  if (parts.nodes) {
    std::function<void(const std::string&)> forget;
    if (parts.fleet)
      forget = [&registry = parts.fleet->registry()](const std::string& node) {
        (void)registry.forget(node);
      };
    auth::add_node_routes(router, *parts.nodes, forget);
  }
  if (parts.live) server::add_live_route(router, *parts.live);
  options.authenticate = [&accounts = *parts.accounts](std::string_view bearer) {
    return accounts.authenticate(bearer);
  };
}

Result<http::ServerOptions> http_server_options(const HttpFlags& flags) {
  auto addr = http::parse_listen(flags.listen);
  if (!addr) return addr.failure();
  const std::string& origin = flags.cors_origin;
  if (!origin.empty() && ((origin.rfind("http://", 0) != 0 && origin.rfind("https://", 0) != 0) ||
                          origin.back() == '/' || origin.find('*') != std::string::npos))
    return make_error(Errc::kBadInput,
                      "--cors-origin '" + origin +
                          "' must be one origin such as https://scope.example.com (no path, no *)");
  http::ServerOptions o;
  o.listen = flags.listen;
  o.access_log = flags.access_log;
  o.cors_origin = flags.cors_origin;
  return o;
}

}  // namespace scope::cli
