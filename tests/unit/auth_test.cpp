// Access tokens and accounts without a server: every way a JWT can be wrong (each one crafted
// here with its own HMAC, as an attacker would), refresh rotation and reuse, invites, session
// revocation, key rotation and login throttling, on a real SQLite auth database.
#include <gtest/gtest.h>
#include <sodium.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "auth/accounts.h"
#include "auth/crypto.h"
#include "auth/jwt.h"
#include "auth/nodes.h"
#include "common/clock.h"

namespace scope::auth {
namespace {

const SigningKey kKey{"k1", std::string(64, 'a')};

KeyLookup only(const SigningKey& key) {
  return [key](std::string_view kid) -> std::optional<std::string> {
    if (kid == key.kid) return key.secret;
    return std::nullopt;
  };
}

int64_t now_s() { return unix_now_ns() / 1'000'000'000; }

nlohmann::json good_claims() {
  const int64_t t = now_s();
  return {{"iss", "scope"}, {"aud", "scope-api"}, {"sub", "7"}, {"name", "ana"}, {"role", "viewer"},
          {"jti", "j1"},    {"iat", t},           {"nbf", t},   {"exp", t + 900}};
}

// A token made by hand: any header, any claims, signed with HMAC-SHA256 under `secret` (or
// with the given signature text).
std::string craft(const nlohmann::json& header, const nlohmann::json& claims,
                  const std::string& secret, std::optional<std::string> signature = {}) {
  std::string input = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
  if (!signature) {
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret.data()),
                                secret.size());
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(input.data()),
                                  input.size());
    crypto_auth_hmacsha256_final(&st, mac);
    signature = base64url_encode(std::string(reinterpret_cast<char*>(mac), sizeof mac));
  }
  return input + "." + *signature;
}

const nlohmann::json kHeader = {{"alg", "HS256"}, {"typ", "JWT"}, {"kid", "k1"}};

TEST(Jwt, SignedTokensVerify) {
  AccessClaims c;
  c.user_id = 7;
  c.user = "ana";
  c.role = "admin";
  c.jti = "abc";
  c.session = "fam";
  c.issued_at = c.not_before = now_s();
  c.expires_at = c.issued_at + kAccessTokenSeconds;
  auto v = verify_access_token(sign_access_token(kKey, c), only(kKey), now_s());
  ASSERT_TRUE(v) << v.error();
  EXPECT_EQ(v->user_id, 7);
  EXPECT_EQ(v->role, "admin");
  EXPECT_EQ(v->session, "fam");
  // The hand-made path agrees with libjwt's.
  EXPECT_TRUE(verify_access_token(craft(kHeader, good_claims(), kKey.secret), only(kKey), now_s()));
}

TEST(Jwt, EveryKindOfBadTokenIsRefusedWithItsReason) {
  const int64_t t = now_s();
  auto claims = [&](const char* k, nlohmann::json v) {
    auto c = good_claims();
    if (v.is_null())
      c.erase(k);
    else
      c[k] = v;
    return c;
  };
  auto header = [&](const char* k, nlohmann::json v) {
    auto h = kHeader;
    if (v.is_null())
      h.erase(k);
    else
      h[k] = v;
    return h;
  };
  const std::string good = craft(kHeader, good_claims(), kKey.secret);
  std::string tampered = good;
  {
    // Same signature, payload says admin.
    auto dot1 = good.find('.'), dot2 = good.rfind('.');
    tampered = good.substr(0, dot1 + 1) + base64url_encode(claims("role", "admin").dump()) +
               good.substr(dot2);
  }
  struct Case {
    const char* what;
    std::string token;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"alg none, no signature", craft(header("alg", "none"), good_claims(), "", ""), "not a JWT"},
      {"alg none with a signature", craft(header("alg", "none"), good_claims(), kKey.secret),
       "HS256"},
      {"alg None", craft(header("alg", "None"), good_claims(), kKey.secret), "HS256"},
      // RS/HS confusion: the HMAC key used as if it were an RSA public key.
      {"RS256", craft(header("alg", "RS256"), good_claims(), kKey.secret), "HS256"},
      {"HS512", craft(header("alg", "HS512"), good_claims(), kKey.secret), "HS256"},
      {"no kid", craft(header("kid", nullptr), good_claims(), kKey.secret), "kid"},
      {"unknown kid", craft(header("kid", "k2"), good_claims(), kKey.secret), "key id"},
      {"jku header", craft(header("jku", "http://evil/keys"), good_claims(), kKey.secret), "jku"},
      {"wrong key", craft(kHeader, good_claims(), std::string(64, 'b')), "signature"},
      {"tampered payload", tampered, "signature"},
      {"expired", craft(kHeader, claims("exp", t - 60), kKey.secret), "expired"},
      {"not yet valid", craft(kHeader, claims("nbf", t + 600), kKey.secret), "not valid yet"},
      {"issued in the future", craft(kHeader, claims("iat", t + 600), kKey.secret), "future"},
      {"wrong audience", craft(kHeader, claims("aud", "other"), kKey.secret), "audience"},
      {"wrong issuer", craft(kHeader, claims("iss", "evil"), kKey.secret), "issuer"},
      {"no jti", craft(kHeader, claims("jti", nullptr), kKey.secret), "missing"},
      {"no exp", craft(kHeader, claims("exp", nullptr), kKey.secret), "missing"},
      {"lives a year", craft(kHeader, claims("exp", t + 365 * 86400), kKey.secret), "longer"},
      {"unknown role", craft(kHeader, claims("role", "root"), kKey.secret), "role"},
      {"subject not a number", craft(kHeader, claims("sub", "1 OR 1"), kKey.secret), "subject"},
      {"two parts", good.substr(0, good.rfind('.')), "not a JWT"},
      {"four parts", good + ".x", "not a JWT"},
      {"huge", std::string(5000, 'a') + "." + std::string(10, 'a') + ".a", "too long"},
      {"header not JSON", base64url_encode("{{{") + ".e30.abc", "JSON"},
  };
  for (const auto& c : cases) {
    auto v = verify_access_token(c.token, only(kKey), t);
    EXPECT_FALSE(v) << c.what;
    if (!v) {
      EXPECT_NE(v.error().find(c.reason), std::string::npos) << c.what << ": " << v.error();
    }
  }
}

