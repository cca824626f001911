// The web UI's routes over a real loopback server: index.html and hashed assets with their
// caching, gzip and security headers, history-mode pages, and /api/* never answered with the UI.
#include "http/webui.h"

#include <gtest/gtest.h>

#include "http/client.h"
#include "http/server.h"

namespace scope::http {
namespace {

TEST(WebUi, ContentTypesAndAcceptEncoding) {
  EXPECT_EQ(webui_content_type("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(webui_content_type("assets/index-1a2b.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(webui_content_type("assets/index-1a2b.css"), "text/css; charset=utf-8");
  EXPECT_EQ(webui_content_type("assets/x.svg"), "image/svg+xml");
  EXPECT_EQ(webui_content_type("js"), "application/octet-stream");
  EXPECT_TRUE(accepts_gzip("gzip"));
  EXPECT_TRUE(accepts_gzip("gzip, deflate, br"));
  EXPECT_TRUE(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
  EXPECT_TRUE(accepts_gzip("*"));
  EXPECT_FALSE(accepts_gzip(""));
  EXPECT_FALSE(accepts_gzip("identity"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0"));
  EXPECT_FALSE(accepts_gzip("gzip; q=0.000, br"));
  EXPECT_FALSE(accepts_gzip("x-gzip-not"));
}

class WebUiRoutes : public ::testing::Test {
 protected:
  void SetUp() override {
    auto router = std::make_shared<Router>();
    router->add("GET", "/api/v1/thing", Access::kPublic, [](Request&) {
      return Response::json(200, {{"ok", true}});
    });
    add_webui_routes(*router);
    ServerOptions o;
    o.listen = "127.0.0.1:0";
    auto s = Server::start(o, router);
    ASSERT_TRUE(s) << s.error();
    server_ = std::move(*s);
  }
  ClientResponse get(const std::string& target, const std::string& method = "GET",
                     std::vector<std::pair<std::string, std::string>> headers = {}) {
    ClientRequest req;
    req.method = method;
    req.url = server_->url() + target;
    req.headers = std::move(headers);
    req.timeout = std::chrono::seconds(10);
    auto r = fetch(req);
    EXPECT_TRUE(r) << r.error();
    return r ? *r : ClientResponse{};
  }
  std::unique_ptr<Server> server_;
};

TEST_F(WebUiRoutes, ApiPathsNeverFallBackToThePage) {
  EXPECT_EQ(get("/api/v1/thing").status, 200);
  for (const char* path : {"/api/v1/nope", "/api", "/api/v1/thing/deeper", "/swagger/x.js",
                           "/assets/none-123.js", "/favicon.ico"}) {
    auto r = get(path);
    EXPECT_EQ(r.status, 404) << path;
    ASSERT_NE(r.header("content-type"), nullptr) << path;
    EXPECT_EQ(*r.header("content-type"), "application/json") << path;
  }
  // Another method on a UI path is no page either.
  EXPECT_EQ(get("/fleet", "POST").status, 404);
}

TEST_F(WebUiRoutes, PagesAreTheIndexWithItsHeaders) {
  if (!webui_built_in()) {
    auto r = get("/");
    EXPECT_EQ(r.status, 404);
    EXPECT_NE(r.body.find("web/ui"), std::string::npos) << r.body;
    GTEST_SKIP() << "built without the web UI (scripts/build.sh builds web/ui)";
  }
  auto index = get("/");
  ASSERT_EQ(index.status, 200) << index.body;
  EXPECT_NE(index.body.find("<div id=\"app\">"), std::string::npos);
  EXPECT_EQ(*index.header("cache-control"), "no-cache");
  EXPECT_EQ(*index.header("content-type"), "text/html; charset=utf-8");
  ASSERT_NE(index.header("content-security-policy"), nullptr);
  EXPECT_NE(index.header("content-security-policy")->find("script-src 'self';"), std::string::npos);
  EXPECT_EQ(*index.header("x-frame-options"), "DENY");
  for (const char* page : {"/fleet", "/cuda", "/cuda/deeper/still"}) {
    auto r = get(page);
    EXPECT_EQ(r.status, 200) << page;
    EXPECT_EQ(r.body, index.body) << page;
  }
  // The entry script named by index.html: immutable, gzip only when accepted.
  auto at = index.body.find("/assets/");
  ASSERT_NE(at, std::string::npos);
  std::string asset = index.body.substr(at, index.body.find('"', at) - at);
  auto plain = get(asset);
  ASSERT_EQ(plain.status, 200) << asset;
  EXPECT_EQ(*plain.header("cache-control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(*plain.header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(plain.header("content-encoding"), nullptr);
  auto gz = get(asset, "GET", {{"Accept-Encoding", "gzip, deflate"}});
  ASSERT_EQ(gz.status, 200);
  ASSERT_NE(gz.header("content-encoding"), nullptr);
  EXPECT_EQ(*gz.header("content-encoding"), "gzip");
  EXPECT_LT(gz.body.size(), plain.body.size());
  EXPECT_EQ(static_cast<unsigned char>(gz.body[0]), 0x1f);  // gzip's magic
  EXPECT_EQ(*gz.header("vary"), "Accept-Encoding");
}

}  // namespace
}  // namespace scope::http
