#include "auth/accounts.h"

#include <algorithm>
#include <cctype>

#include "auth/crypto.h"
#include "common/clock.h"

namespace scope::auth {
namespace {

constexpr int64_t kNs = 1'000'000'000;
constexpr size_t kMaxPasswordBytes = 1024;
constexpr size_t kMinPasswordBytes = 10;
constexpr auto kPollInterval = std::chrono::seconds(1);
constexpr size_t kMaxThrottleEntries = 100000;
constexpr size_t kMaxVerifiedTokens = 4096;
// The admin token's principal (the CLI); user id 0 is no user's.
constexpr std::string_view kAdminTokenUser = "admin-token";

int64_t now_s() { return unix_now_ns() / kNs; }

ApiError api_error(int status, std::string code, std::string message, int retry_after = 0) {
  return {status, std::move(code), std::move(message), retry_after};
}
ApiError internal(const Error& e) { return api_error(500, "internal", e.message); }

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) ||
           std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

class DbRevokedTokens final : public RevokedTokenStore {
 public:
  explicit DbRevokedTokens(AuthDb& db) : db_(db) {}
  Status add(const std::string& jti, int64_t expires_at) override {
    auto r = db_.run(
        "INSERT INTO auth_revoked_jti (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO "
        "NOTHING",
        {jti, expires_at});
    return r ? Status(Ok{}) : Status(r.failure());
  }
  Result<std::vector<std::string>> live(int64_t now) override {
    if (auto r = db_.run("DELETE FROM auth_revoked_jti WHERE expires_at < $1", {now}); !r)
      return r.failure();
    auto rows = db_.run("SELECT jti FROM auth_revoked_jti");
    if (!rows) return rows.failure();
    std::vector<std::string> out;
    for (auto& row : *rows) out.push_back(row[0].value_or(""));
    return out;
  }

 private:
  AuthDb& db_;
};

User user_from(const SqlRow& row) {  // id, name, role, created_ns
  return {as_int(row[0]), row[1].value_or(""), row[2].value_or(""), as_int(row[3])};
}

}  // namespace

std::unique_ptr<RevokedTokenStore> revoked_tokens_in_db(AuthDb& db) {
  return std::make_unique<DbRevokedTokens>(db);
}

Accounts::Accounts(AuthDb& db, std::unique_ptr<RevokedTokenStore> revoked, AccountsOptions options,
                   metrics::Registry* registry)
    : db_(db), revoked_store_(std::move(revoked)), options_(options) {
  if (registry) {
    const std::string help = "Logins by outcome";
    logins_ok_ = &registry->counter("scope_auth_logins_total", help, {{"outcome", "ok"}});
    logins_failed_ = &registry->counter("scope_auth_logins_total", help, {{"outcome", "failed"}});
    logins_throttled_ =
        &registry->counter("scope_auth_logins_total", help, {{"outcome", "throttled"}});
    refresh_reuse_ = &registry->counter(
        "scope_auth_refresh_reuse_total",
        "Rotated refresh tokens presented again (their whole family is revoked)");
  }
}

Result<std::unique_ptr<Accounts>> Accounts::open(AuthDb& db,
                                                 std::unique_ptr<RevokedTokenStore> revoked,
                                                 AccountsOptions options,
                                                 metrics::Registry* registry) {
  if (auto st = crypto_init(); !st) return st.failure();
  std::unique_ptr<Accounts> a(new Accounts(db, std::move(revoked), options, registry));
  if (auto st = a->ensure_signing_key(); !st) return st.failure();
  if (auto st = a->reload(); !st) return st.failure();
  (void)dummy_password_hash();  // computed now, not on the first unknown-user login
  a->poller_ = std::thread([p = a.get()] { p->poll_loop(); });
  return a;
}

Accounts::~Accounts() {
  {
    std::lock_guard lock(poll_mu_);
    stopping_ = true;
  }
  poll_cv_.notify_all();
  if (poller_.joinable()) poller_.join();
}

void Accounts::poll_loop() {
  std::unique_lock lock(poll_mu_);
  while (!poll_cv_.wait_for(lock, kPollInterval, [this] { return stopping_; })) {
    lock.unlock();
    (void)reload();  // a database or Redis that is away keeps the last lists
    lock.lock();
  }
}

