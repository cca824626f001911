// Users, their sessions and who a bearer token is. Login hands out a 15-minute JWT and an opaque
// refresh token (stored as its SHA-256, rotated at every use: presenting a used one revokes its
// whole family, RFC 9700 4.14). Logout and an admin's "revoke sessions" act at once: the access
// token's jti, or every token of the user issued before now, is refused from that request on, on
// this process and, through the shared revocation list (Redis under `scope server`), on the others
// within a poll.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "auth/auth_db.h"
#include "auth/jwt.h"
#include "common/result.h"
#include "export/metrics.h"
#include "http/message.h"

namespace scope::auth {

// Where revoked access-token ids are kept until those tokens would have expired anyway.
class RevokedTokenStore {
 public:
  virtual ~RevokedTokenStore() = default;
  virtual Status add(const std::string& jti, int64_t expires_at) = 0;
  // The ids still revoked at `now` (Unix seconds); forgets older ones.
  virtual Result<std::vector<std::string>> live(int64_t now) = 0;
};
// In the auth database (scope up).
std::unique_ptr<RevokedTokenStore> revoked_tokens_in_db(AuthDb& db);

struct AccountsOptions {
  bool open_registration = false;  // without an invite, new users become viewers
  std::chrono::seconds refresh_lifetime{14 * 24 * 3600};
  std::chrono::seconds invite_lifetime{7 * 24 * 3600};
  std::chrono::seconds key_rotation{30 * 24 * 3600};  // a new signing key this often
  // Login throttling: from the `free_failures`+1th failure in a row, an account (or an address)
  // waits 1 s, doubling per failure, at most `max_lockout`.
  int free_failures = 5;
  std::chrono::seconds max_lockout{900};
  int max_concurrent_hashes = 4;  // argon2id takes 19 MiB and ~40 ms each: more wait with 503
};

struct User {
  int64_t id = 0;
  std::string name;
  std::string role;
  int64_t created_ns = 0;
};

struct TokenPair {
  std::string access_token;
  int64_t expires_in = 0;
  std::string refresh_token;
  User user;
};

// An outcome for the API: a status and a message, or a value.
struct ApiError {
  int status;
  std::string code;
  std::string message;
  int retry_after = 0;  // seconds, for 429
};
template <typename T>
using ApiResult = std::variant<T, ApiError>;

class Accounts {
 public:
  static Result<std::unique_ptr<Accounts>> open(AuthDb& db,
                                                std::unique_ptr<RevokedTokenStore> revoked,
                                                AccountsOptions options,
                                                metrics::Registry* registry);
  ~Accounts();

  // For the HTTP server: the principal of a bearer token (an access JWT or the admin token).
  Result<http::Principal> authenticate(std::string_view bearer) const;
  // The admin token of `scope up`/`scope server` (DATA_DIR/admin.token): a credential of the
  // admin role for the CLI; it also bootstraps the first user.
  void set_admin_token(std::string token);

  ApiResult<User> register_user(const std::string& name, const std::string& password,
                                const std::string& invite, const http::Principal& caller,
                                const std::string& remote);
  ApiResult<TokenPair> login(const std::string& name, const std::string& password,
                             const std::string& remote);
  ApiResult<TokenPair> refresh(const std::string& refresh_token, const std::string& remote);
  ApiResult<bool> logout(const http::Principal& caller, const std::string& remote);
  ApiResult<std::string> create_invite(const std::string& role, const http::Principal& caller,
                                       const std::string& remote);
  ApiResult<bool> revoke_user_sessions(const std::string& name, const http::Principal& caller,
                                       const std::string& remote);
  ApiResult<bool> delete_user(const std::string& name, const http::Principal& caller,
                              const std::string& remote);
  ApiResult<std::string> rotate_key(const http::Principal& caller, const std::string& remote);
  Result<std::vector<User>> users();
  Result<std::vector<std::map<std::string, std::string>>> audit_log(size_t limit);
  // Records one row of the audit table (also used for node actions).
  void audit(const std::string& actor, const std::string& action, const std::string& target,
             const std::string& remote, const std::string& outcome, const std::string& detail = "");

  // Re-reads keys, revocations and cut-offs that other processes may have written.
  Status reload();

 private:
  Accounts(AuthDb& db, std::unique_ptr<RevokedTokenStore> revoked, AccountsOptions options,
           metrics::Registry* registry);
  Result<TokenPair> issue(const User& user, const std::string& family);
  Result<std::optional<User>> find_user(const std::string& name);
  Result<std::optional<User>> find_user(int64_t id);
  Status ensure_signing_key();
  Status revoke_family(const std::string& family);
  // 0 when `key` may try now, else seconds to wait.
  int throttled(const std::string& key);
  void note_failure(const std::string& key);
  void note_success(const std::string& key);
  void poll_loop();

  AuthDb& db_;
  std::unique_ptr<RevokedTokenStore> revoked_store_;
  AccountsOptions options_;

  mutable std::shared_mutex mu_;                                  // guards the caches below
  std::vector<std::pair<std::string, std::string>> verify_keys_;  // kid, secret
  std::optional<SigningKey> signing_key_;
  std::unordered_set<std::string> revoked_jtis_;
  std::unordered_map<int64_t, int64_t> cutoffs_;  // user id -> tokens issued before (s) refused
  std::string admin_token_;
  // Tokens whose signature and claims were checked, by their exact bytes: a repeat skips the
  // HMAC and the JSON (12 µs -> well under 1). Expiry, revocation and cut-offs are still checked
  // on every request; the cache is emptied when the trusted keys change.
  mutable std::mutex verified_mu_;
  mutable std::unordered_map<std::string, AccessClaims> verified_;

  struct Attempts {
    int failures = 0;
    int64_t until_ns = 0;
  };
  std::mutex throttle_mu_;
  std::unordered_map<std::string, Attempts> attempts_;
  std::atomic<int> hashing_{0};

  metrics::Counter* logins_ok_ = nullptr;
  metrics::Counter* logins_failed_ = nullptr;
  metrics::Counter* logins_throttled_ = nullptr;
  metrics::Counter* refresh_reuse_ = nullptr;

  std::mutex poll_mu_;
  std::condition_variable poll_cv_;
  bool stopping_ = false;
  std::thread poller_;
};

}  // namespace scope::auth