TEST(Crypto, PasswordsHashWithArgon2idAndVerify) {
  auto h = hash_password("correct horse battery");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0), 0u) << *h;
  EXPECT_TRUE(verify_password(*h, "correct horse battery"));
  EXPECT_FALSE(verify_password(*h, "correct horse batterx"));
  EXPECT_FALSE(verify_password("garbage", "x"));
  EXPECT_NE(random_token("p_"), random_token("p_"));
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

class AccountsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string d = std::filesystem::temp_directory_path() / "scope-auth-XXXXXX";
    dir_ = mkdtemp(d.data());
    open_accounts();
  }
  void TearDown() override {
    accounts_.reset();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }
  void open_accounts(AccountsOptions o = {}) {
    accounts_.reset();
    db_.reset();
    auto db = open_sqlite_auth_db(dir_ + "/auth.db");
    ASSERT_TRUE(db) << db.error();
    db_ = std::move(*db);
    auto a = Accounts::open(*db_, revoked_tokens_in_db(*db_), o, nullptr);
    ASSERT_TRUE(a) << a.error();
    accounts_ = std::move(*a);
    accounts_->set_admin_token("scope_admintoken");
  }
  http::Principal admin_token() { return *accounts_->authenticate("scope_admintoken"); }
  template <typename T>
  static const T& ok(const ApiResult<T>& r) {
    if (auto* e = std::get_if<ApiError>(&r)) ADD_FAILURE() << e->status << " " << e->message;
    static T empty{};
    return std::holds_alternative<T>(r) ? std::get<T>(r) : empty;
  }
  static int status(const auto& r) {
    auto* e = std::get_if<ApiError>(&r);
    return e ? e->status : 200;
  }
  void make_admin() {
    ok(accounts_->register_user("root", "0123456789ab", "", admin_token(), "test"));
  }

  std::string dir_;
  std::unique_ptr<AuthDb> db_;
  std::unique_ptr<Accounts> accounts_;
};

TEST_F(AccountsTest, TheFirstUserNeedsTheAdminTokenAndBecomesAdmin) {
  EXPECT_EQ(status(accounts_->register_user("eve", "0123456789ab", "", {}, "x")), 403);
  make_admin();
  auto t = ok(accounts_->login("root", "0123456789ab", "x"));
  auto p = accounts_->authenticate(t.access_token);
  ASSERT_TRUE(p) << p.error();
  EXPECT_EQ(p->role, http::Role::kAdmin);
  // Later users need an invite (open registration is off).
  EXPECT_EQ(status(accounts_->register_user("eve", "0123456789ab", "", {}, "x")), 403);
  auto invite = ok(accounts_->create_invite("viewer", *p, "x"));
  ok(accounts_->register_user("bob", "0123456789ab", invite, {}, "x"));
  // One use only.
  EXPECT_EQ(status(accounts_->register_user("bob2", "0123456789ab", invite, {}, "x")), 403);
  auto b = ok(accounts_->login("bob", "0123456789ab", "x"));
  EXPECT_EQ(accounts_->authenticate(b.access_token)->role, http::Role::kViewer);
  EXPECT_EQ(status(accounts_->register_user("Bad Name", "0123456789ab", "", {}, "x")), 400);
  EXPECT_EQ(status(accounts_->register_user("short", "123", "", admin_token(), "x")), 400);
}

