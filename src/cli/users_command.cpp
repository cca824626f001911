#include "cli/users_command.h"

#include <cstdio>

namespace scope::cli {

namespace {

int list(const ApiClient& api, bool json) {
  auto j = api_answer(api.call("GET", "/api/v1/users"), 200);
  if (!j.is_object()) return 1;
  if (json) {
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  const auto& users = j.value("users", nlohmann::json::array());
  if (users.empty()) {
    std::printf(
        "no users yet: register the first (the admin) with POST /api/v1/auth/register and the "
        "admin token\n");
    return 0;
  }
  std::printf("%-6s %-24s %-8s %s\n", "ID", "USER", "ROLE", "SINCE (UTC)");
  for (const auto& u : users)
    std::printf("%-6lld %-24s %-8s %s\n", static_cast<long long>(u.value("id", int64_t{0})),
                u.value("name", "").c_str(), u.value("role", "").c_str(),
                utc_text(u.value("created_ns", int64_t{0})).c_str());
  return 0;
}

int invite(const ApiClient& api, const std::string& role) {
  auto j = api_answer(api.call("POST", "/api/v1/auth/invites", {{"role", role}}), 201);
  if (!j.is_object() || !j.contains("invite")) return 1;
  std::printf("%s\n", j["invite"].get<std::string>().c_str());
  std::fprintf(stderr,
               "scope: a one-time invite for a %s (7 days): POST /api/v1/auth/register with "
               "{\"username\", \"password\", \"invite\"}\n",
               role.c_str());
  return 0;
}

int act(const ApiClient& api, const std::string& method, const std::string& path,
        const std::string& done) {
  if (api_answer(api.call(method, path), 204).is_discarded()) return 1;
  std::printf("%s\n", done.c_str());
  return 0;
}

}  // namespace

UsersCommand add_users_command(CLI::App& app, UsersOptions& o) {
  UsersCommand c;
  c.users = app.add_subcommand("users",
                               "The users of a running 'scope up' or 'scope server' (admin): list "
                               "them (the default), invite one, end one's sessions, remove one");
  add_api_flags(c.users, o.api);
  c.users->add_flag("--json", o.json, "Print the API's JSON");
  c.users->fallthrough();
  c.invite = c.users->add_subcommand("invite", "A one-time invite to register (printed on stdout)");
  c.invite->add_option("--role", o.invite_role, "The role the invite gives")
      ->check(CLI::IsMember({"viewer", "admin"}))
      ->capture_default_str();
  c.revoke = c.users->add_subcommand("revoke", "End every session of a user at once");
  c.revoke->add_option("name", o.revoke, "The user")->required();
  c.remove = c.users->add_subcommand("rm", "Delete a user (its sessions end)");
  c.remove->add_option("name", o.remove, "The user")->required();
  c.users->footer(
      "Examples:\n"
      "  scope users --data-dir /var/lib/scope\n"
      "  scope users invite --role viewer\n"
      "  scope users revoke bob\n"
      "  scope users rm bob");
  return c;
}

int run_users(const UsersCommand& c, const UsersOptions& o) {
  auto api = api_client(o.api);
  if (!api) return report_api_error(api.failure());
  if (c.invite->parsed()) return invite(*api, o.invite_role);
  if (c.revoke->parsed())
    return act(*api, "POST", "/api/v1/users/" + o.revoke + "/revoke",
               "every session of " + o.revoke + " ended");
  if (c.remove->parsed())
    return act(*api, "DELETE", "/api/v1/users/" + o.remove, "user " + o.remove + " deleted");
  return list(*api, o.json);
}

}  // namespace scope::cli
