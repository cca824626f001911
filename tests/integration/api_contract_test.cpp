// Real answers of `scope up` and `scope server` held to docs/api/openapi.json: every status a
// route answers is documented for it, and every JSON body matches the schema documented for that
// status. The calls walk the API as a client would: the first admin, login, refresh, invites,
// users, audit, SQL, nodes (server) and the errors on the way.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent/identity.h"
#include "auth/crypto.h"
#include "front_door.h"
#include "http/openapi.h"
#include "http/swagger.h"
#include "http/webui.h"
#include "tests/support/json_schema.h"

namespace scope::itest {
namespace {

using json = nlohmann::json;

class ApiContract : public FrontDoorTest {
 protected:
  ApiContract() : FrontDoorTest("contract") {}

  // One call: `pattern` names the documented path, `path` the one called.
  json call(const std::string& method, const std::string& pattern, const std::string& path,
            int expect, const json& body = nullptr, const std::string& bearer = "") {
    Headers h;
    if (!bearer.empty()) h.emplace_back("Authorization", "Bearer " + bearer);
    auto r = http_call(method, t_.url() + path, body.is_null() ? "" : body.dump(), h);
    EXPECT_EQ(r.status, expect) << method << " " << path << ": " << r.body;
    ++calls_;
    std::string m = method;
    for (char& c : m) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const json* op = nullptr;
    if (doc_["paths"].contains(pattern) && doc_["paths"][pattern].contains(m))
      op = &doc_["paths"][pattern][m];
    if (!op) {
      ADD_FAILURE() << method << " " << pattern << " is not in the document";
      return nullptr;
    }
    std::string status = std::to_string(r.status);
    if (!(*op)["responses"].contains(status)) {
      ADD_FAILURE() << method << " " << pattern << " answered " << status
                    << ", which the document does not list";
      return nullptr;
    }
    json response = (*op)["responses"][status];
    if (response.contains("$ref"))
      response = doc_.at(json::json_pointer(response["$ref"].get<std::string>().substr(1)));
    auto content = response.find("content");
    if (content == response.end()) {
      EXPECT_TRUE(r.body.empty()) << method << " " << pattern << " " << status
                                  << ": documented without a body, answered " << r.body;
      return nullptr;
    }
    if (!content->contains("application/json")) return nullptr;
    json parsed = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << method << " " << pattern << ": not JSON: " << r.body;
    const json& schema = (*content)["application/json"]["schema"];
    for (const auto& e : testsupport::schema_errors(parsed, schema, doc_))
      ADD_FAILURE() << method << " " << pattern << " " << status << ": " << e << "\n" << r.body;
    ++checked_;
    return parsed;
  }

