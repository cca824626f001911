// Revoked access-token ids in Redis, for `scope server`: every server of a fleet reads the same
// sorted set (member: jti, score: when the token expires), so a logout on one is refused by all
// within their next poll (1 s), and the set forgets tokens that expired anyway.
#pragma once

#include <memory>
#include <string>

#include "auth/accounts.h"
#include "transport/redis_stream.h"

namespace scope::auth {

// Key: `<prefix>:auth:revoked`.
std::unique_ptr<RevokedTokenStore> revoked_tokens_in_redis(transport::RedisEndpoint endpoint,
                                                           const std::string& prefix);

}  // namespace scope::auth
