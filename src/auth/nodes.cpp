#include "auth/nodes.h"

#include <nlohmann/json.hpp>

#include "auth/auth_routes.h"
#include "auth/crypto.h"
#include "common/clock.h"

namespace scope::auth {
namespace {

constexpr size_t kNodeBodyLimit = 4 << 10;
constexpr const char* kEnrollPrefix = "scope_enroll_";

ApiError internal(const std::string& why) { return {500, "internal", why}; }

NodeInfo node_of(const SqlRow& row) {
  // name, public_key, created_by, created_ns, enrolled_ns, enroll_expires_ns
  NodeInfo n;
  n.name = row[0].value_or("");
  if (row[1]) {
    auto raw = base64url_decode(*row[1]);
    n.enrolled = true;
    n.fingerprint = key_fingerprint(raw ? *raw : *row[1]);
  }
  n.created_by = row[2].value_or("");
  n.created_ns = as_int(row[3]);
  n.enrolled_ns = as_int(row[4]);
  n.enroll_expires_ns = n.enrolled ? 0 : as_int(row[5]);
  return n;
}

constexpr const char* kNodeColumns =
    "SELECT name, public_key, created_by, created_ns, enrolled_ns, enroll_expires_ns "
    "FROM auth_nodes";

}  // namespace

nlohmann::json node_json(const NodeInfo& n) {
  nlohmann::json j = {{"name", n.name},
                      {"enrolled", n.enrolled},
                      {"created_by", n.created_by},
                      {"created_ns", n.created_ns}};
  if (n.enrolled) {
    j["public_key_fingerprint"] = n.fingerprint;
    j["enrolled_ns"] = n.enrolled_ns;
  } else {
    j["enroll_expires_ns"] = n.enroll_expires_ns;
  }
  return j;
}

bool valid_node_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '.' || name[0] == '-') return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return false;
  return true;
}

ApiResult<NodeCreated> Nodes::create(const std::string& name, const http::Principal& caller,
                                     const std::string& remote) {
  if (!valid_node_name(name))
    return ApiError{400, "bad_request",
                    "\"name\": 1 to 64 of A-Z a-z 0-9 . _ - (not starting with . or -)"};
  NodeCreated out;
  out.name = name;
  out.enrollment_token = random_token(kEnrollPrefix);
  int64_t now = unix_now_ns();
  out.expires_ns =
      now + std::chrono::duration_cast<std::chrono::nanoseconds>(enroll_lifetime_).count();
  auto rows = db_.run(
      "INSERT INTO auth_nodes (name, enroll_hash, enroll_expires_ns, created_by, created_ns) "
      "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING RETURNING name",
      {name, sha256_hex(out.enrollment_token), out.expires_ns, caller.user, now});
  if (!rows) return internal(rows.error());
  if (rows->empty()) {
    accounts_.audit(caller.user, "node.create", name, remote, "denied", "exists");
    return ApiError{409, "conflict", "node '" + name + "' exists (delete it to enroll it again)"};
  }
  accounts_.audit(caller.user, "node.create", name, remote, "ok");
  return out;
}

Result<std::vector<NodeInfo>> Nodes::list() {
  auto rows = db_.run(std::string(kNodeColumns) + " ORDER BY name");
  if (!rows) return rows.failure();
  std::vector<NodeInfo> out;
  out.reserve(rows->size());
  for (const auto& r : *rows) out.push_back(node_of(r));
  return out;
}

Result<std::optional<NodeInfo>> Nodes::get(const std::string& name) {
  auto rows = db_.run(std::string(kNodeColumns) + " WHERE name = $1", {name});
  if (!rows) return rows.failure();
  if (rows->empty()) return std::optional<NodeInfo>();
  return std::optional<NodeInfo>(node_of(rows->front()));
}

ApiResult<bool> Nodes::remove(const std::string& name, const http::Principal& caller,
                              const std::string& remote) {
  auto rows = db_.run("DELETE FROM auth_nodes WHERE name = $1 RETURNING name", {name});
  if (!rows) return internal(rows.error());
  if (rows->empty()) return ApiError{404, "not_found", "no node '" + name + "'"};
  accounts_.audit(caller.user, "node.delete", name, remote, "ok", "key revoked");
  return true;
}