  json doc_ = json::parse(http::openapi_document());
  int calls_ = 0, checked_ = 0;
  static constexpr const char* kPw = "correct horse battery";
};

TEST_P(ApiContract, RealAnswersMatchTheDocument) {
  const std::string admin_token = t_.token;
  call("GET", "/health", "/health", 200);
  call("GET", "/api/v1/openapi.json", "/api/v1/openapi.json", 200);
  call("GET", "/api/v1/users", "/api/v1/users", 401);
  call("POST", "/api/v1/auth/register", "/api/v1/auth/register", 403,
       {{"username", "eve"}, {"password", kPw}});
  call("POST", "/api/v1/auth/register", "/api/v1/auth/register", 400, {{"username", 5}});
  call("POST", "/api/v1/auth/register", "/api/v1/auth/register", 201,
       {{"username", "ana"}, {"password", kPw}}, admin_token);
  call("POST", "/api/v1/auth/login", "/api/v1/auth/login", 401,
       {{"username", "ana"}, {"password", "wrong password"}});
  json tokens = call("POST", "/api/v1/auth/login", "/api/v1/auth/login", 200,
                     {{"username", "ana"}, {"password", kPw}});
  ASSERT_TRUE(tokens.is_object());
  std::string access = tokens["access_token"];
  json renewed = call("POST", "/api/v1/auth/refresh", "/api/v1/auth/refresh", 200,
                      {{"refresh_token", tokens["refresh_token"]}});
  ASSERT_TRUE(renewed.is_object());
  call("POST", "/api/v1/auth/refresh", "/api/v1/auth/refresh", 401,
       {{"refresh_token", tokens["refresh_token"]}});  // reused: the family ends
  tokens = call("POST", "/api/v1/auth/login", "/api/v1/auth/login", 200,
                {{"username", "ana"}, {"password", kPw}});
  access = tokens["access_token"];
  call("GET", "/api/v1/auth/me", "/api/v1/auth/me", 200, nullptr, access);
  json invite = call("POST", "/api/v1/auth/invites", "/api/v1/auth/invites", 201,
                     {{"role", "viewer"}}, access);
  ASSERT_TRUE(invite.is_object());
  call("POST", "/api/v1/auth/register", "/api/v1/auth/register", 201,
       {{"username", "bob"}, {"password", kPw}, {"invite", invite["invite"]}});
  json bob = call("POST", "/api/v1/auth/login", "/api/v1/auth/login", 200,
                  {{"username", "bob"}, {"password", kPw}});
  ASSERT_TRUE(bob.is_object());
  call("GET", "/api/v1/users", "/api/v1/users", 403, nullptr, bob["access_token"]);
  call("GET", "/api/v1/users", "/api/v1/users", 200, nullptr, access);
  call("POST", "/api/v1/users/{name}/revoke", "/api/v1/users/bob/revoke", 204, nullptr, access);
  call("POST", "/api/v1/users/{name}/revoke", "/api/v1/users/nobody/revoke", 404, nullptr, access);
  call("POST", "/api/v1/auth/keys/rotate", "/api/v1/auth/keys/rotate", 201, nullptr, access);
  call("GET", "/api/v1/audit", "/api/v1/audit?limit=5", 200, nullptr, access);
  call("GET", "/api/v1/audit", "/api/v1/audit?limit=0", 400, nullptr, access);
  call("POST", "/api/v1/sql", "/api/v1/sql", 200,
       {{"query", "SELECT 1 AS one, 'x' AS two, NULL AS three"}}, access);
  call("POST", "/api/v1/sql", "/api/v1/sql", 400, {{"query", ""}}, access);
  call("POST", "/api/v1/sql", "/api/v1/sql", 413, {{"query", std::string(300 << 10, ' ')}}, access);
  for (const char* q :
       {"/cuda/top-kernels", "/cuda/launch-rate", "/cuda/launches", "/cuda/memory", "/cuda/copies",
        "/cuda/syncs", "/host/processes", "/host/opens", "/host/sched", "/host/syscalls",
        "/host/tcp", "/llm/tokens", "/llm/decode", "/llm/memory"}) {
    std::string path = std::string("/api/v1/query") + q;
    call("GET", path, path + "?from=1h", 200, nullptr, access);
    call("GET", path, path + "?from=5m&to=now&pid=1&comm=x%27%3B--", 200, nullptr, access);
    call("GET", path, path + "?from=2000&to=1000", 400, nullptr, access);
    call("GET", path, path + "?sql=SELECT%201", 400, nullptr, access);
    call("GET", path, path, 401);
  }
  // The Perfetto export: its errors (a trace itself is checked by perfetto_test.cpp).
  call("GET", "/api/v1/export/perfetto", "/api/v1/export/perfetto?from=2000&to=1000", 400, nullptr,
       access);
  call("GET", "/api/v1/export/perfetto", "/api/v1/export/perfetto?comm=python", 400, nullptr,
       access);
  call("GET", "/api/v1/export/perfetto", "/api/v1/export/perfetto", 401);
  // Processes (scope up runs the exec probe) give a page to follow.
  json procs = call("GET", "/api/v1/query/host/processes", "/api/v1/query/host/processes?limit=1",
                    200, nullptr, access);
  if (procs.is_object() && procs["next_cursor"].is_string())
    call("GET", "/api/v1/query/host/processes",
         "/api/v1/query/host/processes?limit=1&cursor=" + procs["next_cursor"].get<std::string>(),
         200, nullptr, access);
  call("GET", "/api/v1/query/cuda/launches/{id}", "/api/v1/query/cuda/launches/1-1-6e31", 404,
       nullptr, access);
  call("GET", "/api/v1/query/cuda/launches/{id}", "/api/v1/query/cuda/launches/x", 400, nullptr,
       access);
  call("DELETE", "/api/v1/users/{name}", "/api/v1/users/bob", 204, nullptr, access);
  call("DELETE", "/api/v1/users/{name}", "/api/v1/users/bob", 404, nullptr, access);

  if (GetParam() == "up") {
    // A fleet of one: the host itself, from its first heartbeat on.
    json nodes;
    for (int i = 0; i < 50; ++i) {
      nodes = call("GET", "/api/v1/nodes", "/api/v1/nodes", 200, nullptr, access);
      if (nodes.is_object() && !nodes["nodes"].empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(nodes.is_object() && nodes["nodes"].size() == 1) << nodes.dump();
    std::string self = nodes["nodes"][0]["name"];
    EXPECT_EQ(nodes["nodes"][0]["state"], "up");
    call("GET", "/api/v1/nodes/{name}", "/api/v1/nodes/" + self, 200, nullptr, access);
    call("GET", "/api/v1/nodes/{name}", "/api/v1/nodes/" + self + "?from=x", 400, nullptr, access);
    call("GET", "/api/v1/nodes/{name}", "/api/v1/nodes/elsewhere", 404, nullptr, access);
    call("GET", "/api/v1/nodes/{name}/probes", "/api/v1/nodes/" + self + "/probes", 200, nullptr,
         access);
    call("PUT", "/api/v1/nodes/{name}/probes", "/api/v1/nodes/" + self + "/probes", 202,
         {{"families", {"exec"}}}, access);
    call("PUT", "/api/v1/nodes/{name}/probes", "/api/v1/nodes/" + self + "/probes", 400,
         {{"families", {"exec"}}, {"comm", 1}}, access);
    call("PUT", "/api/v1/nodes/{name}/probes", "/api/v1/nodes/elsewhere/probes", 404,
         {{"families", json::array()}}, access);
    call("GET", "/api/v1/nodes/{name}/probes", "/api/v1/nodes/elsewhere/probes", 404, nullptr,
         access);
  }
  if (GetParam() == "server") {
    call("GET", "/api/v1/nodes", "/api/v1/nodes", 200, nullptr, access);
    // No agent has sent a batch: nothing to export.
    call("GET", "/api/v1/export/perfetto", "/api/v1/export/perfetto", 404, nullptr, access);
    call("POST", "/api/v1/nodes", "/api/v1/nodes", 400, {{"name", "no spaces"}}, access);
    json node = call("POST", "/api/v1/nodes", "/api/v1/nodes", 201, {{"name", "gpu-1"}}, access);
    ASSERT_TRUE(node.is_object());
    call("POST", "/api/v1/nodes", "/api/v1/nodes", 409, {{"name", "gpu-1"}}, access);
    call("GET", "/api/v1/nodes/{name}", "/api/v1/nodes/gpu-1", 200, nullptr, access);
    auto key = auth::generate_node_key();
    ASSERT_TRUE(key);
    json enroll = {{"token", node["enrollment_token"]},
                   {"public_key", auth::base64url_encode(key->public_key)}};
    call("POST", "/api/v1/nodes/enroll", "/api/v1/nodes/enroll", 200, enroll);
    call("POST", "/api/v1/nodes/enroll", "/api/v1/nodes/enroll", 403, enroll);
    call("POST", "/api/v1/nodes/enroll", "/api/v1/nodes/enroll", 400, {{"token", 1}});
    call("GET", "/api/v1/nodes", "/api/v1/nodes", 200, nullptr, access);
    call("GET", "/api/v1/nodes/{name}", "/api/v1/nodes/gpu-1", 200, nullptr, access);
    // Enrolled, never reported: a plan waits for it.
    call("GET", "/api/v1/nodes/{name}/probes", "/api/v1/nodes/gpu-1/probes", 404, nullptr, access);
    call("PUT", "/api/v1/nodes/{name}/probes", "/api/v1/nodes/gpu-1/probes", 202,
         {{"families", {"cuda", "llama"}}, {"comm", "ollama"}}, access);
    json probes = call("GET", "/api/v1/nodes/{name}/probes", "/api/v1/nodes/gpu-1/probes", 200,
                       nullptr, access);
    ASSERT_TRUE(probes.is_object());
    EXPECT_EQ(probes["pending"], true);
    call("DELETE", "/api/v1/nodes/{name}", "/api/v1/nodes/gpu-1", 204, nullptr, access);
    call("GET", "/api/v1/nodes/{name}", "/api/v1/nodes/gpu-1", 404, nullptr, access);
  }
  call("POST", "/api/v1/auth/logout", "/api/v1/auth/logout", 204, nullptr, access);
  call("GET", "/api/v1/auth/me", "/api/v1/auth/me", 401, nullptr, access);
  std::printf("  %d calls, %d JSON answers checked against their schemas\n", calls_, checked_);
  EXPECT_GT(checked_, 20);
}

// Swagger UI from scope itself (no CDN): the page, its start script pointing at the document, and
// the package's files; nothing else under /swagger/.
TEST_P(ApiContract, SwaggerUiIsServedOverTheDocument) {
  if (!http::swagger_built_in()) {
    std::printf("skipped: built without Swagger UI (npm ci --prefix web/swagger)\n");
    GTEST_SKIP() << "built without Swagger UI";
  }
  auto page = http_get(t_.url() + "/swagger/index.html");
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_NE(page.body.find("swagger-ui-bundle.js"), std::string::npos);
  EXPECT_EQ(page.body.find("http"), std::string::npos) << "the page loads something from afar";
  auto init = http_get(t_.url() + "/swagger/swagger-initializer.js");
  ASSERT_EQ(init.status, 200);
  EXPECT_NE(init.body.find("\"/api/v1/openapi.json\""), std::string::npos) << init.body;
  auto bundle = http_get(t_.url() + "/swagger/swagger-ui-bundle.js");
  ASSERT_EQ(bundle.status, 200);
  EXPECT_GT(bundle.body.size(), 500000u);
  EXPECT_NE(bundle.body.find("SwaggerUIBundle"), std::string::npos);
  auto css = http_get(t_.url() + "/swagger/swagger-ui.css");
  ASSERT_EQ(css.status, 200);
  EXPECT_NE(css.body.find(".swagger-ui"), std::string::npos);
  for (const char* path : {"/swagger/admin.token", "/swagger/..%2Fadmin.token", "/swagger/x.js"})
    EXPECT_EQ(http_get(t_.url() + path).status, 404) << path;
  call("GET", "/swagger/{file}", "/swagger/index.html", 200);
  call("GET", "/swagger/{file}", "/swagger/nothing.js", 404);
}

// The web UI from the binary, on both commands: its page at / and at its own routes (history
// mode), hashed files under /assets/, and the API's unknown paths still JSON 404s.
TEST_P(ApiContract, WebUiIsServed) {
  if (!http::webui_built_in()) {
    call("GET", "/", "/", 404);
    std::printf("skipped: built without the web UI (npm ci && npm run build in web/ui)\n");
    GTEST_SKIP() << "built without the web UI";
  }
  auto page = http_get(t_.url() + "/");
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_NE(page.body.find("<div id=\"app\">"), std::string::npos);
  EXPECT_EQ(page.body.find("http"), std::string::npos) << "the page loads something from afar";
  ASSERT_NE(page.header("content-security-policy"), nullptr);
  for (const char* path : {"/fleet", "/cuda?range=5m", "/cuda/more"})
    EXPECT_EQ(http_get(t_.url() + path).body, page.body) << path;
  auto at = page.body.find("/assets/");
  ASSERT_NE(at, std::string::npos);
  std::string asset = page.body.substr(at, page.body.find('"', at) - at);
  call("GET", "/", "/", 200);
  call("GET", "/assets/{file}", asset, 200);
  call("GET", "/assets/{file}", "/assets/nothing-0.js", 404);
  auto api = http_get(t_.url() + "/api/v1/nothing");
  EXPECT_EQ(api.status, 404);
  EXPECT_EQ(json::parse(api.body, nullptr, false)["error"]["code"], "not_found") << api.body;
}

INSTANTIATE_TEST_SUITE_P(Both, ApiContract, ::testing::Values("up", "server"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace scope::itest