void Accounts::set_admin_token(std::string token) {
  std::unique_lock lock(mu_);
  admin_token_ = std::move(token);
}

Status Accounts::ensure_signing_key() {
  auto newest = db_.run("SELECT created_ns FROM auth_keys ORDER BY created_ns DESC LIMIT 1");
  if (!newest) return newest.failure();
  const int64_t now = unix_now_ns();
  if (!newest->empty() && now - as_int((*newest)[0][0]) < options_.key_rotation.count() * kNs)
    return Ok{};
  auto r = db_.run("INSERT INTO auth_keys (kid, secret, created_ns) VALUES ($1, $2, $3)",
                   {random_hex(8), random_hex(32), now});
  return r ? Status(Ok{}) : Status(r.failure());
}

Status Accounts::reload() {
  const int64_t now = unix_now_ns();
  auto keys = db_.run("SELECT kid, secret, created_ns FROM auth_keys ORDER BY created_ns");
  if (!keys) return keys.failure();
  // A key verifies while it signs, and for one token lifetime after its successor took over.
  std::vector<std::pair<std::string, std::string>> verify;
  std::optional<SigningKey> signing;
  for (size_t i = 0; i < keys->size(); ++i) {
    const auto& row = (*keys)[i];
    auto secret = row[1].value_or("");
    const bool newest = i + 1 == keys->size();
    const int64_t successor = newest ? 0 : as_int((*keys)[i + 1][2]);
    if (newest || now - successor < (kAccessTokenSeconds + 60) * kNs)
      verify.emplace_back(row[0].value_or(""), secret);
    if (newest) signing = SigningKey{row[0].value_or(""), secret};
  }
  auto cut = db_.run("SELECT id, tokens_after FROM auth_users WHERE tokens_after > 0");
  if (!cut) return cut.failure();
  std::unordered_map<int64_t, int64_t> cutoffs;
  for (auto& row : *cut) cutoffs[as_int(row[0])] = as_int(row[1]);
  auto jtis = revoked_store_->live(now / kNs);
  std::unique_lock lock(mu_);
  if (verify != verify_keys_) {
    std::lock_guard cache_lock(verified_mu_);
    verified_.clear();
  }
  verify_keys_ = std::move(verify);
  signing_key_ = std::move(signing);
  cutoffs_ = std::move(cutoffs);
  if (jtis) {
    // Merged, not replaced: a revocation made here a moment ago may not be readable yet.
    for (auto& j : *jtis) revoked_jtis_.insert(std::move(j));
  }
  return jtis ? Status(Ok{}) : Status(jtis.failure());
}

Result<http::Principal> Accounts::authenticate(std::string_view bearer) const {
  std::shared_lock lock(mu_);
  if (!admin_token_.empty() && bearer.size() == admin_token_.size()) {
    if (equal_constant_time(bearer, admin_token_)) {
      http::Principal admin;
      admin.role = http::Role::kAdmin;
      admin.user = kAdminTokenUser;
      return admin;
    }
  }
  const int64_t now = now_s();
  std::optional<AccessClaims> cached;
  {
    std::lock_guard cache_lock(verified_mu_);
    if (auto it = verified_.find(std::string(bearer)); it != verified_.end()) cached = it->second;
  }
  if (cached && cached->expires_at <= now) cached.reset();  // verify again: says "expired"
  Result<AccessClaims> claims =
      cached ? Result<AccessClaims>(*cached)
             : verify_access_token(
                   bearer,
                   [this](std::string_view kid) -> std::optional<std::string> {
                     for (const auto& [k, secret] : verify_keys_)
                       if (k == kid) return secret;
                     return std::nullopt;
                   },
                   now);
  if (!claims) return claims.failure();
  if (!cached) {
    std::lock_guard cache_lock(verified_mu_);
    if (verified_.size() >= kMaxVerifiedTokens) verified_.clear();
    verified_.emplace(std::string(bearer), *claims);
  }
  if (revoked_jtis_.count(claims->jti)) return make_error(Errc::kBadInput, "revoked");
  if (auto it = cutoffs_.find(claims->user_id);
      it != cutoffs_.end() && claims->issued_at < it->second)
    return make_error(Errc::kBadInput, "revoked");
  http::Principal p;
  p.role = claims->role == "admin" ? http::Role::kAdmin : http::Role::kViewer;
  p.user = claims->user;
  p.user_id = claims->user_id;
  p.jti = claims->jti;
  p.session = claims->session;
  p.expires_ns = claims->expires_at * kNs;
  return p;
}

