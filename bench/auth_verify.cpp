// Access-token verification per second (what every authenticated request pays) and argon2id
// hashes per second (what a login pays), in process: `build/bench/auth_verify [SECONDS]`.
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "auth/crypto.h"
#include "auth/jwt.h"
#include "common/clock.h"

using namespace scope::auth;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3;
  const SigningKey key{"k1", random_hex(32)};
  AccessClaims c;
  c.user_id = 1;
  c.user = "ana";
  c.role = "viewer";
  c.jti = random_hex(16);
  c.session = random_hex(16);
  c.issued_at = c.not_before = scope::unix_now_ns() / 1'000'000'000;
  c.expires_at = c.issued_at + kAccessTokenSeconds;
  const std::string token = sign_access_token(key, c);
  KeyLookup keys = [&](std::string_view kid) -> std::optional<std::string> {
    if (kid == key.kid) return key.secret;
    return std::nullopt;
  };
  uint64_t n = 0;
  auto start = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - start).count() < seconds) {
    for (int i = 0; i < 1000; ++i)
      if (!verify_access_token(token, keys, c.issued_at)) return 1;
    n += 1000;
  }
  double verify_s = std::chrono::duration<double>(Clock::now() - start).count();
  uint64_t h = 0;
  start = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - start).count() < seconds) {
    if (!hash_password("correct horse battery")) return 1;
    ++h;
  }
  double hash_s = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("verify_per_s %.0f\nverify_us %.2f\nargon2id_ms %.1f\n", n / verify_s,
              1e6 * verify_s / n, 1e3 * hash_s / h);
}
