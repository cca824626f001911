// Users and tokens through the real `scope up` and `scope server`: the first admin, invites,
// roles on the API, refresh rotation and reuse, logout, tokens an attacker makes or changes,
// password guessing, and (server) a revocation seen by every server of the fleet.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "auth/crypto.h"
#include "front_door.h"

namespace scope::itest {
namespace {

using json = nlohmann::json;

class AuthApi : public FrontDoorTest {
 protected:
  AuthApi() : FrontDoorTest("auth") {}
  http::ClientResponse post(const std::string& path, const json& body,
                            const std::string& bearer = "") {
    Headers h;
    if (!bearer.empty()) h.emplace_back("Authorization", "Bearer " + bearer);
    return http_post(t_.url() + path, body.dump(), h);
  }
  http::ClientResponse get(const std::string& path, const std::string& bearer) {
    return http_get(t_.url() + path, {{"Authorization", "Bearer " + bearer}});
  }
  json login(const std::string& user, const std::string& password) {
    auto r = post("/api/v1/auth/login", {{"username", user}, {"password", password}});
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false);
  }
  // The first user (admin, through the admin token) and a viewer by invite.
  void make_users() {
    auto first = post("/api/v1/auth/register", {{"username", "ana"}, {"password", kPw}}, t_.token);
    ASSERT_EQ(first.status, 201) << first.body;
    std::string admin = login("ana", kPw)["access_token"];
    auto invite = post("/api/v1/auth/invites", {{"role", "viewer"}}, admin);
    ASSERT_EQ(invite.status, 201) << invite.body;
    auto bob = post(
        "/api/v1/auth/register",
        {{"username", "bob"}, {"password", kPw}, {"invite", json::parse(invite.body)["invite"]}});
    ASSERT_EQ(bob.status, 201) << bob.body;
  }
  static constexpr const char* kPw = "correct horse battery";
};

TEST_P(AuthApi, RegisterLoginRolesRefreshLogout) {
  // Nobody may take the empty server's admin seat without the admin token.
  auto stolen = post("/api/v1/auth/register", {{"username", "eve"}, {"password", kPw}});
  EXPECT_EQ(stolen.status, 403) << stolen.body;
  // Nor register without an invite later.
  make_users();
  EXPECT_EQ(post("/api/v1/auth/register", {{"username", "eve"}, {"password", kPw}}).status, 403);

  json ana = login("ana", kPw);
  json bob = login("bob", kPw);
  EXPECT_EQ(ana["expires_in"], 900);
  auto me = get("/api/v1/auth/me", bob["access_token"]);
  ASSERT_EQ(me.status, 200);
  EXPECT_EQ(json::parse(me.body)["role"], "viewer");
  // The SQL API is the admin's: a viewer gets 403, the admin's JWT works like the admin token.
  const json q = {{"query", "SELECT 1 AS one"}};
  EXPECT_EQ(post("/api/v1/sql", q, bob["access_token"]).status, 403);
  auto sql = post("/api/v1/sql", q, ana["access_token"]);
  EXPECT_EQ(sql.status, 200) << sql.body;
  // The accounts are not in the store the SQL API reads.
  for (const char* table : {"auth_users", "auth_refresh_tokens", "auth_keys"}) {
    auto leak = post("/api/v1/sql", {{"query", std::string("SELECT * FROM ") + table}},
                     ana["access_token"]);
    EXPECT_EQ(leak.status, 400) << table << ": " << leak.body;
  }

  // Refresh: a new pair each time; the old refresh token again ends the session.
  auto r1 = post("/api/v1/auth/refresh", {{"refresh_token", bob["refresh_token"]}});
  ASSERT_EQ(r1.status, 200) << r1.body;
  json bob2 = json::parse(r1.body);
  EXPECT_NE(bob2["refresh_token"], bob["refresh_token"]);
  auto reuse = post("/api/v1/auth/refresh", {{"refresh_token", bob["refresh_token"]}});
  EXPECT_EQ(reuse.status, 401);
  EXPECT_NE(reuse.body.find("already used"), std::string::npos) << reuse.body;
  EXPECT_EQ(post("/api/v1/auth/refresh", {{"refresh_token", bob2["refresh_token"]}}).status, 401);

  // Logout: that access token is refused on the next request.
  EXPECT_EQ(post("/api/v1/auth/logout", json::object(), ana["access_token"]).status, 204);
  EXPECT_EQ(get("/api/v1/auth/me", ana["access_token"]).status, 401);

  // An admin ends all of a user's sessions at once.
  json bob3 = login("bob", kPw);
  std::string admin = login("ana", kPw)["access_token"];
  EXPECT_EQ(post("/api/v1/users/bob/revoke", json::object(), admin).status, 204);
  EXPECT_EQ(get("/api/v1/auth/me", bob3["access_token"]).status, 401);
  EXPECT_EQ(post("/api/v1/auth/refresh", {{"refresh_token", bob3["refresh_token"]}}).status, 401);

  // What happened is in the audit log.
  auto audit = get("/api/v1/audit?limit=100", admin);
  ASSERT_EQ(audit.status, 200) << audit.body;
  std::string actions;
  const json entries = json::parse(audit.body)["entries"];
  for (const auto& e : entries) actions += e["action"].get<std::string>() + ",";
  for (const char* a :
       {"register", "login", "invite", "refresh_reuse", "logout", "revoke_sessions"})
    EXPECT_NE(actions.find(a), std::string::npos) << a << " not in " << actions;
  EXPECT_EQ(get("/api/v1/audit", bob3["access_token"]).status, 401);
}

TEST_P(AuthApi, ForgedAndTamperedTokensAre401) {
  make_users();
  std::string bob = login("bob", kPw)["access_token"];
  const auto dot1 = bob.find('.'), dot2 = bob.rfind('.');
  json claims = json::parse(*auth::base64url_decode(bob.substr(dot1 + 1, dot2 - dot1 - 1)));
  json header = json::parse(*auth::base64url_decode(bob.substr(0, dot1)));
  claims["role"] = "admin";
  const std::string admin_claims = auth::base64url_encode(claims.dump());
  json none = header;
  none["alg"] = "none";
  json rs = header;
  rs["alg"] = "RS256";
  const std::vector<std::pair<std::string, std::string>> forged = {
      {"viewer made admin, old signature",
       bob.substr(0, dot1 + 1) + admin_claims + bob.substr(dot2)},
      {"alg none", auth::base64url_encode(none.dump()) + "." + admin_claims + "."},
      {"alg RS256", auth::base64url_encode(rs.dump()) + "." + admin_claims + bob.substr(dot2)},
      {"signature cut off", bob.substr(0, dot2 + 1)},
      {"random", auth::random_token("")},
      {"admin token with one byte changed",
       t_.token.substr(0, t_.token.size() - 1) + (t_.token.back() == '0' ? "1" : "0")},
  };
  for (const auto& [what, token] : forged) {
    auto r = post("/api/v1/sql", {{"query", "SELECT 1"}}, token);
    EXPECT_EQ(r.status, 401) << what << ": " << r.body;
    EXPECT_NE(r.header("www-authenticate"), nullptr) << what;
  }
  EXPECT_EQ(get("/api/v1/auth/me", bob).status, 200);  // the real one still works
}

TEST_P(AuthApi, PasswordGuessingIsThrottled) {
  make_users();
  int unauthorized = 0, throttled = 0;
  for (int i = 0; i < 30; ++i) {
    auto r = post("/api/v1/auth/login",
                  {{"username", "ana"}, {"password", "guess-" + std::to_string(i)}});
    if (r.status == 401) ++unauthorized;
    if (r.status == 429) {
      ++throttled;
      EXPECT_NE(r.header("retry-after"), nullptr);
    }
  }
  // 5 free failures and the 6th (which sets the lockout); every other guess is refused unchecked.
  EXPECT_EQ(unauthorized, 6);
  EXPECT_EQ(throttled, 24);
  // Even the right password waits out the lockout.
  EXPECT_EQ(post("/api/v1/auth/login", {{"username", "ana"}, {"password", kPw}}).status, 429);
}

TEST_P(AuthApi, MalformedBodiesGetClearErrors) {
  struct Case {
    const char* body;
    int status;
  } cases[] = {{"", 400},
               {"not json", 400},
               {"[1,2]", 400},
               {"{\"username\": 5, \"password\": \"x\"}", 400},
               {"{\"username\": \"ana\"}", 401}};
  for (const auto& c : cases) {
    auto r = http_post(t_.url() + "/api/v1/auth/login", c.body);
    EXPECT_EQ(r.status, c.status) << c.body << ": " << r.body;
    EXPECT_NE(r.body.find("\"error\""), std::string::npos) << r.body;
  }
  std::string big(9000, 'a');
  EXPECT_EQ(post("/api/v1/auth/login", {{"username", big}, {"password", "x"}}).status, 413);
}

// `scope users` on the same API with the admin token (from SCOPE_TOKEN, not argv): list, invite
// (the invite on stdout, usable at once), end a user's sessions, delete.
TEST_P(AuthApi, TheUsersCommandListsInvitesRevokesAndDeletes) {
  make_users();
  auto users = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {bpftest::kScope, "users", "--server", t_.url()};
    argv.insert(argv.end(), args.begin(), args.end());
    return bpftest::run(argv, 30, {{"SCOPE_TOKEN", t_.token}});
  };
  auto listed = users({});
  ASSERT_EQ(listed.status, 0) << listed.err;
  auto lines = bpftest::lines_of(listed.out);
  ASSERT_EQ(lines.size(), 3u) << listed.out;
  EXPECT_NE(lines[1].find(" ana "), std::string::npos) << listed.out;
  EXPECT_NE(lines[1].find(" admin "), std::string::npos) << listed.out;
  EXPECT_NE(lines[2].find(" bob "), std::string::npos) << listed.out;
  EXPECT_NE(lines[2].find(" viewer "), std::string::npos) << listed.out;