Result<std::optional<User>> Accounts::find_user(const std::string& name) {
  auto rows = db_.run("SELECT id, name, role, created_ns FROM auth_users WHERE name = $1", {name});
  if (!rows) return rows.failure();
  if (rows->empty()) return std::optional<User>();
  return std::optional<User>(user_from((*rows)[0]));
}

Result<std::optional<User>> Accounts::find_user(int64_t id) {
  auto rows = db_.run("SELECT id, name, role, created_ns FROM auth_users WHERE id = $1", {id});
  if (!rows) return rows.failure();
  if (rows->empty()) return std::optional<User>();
  return std::optional<User>(user_from((*rows)[0]));
}

void Accounts::audit(const std::string& actor, const std::string& action, const std::string& target,
                     const std::string& remote, const std::string& outcome,
                     const std::string& detail) {
  (void)db_.run(
      "INSERT INTO auth_audit (ts_ns, actor, action, target, remote, outcome, detail) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7)",
      {unix_now_ns(), actor, action, target, remote, outcome, detail});
}

Result<std::vector<std::map<std::string, std::string>>> Accounts::audit_log(size_t limit) {
  auto rows = db_.run(
      "SELECT ts_ns, actor, action, target, remote, outcome, detail FROM auth_audit "
      "ORDER BY ts_ns DESC LIMIT $1",
      {static_cast<int64_t>(limit)});
  if (!rows) return rows.failure();
  static const char* names[] = {"ts_ns",  "actor",   "action", "target",
                                "remote", "outcome", "detail"};
  std::vector<std::map<std::string, std::string>> out;
  for (auto& row : *rows) {
    std::map<std::string, std::string> entry;
    for (size_t i = 0; i < row.size(); ++i) entry[names[i]] = row[i].value_or("");
    out.push_back(std::move(entry));
  }
  return out;
}

Result<std::vector<User>> Accounts::users() {
  auto rows = db_.run("SELECT id, name, role, created_ns FROM auth_users ORDER BY id");
  if (!rows) return rows.failure();
  std::vector<User> out;
  for (auto& row : *rows) out.push_back(user_from(row));
  return out;
}

int Accounts::throttled(const std::string& key) {
  std::lock_guard lock(throttle_mu_);
  auto it = attempts_.find(key);
  if (it == attempts_.end()) return 0;
  const int64_t wait = it->second.until_ns - unix_now_ns();
  return wait > 0 ? static_cast<int>((wait + kNs - 1) / kNs) : 0;
}

void Accounts::note_failure(const std::string& key) {
  std::lock_guard lock(throttle_mu_);
  if (attempts_.size() >= kMaxThrottleEntries) {
    // Under a spray of names: forget those whose lockout is over, then the oldest half.
    const int64_t now = unix_now_ns();
    std::erase_if(attempts_, [now](const auto& kv) { return kv.second.until_ns < now; });
    if (attempts_.size() >= kMaxThrottleEntries) attempts_.clear();
  }
  auto& a = attempts_[key];
  ++a.failures;
  if (a.failures > options_.free_failures) {
    const int over = std::min(a.failures - options_.free_failures - 1, 20);
    const int64_t wait_s = std::min<int64_t>(int64_t{1} << over, options_.max_lockout.count());
    a.until_ns = unix_now_ns() + wait_s * kNs;
  }
}

void Accounts::note_success(const std::string& key) {
  std::lock_guard lock(throttle_mu_);
  attempts_.erase(key);
}