TEST_F(AccountsTest, RefreshRotatesAndReuseRevokesTheFamily) {
  make_admin();
  auto first = ok(accounts_->login("root", "0123456789ab", "x"));
  auto second = ok(accounts_->refresh(first.refresh_token, "x"));
  EXPECT_NE(second.refresh_token, first.refresh_token);
  auto third = ok(accounts_->refresh(second.refresh_token, "x"));
  // The first token again: someone copied it. The whole family ends, the newest one too.
  EXPECT_EQ(status(accounts_->refresh(first.refresh_token, "x")), 401);
  EXPECT_EQ(status(accounts_->refresh(third.refresh_token, "x")), 401);
  // Another session of the same user is untouched.
  auto other = ok(accounts_->login("root", "0123456789ab", "x"));
  EXPECT_EQ(status(accounts_->refresh(other.refresh_token, "x")), 200);
  EXPECT_EQ(status(accounts_->refresh("scope_rt_nonsense", "x")), 401);
  EXPECT_EQ(status(accounts_->refresh("", "x")), 401);
}

TEST_F(AccountsTest, LogoutAndRevokeSessionsActAtOnce) {
  make_admin();
  auto root =
      *accounts_->authenticate(ok(accounts_->login("root", "0123456789ab", "x")).access_token);
  auto t = ok(accounts_->login("root", "0123456789ab", "x"));
  auto p = accounts_->authenticate(t.access_token);
  ASSERT_TRUE(p);
  ok(accounts_->logout(*p, "x"));
  auto after = accounts_->authenticate(t.access_token);
  EXPECT_FALSE(after);
  EXPECT_EQ(status(accounts_->refresh(t.refresh_token, "x")), 401);  // its family ended too
  // The revocation survives a restart (it is in the database).
  open_accounts();
  EXPECT_FALSE(accounts_->authenticate(t.access_token));

  auto invite = ok(accounts_->create_invite("viewer", root, "x"));
  ok(accounts_->register_user("bob", "0123456789ab", invite, {}, "x"));
  auto b1 = ok(accounts_->login("bob", "0123456789ab", "x"));
  auto b2 = ok(accounts_->login("bob", "0123456789ab", "x"));
  ok(accounts_->revoke_user_sessions("bob", root, "x"));
  EXPECT_FALSE(accounts_->authenticate(b1.access_token));
  EXPECT_FALSE(accounts_->authenticate(b2.access_token));
  EXPECT_EQ(status(accounts_->refresh(b2.refresh_token, "x")), 401);
  // A new login right away works.
  auto b3 = ok(accounts_->login("bob", "0123456789ab", "x"));
  EXPECT_TRUE(accounts_->authenticate(b3.access_token));
}

TEST_F(AccountsTest, RotatedKeysKeepVerifyingTheirTokensUntilTheyExpire) {
  make_admin();
  auto root = admin_token();
  auto before = ok(accounts_->login("root", "0123456789ab", "x"));
  auto kid = ok(accounts_->rotate_key(root, "x"));
  auto after = ok(accounts_->login("root", "0123456789ab", "x"));
  EXPECT_TRUE(accounts_->authenticate(before.access_token));
  EXPECT_TRUE(accounts_->authenticate(after.access_token));
  auto head = base64url_decode(after.access_token.substr(0, after.access_token.find('.')));
  ASSERT_TRUE(head);
  EXPECT_EQ(nlohmann::json::parse(*head)["kid"], kid);  // new tokens are signed with the new key
}

TEST_F(AccountsTest, FailedLoginsAreThrottledPerAccountAndPerAddress) {
  make_admin();
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(status(accounts_->login("root", "wrong-password", "10.0.0.1")), 401);
  // The 6th failure locks the account for 1 s, then 2 s, ...
  EXPECT_EQ(status(accounts_->login("root", "wrong-password", "10.0.0.2")), 401);
  auto locked = accounts_->login("root", "0123456789ab", "10.0.0.3");
  ASSERT_EQ(status(locked), 429);
  EXPECT_GE(std::get<ApiError>(locked).retry_after, 1);
  // The address that failed 5 times is locked for other accounts too.
  auto addr = accounts_->login("nobody", "wrong-password", "10.0.0.1");
  EXPECT_EQ(status(addr), 401);  // its 6th
  EXPECT_EQ(status(accounts_->login("nobody", "wrong-password", "10.0.0.1")), 429);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(status(accounts_->login("root", "0123456789ab", "10.0.0.3")), 200);
}