  auto invited = users({"invite", "--role", "viewer"});
  ASSERT_EQ(invited.status, 0) << invited.err;
  std::string invite = bpftest::lines_of(invited.out).at(0);
  EXPECT_EQ(
      post("/api/v1/auth/register", {{"username", "cy"}, {"password", kPw}, {"invite", invite}})
          .status,
      201);
  EXPECT_EQ(users({"invite", "--role", "root"}).status, 2);

  json bob = login("bob", kPw);
  auto revoked = users({"revoke", "bob"});
  EXPECT_EQ(revoked.status, 0) << revoked.err;
  EXPECT_EQ(get("/api/v1/auth/me", bob["access_token"]).status, 401);
  EXPECT_EQ(users({"rm", "cy"}).status, 0);
  auto again = users({"rm", "cy"});
  EXPECT_EQ(again.status, 1);
  EXPECT_FALSE(again.err.empty());
  auto as_json = users({"--json"});
  auto j = json::parse(as_json.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << as_json.out;
  EXPECT_EQ(j["users"].size(), 2u);
  // A viewer's token is refused with the server's reason.
  auto viewer = bpftest::run({bpftest::kScope, "users", "--server", t_.url()}, 30,
                             {{"SCOPE_TOKEN", login("bob", kPw)["access_token"]}});
  EXPECT_EQ(viewer.status, 1);
  EXPECT_NE(viewer.err.find("scope: "), std::string::npos) << viewer.err;
}

INSTANTIATE_TEST_SUITE_P(Both, AuthApi, ::testing::Values("up", "server"),
                         [](const auto& info) { return info.param; });

// Two servers of one fleet: a token from one works on the other (shared keys), and a logout on
// one is refused by the other within its next poll of Redis.
TEST(AuthFleet, ARevocationReachesEveryServer) {
  SCOPE_FLEET_REQUIRE();
  FrontDoor a;
  a.start("server", "authfleet");
  auto& fleet = *a.fleet;
  auto& second = fleet.start({bpftest::kScope, "server", "--redis", fleettest::redis_url(),
                              "--postgres", fleettest::pg_url(), "--postgres-schema",
                              fleet.schema(), "--stream", fleet.stream(), "--consumer", "server-2",
                              "--listen", "127.0.0.1:0", "--data-dir", fleet.data_dir("server-2")});
  const int b_port = fleettest::metrics_port(second);
  ASSERT_GT(b_port, 0) << second.err();
  const std::string b = "http://127.0.0.1:" + std::to_string(b_port);
  auto reg = http_post(a.url() + "/api/v1/auth/register",
                       json{{"username", "ana"}, {"password", "correct horse battery"}}.dump(),
                       {{"Authorization", "Bearer " + a.token}});
  ASSERT_EQ(reg.status, 201) << reg.body;
  auto login = http_post(b + "/api/v1/auth/login",
                         json{{"username", "ana"}, {"password", "correct horse battery"}}.dump());
  ASSERT_EQ(login.status, 200) << login.body;
  std::string token = json::parse(login.body)["access_token"];
  const Headers auth = {{"Authorization", "Bearer " + token}};
  EXPECT_EQ(http_get(a.url() + "/api/v1/auth/me", auth).status, 200);
  EXPECT_EQ(http_post(a.url() + "/api/v1/auth/logout", "{}", auth).status, 204);
  auto t0 = std::chrono::steady_clock::now();
  int status = 200;
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5)) {
    status = http_get(b + "/api/v1/auth/me", auth).status;
    if (status == 401) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(status, 401);
  EXPECT_LT(took, 2.0);
  std::printf("revocation reached the second server in %.2f s\n", took);
}

}  // namespace
}  // namespace scope::itest
