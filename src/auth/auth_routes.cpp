#include "auth/auth_routes.h"

#include <nlohmann/json.hpp>

namespace scope::auth {
namespace {

constexpr size_t kAuthBodyLimit = 8 << 10;

// The string field `name` of a JSON body, or "" when absent; false when present but no string.
bool string_field(const nlohmann::json& body, const char* name, std::string* out) {
  auto it = body.find(name);
  if (it == body.end()) return true;
  if (!it->is_string()) return false;
  *out = it->get<std::string>();
  return true;
}

nlohmann::json tokens_json(const TokenPair& t) {
  return {{"access_token", t.access_token},
          {"token_type", "Bearer"},
          {"expires_in", t.expires_in},
          {"refresh_token", t.refresh_token},
          {"user", user_json(t.user)}};
}

// Parses the body into the named string fields; a 400 response when it cannot.
std::optional<http::Response> fields(
    const http::Request& req, std::initializer_list<std::pair<const char*, std::string*>> wanted) {
  std::string error;
  nlohmann::json body = req.json_body(&error);
  if (!error.empty()) return http::Response::error(400, "bad_request", error);
  for (auto [name, out] : wanted)
    if (!string_field(body, name, out))
      return http::Response::error(400, "bad_request",
                                   std::string("\"") + name + "\" must be a string");
  return std::nullopt;
}

}  // namespace

http::Response error_response(const ApiError& e) {
  auto r = http::Response::error(e.status, e.code, e.message);
  if (e.retry_after > 0) r.headers.emplace_back("Retry-After", std::to_string(e.retry_after));
  return r;
}

http::Response no_content_or_error(const ApiResult<bool>& r) {
  if (auto* e = std::get_if<ApiError>(&r)) return error_response(*e);
  http::Response res;
  res.status = 204;
  return res;
}

nlohmann::json user_json(const User& u) {
  return {{"id", u.id}, {"name", u.name}, {"role", u.role}, {"created_ns", u.created_ns}};
}

void add_auth_routes(http::Router& router, Accounts& accounts) {
  using http::Access;
  using http::Request;
  using http::Response;
  // Public routes that hash passwords or take tokens: small bodies, throttled per address,
  // on the worker pool (argon2id and the database must not hold the I/O thread).
  auto& reg = router.add("POST", "/api/v1/auth/register", Access::kPublic, [&](Request& req) {
    std::string name, password, invite;
    if (auto bad = fields(req, {{"username", &name}, {"password", &password}, {"invite", &invite}}))
      return *bad;
    // The admin token may be presented here (the first user); it is optional.
    auto r = accounts.register_user(name, password, invite, req.principal, req.remote);
    if (auto* e = std::get_if<ApiError>(&r)) return error_response(*e);
    return Response::json(201, user_json(std::get<User>(r)));
  });
  reg.optional_auth = true;
  auto& login = router.add("POST", "/api/v1/auth/login", Access::kPublic, [&](Request& req) {
    std::string name, password;
    if (auto bad = fields(req, {{"username", &name}, {"password", &password}})) return *bad;
    auto r = accounts.login(name, password, req.remote);
    if (auto* e = std::get_if<ApiError>(&r)) return error_response(*e);
    return Response::json(200, tokens_json(std::get<TokenPair>(r)));
  });
  auto& refresh = router.add("POST", "/api/v1/auth/refresh", Access::kPublic, [&](Request& req) {
    std::string token;
    if (auto bad = fields(req, {{"refresh_token", &token}})) return *bad;
    auto r = accounts.refresh(token, req.remote);
    if (auto* e = std::get_if<ApiError>(&r)) return error_response(*e);
    return Response::json(200, tokens_json(std::get<TokenPair>(r)));
  });
  for (http::Route* r : {&reg, &login, &refresh}) {
    r->max_body = kAuthBodyLimit;
    r->blocking = true;
    r->throttled = true;
  }
  auto& logout = router.add("POST", "/api/v1/auth/logout", Access::kViewer, [&](Request& req) {
    return no_content_or_error(accounts.logout(req.principal, req.remote));
  });
  logout.max_body = kAuthBodyLimit;
  logout.blocking = true;
  auto& me = router.add("GET", "/api/v1/auth/me", Access::kViewer, [](Request& req) {
    const auto& p = req.principal;
    nlohmann::json j = {{"name", p.user},
                        {"role", p.role == http::Role::kAdmin ? "admin" : "viewer"}};
    if (p.user_id) j["id"] = p.user_id;
    if (p.expires_ns) j["expires_ns"] = p.expires_ns;
    return Response::json(200, j);
  });
  me.max_body = 0;

  auto& invite = router.add("POST", "/api/v1/auth/invites", Access::kAdmin, [&](Request& req) {
    std::string role = "viewer";
    if (auto bad = fields(req, {{"role", &role}})) return *bad;
    auto r = accounts.create_invite(role, req.principal, req.remote);
    if (auto* e = std::get_if<ApiError>(&r)) return error_response(*e);
    return Response::json(201, {{"invite", std::get<std::string>(r)}, {"role", role}});
  });
  auto& rotate = router.add("POST", "/api/v1/auth/keys/rotate", Access::kAdmin, [&](Request& req) {
    auto r = accounts.rotate_key(req.principal, req.remote);
    if (auto* e = std::get_if<ApiError>(&r)) return error_response(*e);
    return Response::json(201, {{"kid", std::get<std::string>(r)}});
  });
  auto& users = router.add("GET", "/api/v1/users", Access::kAdmin, [&](Request&) {
    auto r = accounts.users();
    if (!r) return Response::error(500, "internal", r.error());
    nlohmann::json list = nlohmann::json::array();
    for (const auto& u : *r) list.push_back(user_json(u));
    return Response::json(200, {{"users", list}});
  });
  auto& revoke =
      router.add("POST", "/api/v1/users/{name}/revoke", Access::kAdmin, [&](Request& req) {
        return no_content_or_error(
            accounts.revoke_user_sessions(req.params["name"], req.principal, req.remote));
      });
  auto& remove = router.add("DELETE", "/api/v1/users/{name}", Access::kAdmin, [&](Request& req) {
    return no_content_or_error(accounts.delete_user(req.params["name"], req.principal, req.remote));
  });
  auto& audit = router.add("GET", "/api/v1/audit", Access::kAdmin, [&](Request& req) {
    size_t limit = 100;
    if (auto it = req.query.find("limit"); it != req.query.end()) {
      char* end = nullptr;
      long v = std::strtol(it->second.c_str(), &end, 10);
      if (it->second.empty() || *end != '\0' || v < 1 || v > 10000)
        return Response::error(400, "bad_request", "limit: 1 to 10000");
      limit = static_cast<size_t>(v);
    }
    auto r = accounts.audit_log(limit);
    if (!r) return Response::error(500, "internal", r.error());
    return Response::json(200, {{"entries", *r}});
  });
  for (http::Route* r : {&invite, &rotate, &users, &revoke, &remove, &audit}) {
    r->max_body = kAuthBodyLimit;
    r->blocking = true;
  }
}

}  // namespace scope::auth