namespace {
// Caps concurrent argon2id work: each takes 19 MiB and a core for ~40 ms.
class HashSlot {
 public:
  HashSlot(std::atomic<int>& n, int cap) : n_(n), ok_(n.fetch_add(1) < cap) {}
  ~HashSlot() { n_.fetch_sub(1); }
  explicit operator bool() const { return ok_; }

 private:
  std::atomic<int>& n_;
  bool ok_;
};
}  // namespace

ApiResult<User> Accounts::register_user(const std::string& name, const std::string& password,
                                        const std::string& invite, const http::Principal& caller,
                                        const std::string& remote) {
  if (!valid_name(name))
    return api_error(400, "bad_input", "username: 1-64 characters of a-z, 0-9, '.', '_' and '-'");
  if (password.size() < kMinPasswordBytes || password.size() > kMaxPasswordBytes)
    return api_error(400, "bad_input", "password: 10 to 1024 bytes");
  auto count = db_.run("SELECT count(*) FROM auth_users");
  if (!count) return internal(count.failure());
  const bool first = as_int((*count)[0][0]) == 0;
  std::string role = "viewer";
  std::string invite_hash;
  if (first) {
    // The first user is the admin: only the holder of the admin token may create it.
    if (caller.role != http::Role::kAdmin || caller.user != kAdminTokenUser) {
      audit("-", "register", name, remote, "denied", "first user without the admin token");
      return api_error(403, "forbidden",
                       "the first user becomes admin: register it with the admin token "
                       "(Authorization: Bearer $(cat DATA_DIR/admin.token))");
    }
    role = "admin";
  } else if (!invite.empty()) {
    invite_hash = sha256_hex(invite);
    auto taken =
        db_.run("DELETE FROM auth_invites WHERE token_hash = $1 AND expires_ns > $2 RETURNING role",
                {invite_hash, unix_now_ns()});
    if (!taken) return internal(taken.failure());
    if (taken->empty()) {
      audit("-", "register", name, remote, "denied", "invite unknown, used or expired");
      return api_error(403, "forbidden", "the invite is unknown, used or expired");
    }
    role = (*taken)[0][0].value_or("viewer");
  } else if (!options_.open_registration) {
    audit("-", "register", name, remote, "denied", "no invite");
    return api_error(403, "forbidden", "registration needs an invite from an admin");
  }
  HashSlot slot(hashing_, options_.max_concurrent_hashes);
  if (!slot) return api_error(503, "busy", "too many password checks at once; retry", 1);
  auto hash = hash_password(password);
  if (!hash) return internal(hash.failure());
  const int64_t now = unix_now_ns();
  auto inserted = db_.run(
      "INSERT INTO auth_users (id, name, password_hash, role, created_ns) "
      "SELECT COALESCE(MAX(id), 0) + 1, $1, $2, $3, $4 FROM auth_users "
      "RETURNING id, name, role, created_ns",
      {name, *hash, role, now});
  if (!inserted) {
    if (inserted.code() == Errc::kBadInput) {
      if (!invite_hash.empty())  // give the invite back: the name was taken, not the invite
        (void)db_.run(
            "INSERT INTO auth_invites (token_hash, role, created_by, expires_ns) "
            "VALUES ($1, $2, 'returned', $3)",
            {invite_hash, role, now + options_.invite_lifetime.count() * kNs});
      return api_error(409, "conflict", "the username '" + name + "' is taken");
    }
    return internal(inserted.failure());
  }
  User user = user_from((*inserted)[0]);
  audit(caller.user.empty() ? "-" : caller.user, "register", name, remote, "ok", "role " + role);
  return user;
}