ApiResult<std::string> Nodes::enroll(const std::string& token, const std::string& public_key,
                                     const std::string& remote) {
  auto raw = base64url_decode(public_key);
  if (!raw || raw->size() != kNodePublicKeyBytes)
    return ApiError{400, "bad_request",
                    "\"public_key\" must be an Ed25519 public key (32 bytes, base64url)"};
  if (token.rfind(kEnrollPrefix, 0) != 0 || token.size() > 128) {
    accounts_.audit("-", "node.enroll", "-", remote, "denied", "malformed token");
    return ApiError{403, "forbidden", "enrollment token unknown, used or expired"};
  }
  int64_t now = unix_now_ns();
  // One statement: of two requests with the same token, one gets the row.
  auto rows = db_.run(
      "UPDATE auth_nodes SET public_key = $3, enrolled_ns = $2, enroll_hash = NULL, "
      "enroll_expires_ns = NULL WHERE enroll_hash = $1 AND enroll_expires_ns > $2 "
      "RETURNING name",
      {sha256_hex(token), now, base64url_encode(*raw)});
  if (!rows) return internal(rows.error());
  if (rows->empty() || !rows->front()[0]) {
    accounts_.audit("-", "node.enroll", "-", remote, "denied", "token unknown, used or expired");
    return ApiError{403, "forbidden", "enrollment token unknown, used or expired"};
  }
  std::string name = *rows->front()[0];
  accounts_.audit(name, "node.enroll", name, remote, "ok", key_fingerprint(*raw));
  return name;
}

void add_node_routes(http::Router& router, Nodes& nodes,
                     const std::function<void(const std::string&)>& on_removed) {
  using http::Access;
  using http::Request;
  using http::Response;
  auto& create = router.add("POST", "/api/v1/nodes", Access::kAdmin, [&](Request& req) {
    std::string error;
    nlohmann::json body = req.json_body(&error);
    if (!error.empty()) return Response::error(400, "bad_request", error);
    auto it = body.find("name");
    if (it == body.end() || !it->is_string())
      return Response::error(400, "bad_request", "\"name\" must be a string");
    auto r = nodes.create(it->get<std::string>(), req.principal, req.remote);
    if (auto* e = std::get_if<ApiError>(&r)) return error_response(*e);
    const auto& c = std::get<NodeCreated>(r);
    return Response::json(
        201,
        {{"name", c.name}, {"enrollment_token", c.enrollment_token}, {"expires_ns", c.expires_ns}});
  });
  auto& remove = router.add(
      "DELETE", "/api/v1/nodes/{name}", Access::kAdmin, [&nodes, on_removed](Request& req) {
        auto r = nodes.remove(req.params["name"], req.principal, req.remote);
        if (on_removed && std::holds_alternative<bool>(r) && std::get<bool>(r))
          on_removed(req.params["name"]);
        return no_content_or_error(r);
      });
  auto& enroll = router.add("POST", "/api/v1/nodes/enroll", Access::kPublic, [&](Request& req) {
    std::string error;
    nlohmann::json body = req.json_body(&error);
    if (!error.empty()) return Response::error(400, "bad_request", error);
    auto token = body.find("token");
    auto key = body.find("public_key");
    if (token == body.end() || !token->is_string() || key == body.end() || !key->is_string())
      return Response::error(400, "bad_request", "\"token\" and \"public_key\" must be strings");
    auto r = nodes.enroll(token->get<std::string>(), key->get<std::string>(), req.remote);
    if (auto* e = std::get_if<ApiError>(&r)) return error_response(*e);
    return Response::json(200, {{"name", std::get<std::string>(r)}});
  });
  enroll.throttled = true;
  for (http::Route* r : {&create, &remove, &enroll}) {
    r->max_body = kNodeBodyLimit;
    r->blocking = true;
  }
}

Status NodeKeyCache::reload(Clock::time_point now) {
  last_attempt_ = now;
  ++loads_;
  auto rows = db_.run("SELECT name, public_key FROM auth_nodes WHERE public_key IS NOT NULL");
  if (!rows) return rows.failure();
  std::unordered_map<std::string, std::string> keys;
  for (const auto& r : *rows) {
    if (!r[0] || !r[1]) continue;
    auto raw = base64url_decode(*r[1]);
    if (raw && raw->size() == kNodePublicKeyBytes) keys.emplace(*r[0], std::move(*raw));
  }
  keys_ = std::move(keys);
  loaded_ = true;
  loaded_at_ = now;
  return Ok{};
}

Result<std::optional<std::string>> NodeKeyCache::key(const std::string& node,
                                                     Clock::time_point read_at, bool stale) {
  std::lock_guard lock(mu_);
  auto now = Clock::now();
  if (!loaded_ || now - last_attempt_ >= refresh_) {
    // A failed refresh keeps what was known: a database restart does not stop ingest.
    if (auto st = reload(now); !st && !loaded_) return st.failure();
  }
  auto it = keys_.find(node);
  if (it != keys_.end() && !stale) return std::optional<std::string>(it->second);
  // Not known (or not this key) as of a load that began before the entry was read: it may have
  // enrolled since.
  if (loaded_at_ < read_at) {
    if (auto st = reload(now); !st) return st.failure();
    it = keys_.find(node);
  }
  if (it != keys_.end()) return std::optional<std::string>(it->second);
  return std::optional<std::string>();
}

}  // namespace scope::auth
