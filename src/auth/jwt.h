// Access tokens: JWTs signed with HS256 only, the key chosen by `kid`. Everything about a token
// is checked before and after libjwt looks at it: the header must name exactly HS256 and a known
// kid (so `none`, RS/HS confusion and unknown keys never reach a verifier), then the signature,
// then iss, aud, exp, nbf, iat, jti, sub and role.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace scope::auth {

inline constexpr std::string_view kJwtIssuer = "scope";
inline constexpr std::string_view kJwtAudience = "scope-api";
inline constexpr int64_t kAccessTokenSeconds = 15 * 60;
inline constexpr size_t kMaxJwtBytes = 4096;

struct SigningKey {
  std::string kid;
  std::string secret;  // 32 random bytes
};

struct AccessClaims {
  int64_t user_id = 0;  // sub
  std::string user;     // name
  std::string role;     // "admin" or "viewer"
  std::string jti;
  std::string session;    // sid: the refresh-token family this token was issued in
  int64_t issued_at = 0;  // iat, Unix seconds
  int64_t not_before = 0;
  int64_t expires_at = 0;
};

std::string sign_access_token(const SigningKey& key, const AccessClaims& claims);

// The key for a kid, or nullopt for one not (or no longer) trusted.
using KeyLookup = std::function<std::optional<std::string>(std::string_view kid)>;

// The claims of a valid token at `now` (Unix seconds), or a kBadInput error saying why not.
Result<AccessClaims> verify_access_token(std::string_view token, const KeyLookup& keys,
                                         int64_t now);

}  // namespace scope::auth