Result<TokenPair> Accounts::issue(const User& user, const std::string& family) {
  std::optional<SigningKey> key;
  int64_t cutoff = 0;
  {
    std::shared_lock lock(mu_);
    key = signing_key_;
    if (auto it = cutoffs_.find(user.id); it != cutoffs_.end()) cutoff = it->second;
  }
  if (!key) return make_error(Errc::kInternal, "no signing key");
  AccessClaims c;
  c.user_id = user.id;
  c.user = user.name;
  c.role = user.role;
  c.session = family;
  c.jti = random_hex(16);
  // Never before the user's cut-off: sessions revoked this second stay revoked, new ones work.
  c.issued_at = std::max(now_s(), cutoff);
  c.not_before = c.issued_at;
  c.expires_at = c.issued_at + kAccessTokenSeconds;
  TokenPair pair;
  pair.access_token = sign_access_token(*key, c);
  if (pair.access_token.empty()) return make_error(Errc::kInternal, "could not sign a token");
  pair.expires_in = kAccessTokenSeconds;
  pair.refresh_token = random_token("scope_rt_");
  pair.user = user;
  const int64_t now = unix_now_ns();
  auto r = db_.run(
      "INSERT INTO auth_refresh_tokens (token_hash, family, user_id, state, created_ns, "
      "expires_ns) VALUES ($1, $2, $3, 'active', $4, $5)",
      {sha256_hex(pair.refresh_token), family, user.id, now,
       now + options_.refresh_lifetime.count() * kNs});
  if (!r) return r.failure();
  return pair;
}

ApiResult<TokenPair> Accounts::login(const std::string& name, const std::string& password,
                                     const std::string& remote) {
  const std::string account_key = "user:" + name.substr(0, 64);
  const std::string address_key = "addr:" + remote;
  if (int wait = std::max(throttled(account_key), throttled(address_key)); wait > 0) {
    if (logins_throttled_) logins_throttled_->add();
    return api_error(429, "throttled",
                     "too many failed logins; retry in " + std::to_string(wait) + " s", wait);
  }
  if (password.size() > kMaxPasswordBytes)
    return api_error(400, "bad_input", "password: at most 1024 bytes");
  HashSlot slot(hashing_, options_.max_concurrent_hashes);
  if (!slot) return api_error(503, "busy", "too many password checks at once; retry", 1);
  auto rows = valid_name(name)
                  ? db_.run(
                        "SELECT id, name, role, created_ns, password_hash FROM auth_users "
                        "WHERE name = $1",
                        {name})
                  : Result<std::vector<SqlRow>>(std::vector<SqlRow>{});
  if (!rows) return internal(rows.failure());
  // The same argon2id work whether or not the user exists: timing does not tell names.
  const std::string& hash = rows->empty() ? dummy_password_hash() : *(*rows)[0][4];
  const bool ok = verify_password(hash, password) && !rows->empty();
  if (!ok) {
    note_failure(account_key);
    note_failure(address_key);
    if (logins_failed_) logins_failed_->add();
    audit("-", "login", name.substr(0, 64), remote, "failed");
    return api_error(401, "unauthorized", "wrong username or password");
  }
  note_success(account_key);
  note_success(address_key);
  User user = user_from((*rows)[0]);
  auto pair = issue(user, random_hex(16));
  if (!pair) return internal(pair.failure());
  if (logins_ok_) logins_ok_->add();
  audit(user.name, "login", user.name, remote, "ok");
  return std::move(*pair);
}

Status Accounts::revoke_family(const std::string& family) {
  auto r = db_.run("UPDATE auth_refresh_tokens SET state = 'revoked' WHERE family = $1", {family});
  return r ? Status(Ok{}) : Status(r.failure());
}

ApiResult<TokenPair> Accounts::refresh(const std::string& token, const std::string& remote) {
  if (token.size() > 256 || token.rfind("scope_rt_", 0) != 0)
    return api_error(401, "unauthorized", "not a refresh token");
  const std::string hash = sha256_hex(token);
  const int64_t now = unix_now_ns();
  // One statement: two requests racing with the same token cannot both rotate it.
  auto used = db_.run(
      "UPDATE auth_refresh_tokens SET state = 'used' WHERE token_hash = $1 AND state = 'active' "
      "AND expires_ns > $2 RETURNING family, user_id",
      {hash, now});
  if (!used) return internal(used.failure());
  if (used->empty()) {
    auto known = db_.run(
        "SELECT family, user_id, state FROM auth_refresh_tokens WHERE token_hash = $1", {hash});
    if (!known) return internal(known.failure());
    if (!known->empty() && (*known)[0][2] == "used") {
      // A rotated token came back: someone holds a copy. End the whole session.
      const std::string family = (*known)[0][0].value_or("");
      (void)revoke_family(family);
      if (refresh_reuse_) refresh_reuse_->add();
      audit("-", "refresh_reuse", std::to_string(as_int((*known)[0][1])), remote, "revoked",
            "family " + family);
      return api_error(401, "unauthorized",
                       "this refresh token was already used: the session is revoked");
    }
    return api_error(401, "unauthorized", "unknown, expired or revoked refresh token");
  }
  const std::string family = (*used)[0][0].value_or("");
  auto user = find_user(as_int((*used)[0][1]));
  if (!user) return internal(user.failure());
  if (!*user) return api_error(401, "unauthorized", "the user no longer exists");
  auto pair = issue(**user, family);
  if (!pair) return internal(pair.failure());
  return std::move(*pair);
}

