#include "auth/revoked_in_redis.h"

#include <mutex>

namespace scope::auth {
namespace {

class RedisRevokedTokens final : public RevokedTokenStore {
 public:
  RedisRevokedTokens(transport::RedisEndpoint endpoint, std::string key)
      : redis_(std::move(endpoint), 2000), key_(std::move(key)) {}

  Status add(const std::string& jti, int64_t expires_at) override {
    std::lock_guard lock(mu_);
    const std::string score = std::to_string(expires_at);
    auto r = redis_.command({"ZADD", key_, score, jti});
    if (!r) return r.failure();
    return Ok{};
  }

  Result<std::vector<std::string>> live(int64_t now) override {
    std::lock_guard lock(mu_);
    const std::string before = "(" + std::to_string(now);
    auto replies = redis_.pipeline({{"ZREMRANGEBYSCORE", key_, "-inf", before},
                                    {"ZRANGEBYSCORE", key_, std::to_string(now), "+inf"}});
    if (!replies) return replies.failure();
    const auto& members = (*replies)[1];
    if (members.type == transport::RedisValue::kError)
      return make_error(Errc::kFailed, "redis: " + members.str);
    std::vector<std::string> out;
    for (const auto& m : members.elements) out.push_back(m.str);
    return out;
  }

 private:
  std::mutex mu_;
  transport::RedisClient redis_;
  std::string key_;
};

}  // namespace

std::unique_ptr<RevokedTokenStore> revoked_tokens_in_redis(transport::RedisEndpoint endpoint,
                                                           const std::string& prefix) {
  return std::make_unique<RedisRevokedTokens>(std::move(endpoint), prefix + ":auth:revoked");
}

}  // namespace scope::auth