TEST_F(AccountsTest, TheAuthFileIsPrivateAndForeignFilesAreRefused) {
  struct stat st {};
  ASSERT_EQ(stat((dir_ + "/auth.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  accounts_.reset();
  db_.reset();
  chmod((dir_ + "/auth.db").c_str(), 0644);
  auto db = open_sqlite_auth_db(dir_ + "/auth.db");
  ASSERT_FALSE(db);
  EXPECT_NE(db.error().find("chmod 600"), std::string::npos);
  symlink("/etc/passwd", (dir_ + "/link.db").c_str());
  EXPECT_FALSE(open_sqlite_auth_db(dir_ + "/link.db"));
}

// Nodes: a token enrolls one key once; the ingest's key cache sees a node that enrolled after
// its last load without waiting for a refresh, and forgeries for unknown nodes or with keys
// that do not verify cost at most one load per read of the stream.
TEST_F(AccountsTest, AnEnrollmentTokenRegistersOneKeyOnce) {
  Nodes nodes(*db_, *accounts_);
  EXPECT_EQ(status(nodes.create("bad name", admin_token(), "x")), 400);
  auto created = ok(nodes.create("gpu-1", admin_token(), "x"));
  EXPECT_EQ(created.enrollment_token.rfind("scope_enroll_", 0), 0u);
  EXPECT_EQ(status(nodes.create("gpu-1", admin_token(), "x")), 409);
  auto pair = generate_node_key();
  ASSERT_TRUE(pair);
  std::string pub = base64url_encode(pair->public_key);
  EXPECT_EQ(status(nodes.enroll(created.enrollment_token, "not-a-key", "x")), 400);
  EXPECT_EQ(status(nodes.enroll("scope_enroll_guess", pub, "x")), 403);
  EXPECT_EQ(ok(nodes.enroll(created.enrollment_token, pub, "x")), "gpu-1");
  EXPECT_EQ(status(nodes.enroll(created.enrollment_token, pub, "x")), 403);
  auto got = nodes.get("gpu-1");
  ASSERT_TRUE(got && *got);
  EXPECT_TRUE((*got)->enrolled);
  EXPECT_EQ((*got)->fingerprint, key_fingerprint(pair->public_key));
  // An expired token does nothing.
  Nodes short_lived(*db_, *accounts_, std::chrono::seconds(0));
  auto expired = ok(short_lived.create("gpu-2", admin_token(), "x"));
  EXPECT_EQ(status(short_lived.enroll(expired.enrollment_token, pub, "x")), 403);
}

TEST_F(AccountsTest, TheNodeKeyCacheReloadsOnlyForEntriesReadAfterItsLastLoad) {
  using Clock = NodeKeyCache::Clock;
  Nodes nodes(*db_, *accounts_);
  NodeKeyCache cache(*db_, std::chrono::hours(1));  // no timed refresh in this test
  auto enroll = [&](const std::string& name) {
    auto pair = generate_node_key();
    auto c = ok(nodes.create(name, admin_token(), "x"));
    ok(nodes.enroll(c.enrollment_token, base64url_encode(pair->public_key), "x"));
    return pair->public_key;
  };
  std::string a = enroll("node-a");
  auto read = Clock::now();
  auto k = cache.key("node-a", read);
  ASSERT_TRUE(k && *k);
  EXPECT_EQ(**k, a);
  EXPECT_EQ(cache.loads(), 1u);
  // Unknown nodes in entries of a read that came before the last load: no load each.
  for (int i = 0; i < 1000; ++i) {
    auto miss = cache.key("ghost-" + std::to_string(i), read);
    ASSERT_TRUE(miss);
    EXPECT_FALSE(*miss);
  }
  EXPECT_EQ(cache.loads(), 1u);
  // A node that enrolled after the last load, in an entry read after that: found at once.
  std::string b = enroll("node-b");
  auto later = Clock::now();
  auto kb = cache.key("node-b", later);
  ASSERT_TRUE(kb && *kb);
  EXPECT_EQ(**kb, b);
  EXPECT_EQ(cache.loads(), 2u);
  // Deleted and enrolled again: the cached key does not verify; `stale` reads the new one.
  ok(nodes.remove("node-b", admin_token(), "x"));
  std::string b2 = enroll("node-b");
  auto again = Clock::now();
  EXPECT_EQ(**cache.key("node-b", again), b);  // cached until a refresh or a failed check
  EXPECT_EQ(**cache.key("node-b", again, true), b2);
  EXPECT_EQ(cache.loads(), 3u);
  EXPECT_EQ(**cache.key("node-b", again, true), b2);  // no second load for the same read
  EXPECT_EQ(cache.loads(), 3u);
  // Deleted: gone for entries read after the delete.
  ok(nodes.remove("node-a", admin_token(), "x"));
  auto after_delete = Clock::now();
  auto gone = cache.key("node-a", after_delete, true);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone);
}

}  // namespace
}  // namespace scope::auth