ApiResult<bool> Accounts::logout(const http::Principal& caller, const std::string& remote) {
  if (caller.jti.empty())
    return api_error(400, "bad_input", "log out with an access token, not the admin token");
  {
    std::unique_lock lock(mu_);
    revoked_jtis_.insert(caller.jti);
  }
  auto st = revoked_store_->add(caller.jti, caller.expires_ns / kNs);
  if (!caller.session.empty()) (void)revoke_family(caller.session);
  audit(caller.user, "logout", caller.user, remote, st ? "ok" : "partial",
        st ? "" : "revocation not shared: " + st.error());
  if (!st) return internal(st.failure());
  return true;
}

ApiResult<std::string> Accounts::create_invite(const std::string& role,
                                               const http::Principal& caller,
                                               const std::string& remote) {
  if (role != "viewer" && role != "admin")
    return api_error(400, "bad_input", "role: 'viewer' or 'admin'");
  std::string invite = random_token("scope_inv_");
  auto r = db_.run(
      "INSERT INTO auth_invites (token_hash, role, created_by, expires_ns) VALUES ($1, $2, $3, "
      "$4)",
      {sha256_hex(invite), role, caller.user,
       unix_now_ns() + options_.invite_lifetime.count() * kNs});
  if (!r) return internal(r.failure());
  audit(caller.user, "invite", role, remote, "ok");
  return invite;
}

ApiResult<bool> Accounts::revoke_user_sessions(const std::string& name,
                                               const http::Principal& caller,
                                               const std::string& remote) {
  auto user = find_user(name);
  if (!user) return internal(user.failure());
  if (!*user) return api_error(404, "not_found", "no user '" + name + "'");
  // Every access token issued up to this second is refused from now on.
  const int64_t cutoff = now_s() + 1;
  auto r = db_.run("UPDATE auth_users SET tokens_after = $1 WHERE id = $2", {cutoff, (*user)->id});
  if (!r) return internal(r.failure());
  (void)db_.run("UPDATE auth_refresh_tokens SET state = 'revoked' WHERE user_id = $1",
                {(*user)->id});
  {
    std::unique_lock lock(mu_);
    cutoffs_[(*user)->id] = cutoff;
  }
  audit(caller.user, "revoke_sessions", name, remote, "ok");
  return true;
}

ApiResult<bool> Accounts::delete_user(const std::string& name, const http::Principal& caller,
                                      const std::string& remote) {
  if (name == caller.user) return api_error(400, "bad_input", "an admin cannot delete itself");
  auto revoked = revoke_user_sessions(name, caller, remote);
  if (std::holds_alternative<ApiError>(revoked)) return std::get<ApiError>(revoked);
  auto r = db_.run("DELETE FROM auth_users WHERE name = $1", {name});
  if (!r) return internal(r.failure());
  audit(caller.user, "delete_user", name, remote, "ok");
  return true;
}

ApiResult<std::string> Accounts::rotate_key(const http::Principal& caller,
                                            const std::string& remote) {
  std::string kid = random_hex(8);
  auto r = db_.run("INSERT INTO auth_keys (kid, secret, created_ns) VALUES ($1, $2, $3)",
                   {kid, random_hex(32), unix_now_ns()});
  if (!r) return internal(r.failure());
  if (auto st = reload(); !st) return internal(st.failure());
  audit(caller.user, "rotate_key", kid, remote, "ok");
  return kid;
}

}  // namespace scope::auth
