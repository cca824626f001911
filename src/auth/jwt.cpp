#include "auth/jwt.h"

#include <jwt.h>

#include <cerrno>
#include <memory>
#include <nlohmann/json.hpp>

#include "auth/crypto.h"

namespace scope::auth {
namespace {

// Clocks of servers that share keys drift a little.
constexpr int64_t kLeewaySeconds = 5;

struct JwtFree {
  void operator()(jwt_t* j) const { jwt_free(j); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtFree>;

Error invalid(std::string why) { return make_error(Errc::kBadInput, std::move(why)); }

bool is_base64url(std::string_view s) {
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  return !s.empty();
}

}  // namespace

std::string sign_access_token(const SigningKey& key, const AccessClaims& c) {
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) return {};
  JwtPtr j(raw);
  jwt_set_alg(j.get(), JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(key.secret.data()),
              static_cast<int>(key.secret.size()));
  jwt_add_header(j.get(), "kid", key.kid.c_str());
  jwt_add_grant(j.get(), "iss", std::string(kJwtIssuer).c_str());
  jwt_add_grant(j.get(), "aud", std::string(kJwtAudience).c_str());
  jwt_add_grant(j.get(), "sub", std::to_string(c.user_id).c_str());
  jwt_add_grant(j.get(), "name", c.user.c_str());
  jwt_add_grant(j.get(), "role", c.role.c_str());
  jwt_add_grant(j.get(), "jti", c.jti.c_str());
  jwt_add_grant(j.get(), "sid", c.session.c_str());
  jwt_add_grant_int(j.get(), "iat", c.issued_at);
  jwt_add_grant_int(j.get(), "nbf", c.not_before);
  jwt_add_grant_int(j.get(), "exp", c.expires_at);
  char* out = jwt_encode_str(j.get());
  if (!out) return {};
  std::string token(out);
  free(out);  // NOLINT(cppcoreguidelines-no-malloc): libjwt's allocation
  return token;
}

Result<AccessClaims> verify_access_token(std::string_view token, const KeyLookup& keys,
                                         int64_t now) {
  if (token.size() > kMaxJwtBytes) return invalid("the token is too long");
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return invalid("not a JWT");
  const auto head64 = token.substr(0, dot1);
  const auto body64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const auto sig64 = token.substr(dot2 + 1);
  if (!is_base64url(head64) || !is_base64url(body64) || !is_base64url(sig64))
    return invalid("not a JWT (a part is empty or not base64url; an unsigned token is refused)");
  auto head_text = base64url_decode(head64);
  if (!head_text) return invalid("the header is not base64url");
  auto head = nlohmann::json::parse(*head_text, nullptr, false);
  if (!head.is_object()) return invalid("the header is not a JSON object");
  for (const auto& [name, value] : head.items())
    if (name != "alg" && name != "typ" && name != "kid")
      return invalid("the header has '" + name + "', which scope does not accept");
  if (!head.contains("alg") || head["alg"] != "HS256")
    return invalid("the algorithm must be HS256");
  if (head.contains("typ") && head["typ"] != "JWT") return invalid("typ must be JWT");
  if (!head.contains("kid") || !head["kid"].is_string()) return invalid("no kid");
  auto secret = keys(head["kid"].get<std::string>());
  if (!secret) return invalid("unknown or retired key id");

  const std::string terminated(token);
  jwt_t* raw = nullptr;
  if (jwt_decode(&raw, terminated.c_str(), reinterpret_cast<const unsigned char*>(secret->data()),
                 static_cast<int>(secret->size())) != 0 ||
      !raw)
    return invalid("bad signature");
  JwtPtr j(raw);
  if (jwt_get_alg(j.get()) != JWT_ALG_HS256) return invalid("the algorithm must be HS256");

  auto text = [&](const char* name) -> std::optional<std::string> {
    const char* v = jwt_get_grant(j.get(), name);
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
  auto number = [&](const char* name) -> std::optional<int64_t> {
    errno = 0;
    long v = jwt_get_grant_int(j.get(), name);
    if (errno != 0) return std::nullopt;
    return static_cast<int64_t>(v);
  };
  if (text("iss") != kJwtIssuer) return invalid("wrong issuer");
  if (text("aud") != kJwtAudience) return invalid("wrong audience");
  AccessClaims c;
  auto exp = number("exp"), nbf = number("nbf"), iat = number("iat");
  auto sub = text("sub"), name = text("name"), role = text("role"), jti = text("jti");
  if (!exp || !nbf || !iat || !sub || !name || !role || !jti)
    return invalid("a required claim is missing (exp, nbf, iat, sub, name, role, jti)");
  if (*exp <= now - kLeewaySeconds) return invalid("expired");
  if (*nbf > now + kLeewaySeconds) return invalid("not valid yet");
  if (*iat > now + kLeewaySeconds) return invalid("issued in the future");
  if (*exp - *iat > kAccessTokenSeconds) return invalid("lives longer than scope issues");
  if (*role != "admin" && *role != "viewer") return invalid("unknown role");
  char* end = nullptr;
  c.user_id = std::strtoll(sub->c_str(), &end, 10);
  if (sub->empty() || *end != '\0' || c.user_id <= 0) return invalid("bad subject");
  c.user = *name;
  c.role = *role;
  c.jti = *jti;
  c.session = text("sid").value_or("");
  c.issued_at = *iat;
  c.not_before = *nbf;
  c.expires_at = *exp;
  return c;
}

}  // namespace scope::auth
