// The HTTP server's router and middleware in process, over real loopback sockets: routing and
// parameters, roles, throttling, the worker pool's cap, CORS, recovery from a throwing handler.
// The attacks on the real binaries are in tests/integration/http_attack_test.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "export/metrics.h"
#include "http/client.h"
#include "http/server.h"
#include "http/standard_routes.h"
#include "tests/support/raw_socket.h"

namespace scope::http {
namespace {

ClientResponse call(const Server& s, const std::string& method, const std::string& target,
                    std::vector<std::pair<std::string, std::string>> headers = {},
                    const std::string& body = "") {
  ClientRequest req;
  req.method = method;
  req.url = s.url() + target;
  req.headers = std::move(headers);
  req.body = body;
  req.timeout = std::chrono::seconds(10);
  auto r = fetch(req);
  EXPECT_TRUE(r) << r.error();
  return r ? *r : ClientResponse{};
}

std::string code_of(const ClientResponse& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_object() && j.contains("error") ? j["error"].value("code", "") : "";
}

Authenticator two_users() {
  return [](std::string_view token) -> Result<Principal> {
    if (token == "admin-secret") return Principal{Role::kAdmin, "ada", 1};
    if (token == "viewer-secret") return Principal{Role::kViewer, "vic", 2};
    return make_error(Errc::kBadInput, "unknown token");
  };
}

TEST(HttpRouter, SplitsAndDecodesPaths) {
  bool ok = false;
  EXPECT_EQ(split_path("/api/v1/nodes/", &ok), (std::vector<std::string>{"api", "v1", "nodes"}));
  EXPECT_TRUE(ok);
  EXPECT_EQ(split_path("/a%20b//c", &ok), (std::vector<std::string>{"a b", "c"}));
  EXPECT_TRUE(ok);
  for (const char* bad : {"", "nodes", "/a%2fb", "/a%00", "/a%zz", "/a%2"}) {
    split_path(bad, &ok);
    EXPECT_FALSE(ok) << bad;
  }
}

TEST(HttpRouter, MatchesParametersAndTellsOtherMethods) {
  Router r;
  r.add("GET", "/api/v1/nodes", Access::kViewer, [](Request&) { return Response{}; });
  r.add("GET", "/api/v1/nodes/{node}", Access::kViewer, [](Request&) { return Response{}; });
  r.add("DELETE", "/api/v1/nodes/{node}", Access::kAdmin, [](Request&) { return Response{}; });
  auto m = r.match("DELETE", "/api/v1/nodes/gpu-7");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->access, Access::kAdmin);
  EXPECT_EQ(m.params.at("node"), "gpu-7");
  auto other = r.match("POST", "/api/v1/nodes/gpu-7");
  EXPECT_EQ(other.route, nullptr);
  EXPECT_TRUE(other.other_method);
  auto none = r.match("GET", "/api/v1/nodes/gpu-7/extra");
  EXPECT_EQ(none.route, nullptr);
  EXPECT_FALSE(none.other_method);
}

TEST(HttpListen, ParsesAndDefaultsToLoopback) {
  EXPECT_EQ(parse_listen(":8080")->first, "127.0.0.1");
  EXPECT_EQ(parse_listen("localhost:1")->first, "127.0.0.1");
  EXPECT_EQ(parse_listen("[::1]:80")->first, "::1");
  EXPECT_EQ(parse_listen("0.0.0.0:80")->second, 80);
  for (const char* bad : {"8080", "host.example:80", ":99999", ":http", "1.2.3.4:"}) {
    auto r = parse_listen(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.code(), Errc::kBadInput);
    }
  }
}

class HttpServerTest : public ::testing::Test {
 protected:
  std::unique_ptr<Server> start(ServerOptions o) {
    o.listen = "127.0.0.1:0";
    o.metrics = &registry_;
    auto s = Server::start(std::move(o), router_);
    EXPECT_TRUE(s) << s.error();
    return s ? std::move(*s) : nullptr;
  }
  std::shared_ptr<Router> router_ = std::make_shared<Router>();
  metrics::Registry registry_;
};

TEST_F(HttpServerTest, RolesAreCheckedOnTheHeader) {
  router_->add("GET", "/api/v1/mine", Access::kViewer, [](Request& req) {
    return Response::json(200, {{"user", req.principal.user}});
  });
  router_->add("POST", "/api/v1/admin/{thing}", Access::kAdmin, [](Request& req) {
    return Response::json(200, {{"thing", req.params.at("thing")}, {"body", req.body}});
  });
  ServerOptions o;
  o.authenticate = two_users();
  auto s = start(o);
  EXPECT_EQ(call(*s, "GET", "/api/v1/mine").status, 401);
  auto bad = call(*s, "GET", "/api/v1/mine", {{"Authorization", "Bearer nope"}});
  EXPECT_EQ(bad.status, 401);
  EXPECT_NE(bad.body.find("unknown token"), std::string::npos);
  ASSERT_NE(bad.header("www-authenticate"), nullptr);
  auto vic = call(*s, "GET", "/api/v1/mine", {{"Authorization", "Bearer viewer-secret"}});
  EXPECT_EQ(vic.status, 200);
  EXPECT_EQ(nlohmann::json::parse(vic.body)["user"], "vic");
  auto forbidden =
      call(*s, "POST", "/api/v1/admin/x", {{"Authorization", "Bearer viewer-secret"}}, "{}");
  EXPECT_EQ(forbidden.status, 403);
  EXPECT_EQ(code_of(forbidden), "forbidden");
  auto ok =
      call(*s, "POST", "/api/v1/admin/x%20y", {{"Authorization", "bearer admin-secret"}}, "hello");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(nlohmann::json::parse(ok.body)["thing"], "x y");
  EXPECT_EQ(nlohmann::json::parse(ok.body)["body"], "hello");
  EXPECT_NE(registry_.render().find("scope_http_rejected_total{cause=\"forbidden\"} 1"),
            std::string::npos);
}

TEST_F(HttpServerTest, ThrottledRoutesAnswer429WithRetryAfter) {
  router_->add("POST", "/login", Access::kPublic, [](Request&) { return Response{}; }).throttled =
      true;
  router_->add("GET", "/free", Access::kPublic, [](Request&) { return Response{}; });
  ServerOptions o;
  o.limits.throttle_burst = 3;
  o.limits.throttle_per_second = 0.5;
  auto s = start(o);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(call(*s, "POST", "/login", {}, "{}").status, 200);
  auto limited = call(*s, "POST", "/login", {}, "{}");
  EXPECT_EQ(limited.status, 429);
  ASSERT_NE(limited.header("retry-after"), nullptr);
  EXPECT_GE(std::stoi(*limited.header("retry-after")), 1);
  EXPECT_EQ(call(*s, "GET", "/free").status, 200);  // other routes are not throttled
}

TEST_F(HttpServerTest, BlockingHandlersRunBesideHealthAndAreCapped) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> running{0};
  router_
      ->add("POST", "/slow", Access::kPublic,
            [&](Request&) {
              ++running;
              released.wait();
              return Response::json(200, {{"done", true}});
            })
      .blocking = true;
  add_health_and_metrics(*router_, {"test", &registry_, nullptr});
  ServerOptions o;
  o.worker_threads = 2;
  o.limits.max_blocking = 2;
  auto s = start(o);
  std::vector<std::future<ClientResponse>> slow;
  for (int i = 0; i < 2; ++i)
    slow.push_back(
        std::async(std::launch::async, [&] { return call(*s, "POST", "/slow", {}, "x"); }));
  while (running < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // Both workers are busy: /health still answers, a third blocking request is told to retry.
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(call(*s, "GET", "/health").status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  auto busy = call(*s, "POST", "/slow", {}, "x");
  EXPECT_EQ(busy.status, 503);
  EXPECT_EQ(code_of(busy), "busy");
  release.set_value();
  for (auto& f : slow) EXPECT_EQ(f.get().status, 200);
}

TEST_F(HttpServerTest, AThrowingHandlerIs500WithTheRequestId) {
  router_->add("GET", "/boom", Access::kPublic,
               [](Request&) -> Response { throw std::runtime_error("kaput"); });
  router_->add("GET", "/fine", Access::kPublic, [](Request&) { return Response{}; });
  auto s = start({});
  auto r = call(*s, "GET", "/boom", {{"X-Request-Id", "req-42"}});
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(code_of(r), "internal");
  EXPECT_NE(r.body.find("req-42"), std::string::npos);
  EXPECT_EQ(call(*s, "GET", "/fine").status, 200);
}

TEST_F(HttpServerTest, CorsOnlyForTheConfiguredOrigin) {
  router_->add("GET", "/api/v1/x", Access::kPublic, [](Request&) { return Response{}; });
  ServerOptions o;
  o.cors_origin = "https://ui.example";
  auto s = start(o);
  auto pre = call(*s, "OPTIONS", "/api/v1/x",
                  {{"Origin", "https://ui.example"}, {"Access-Control-Request-Method", "GET"}});
  EXPECT_EQ(pre.status, 204);
  ASSERT_NE(pre.header("access-control-allow-headers"), nullptr);
  auto same = call(*s, "GET", "/api/v1/x", {{"Origin", "https://ui.example"}});
  ASSERT_NE(same.header("access-control-allow-origin"), nullptr);
  EXPECT_EQ(*same.header("access-control-allow-origin"), "https://ui.example");
  auto other = call(*s, "GET", "/api/v1/x", {{"Origin", "https://evil.example"}});
  EXPECT_EQ(other.header("access-control-allow-origin"), nullptr);
  auto other_pre =
      call(*s, "OPTIONS", "/api/v1/x",
           {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "GET"}});
  EXPECT_EQ(other_pre.status, 405);
}

TEST_F(HttpServerTest, DeadlinesCloseSlowClients) {
  router_->add("POST", "/echo", Access::kPublic, [](Request& r) {
    Response res;
    res.body = r.body;
    return res;
  });
  ServerOptions o;
  o.limits.header_timeout = std::chrono::milliseconds(300);
  o.limits.request_timeout = std::chrono::milliseconds(800);
  auto s = start(o);
  // A header that never ends: closed at the header deadline.
  int partial = testnet::connect_to(s->port());
  testnet::send_all(partial, "POST /echo HTTP/1.1\r\nHost: x\r\n");
  // A body that never ends: closed at the whole-request deadline.
  int short_body = testnet::connect_to(s->port());
  testnet::send_all(short_body,
                    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nfive!");
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(testnet::closed_by_server(partial, 2000));
  auto header_closed = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(testnet::closed_by_server(short_body, 2000));
  auto body_closed = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(header_closed, std::chrono::milliseconds(700));
  EXPECT_GT(body_closed, std::chrono::milliseconds(500));
  EXPECT_LT(body_closed, std::chrono::milliseconds(1500));
  close(partial);
  close(short_body);
  // Beast closes the socket before the server's handler counts the timeout: wait for the count.
  std::string render;
  for (int i = 0; i < 100; ++i) {
    render = registry_.render();
    if (render.find("phase=\"header\"} 1") != std::string::npos &&
        render.find("phase=\"body\"} 1") != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(render.find("scope_http_timeouts_total{phase=\"header\"} 1"), std::string::npos)
      << render;
  EXPECT_NE(render.find("scope_http_timeouts_total{phase=\"body\"} 1"), std::string::npos)
      << render;
  // An idle keep-alive connection that sent nothing is closed too, but not counted as an attack.
  EXPECT_EQ(call(*s, "POST", "/echo", {}, "hi").body, "hi");
}

TEST_F(HttpServerTest, ExpectContinueIsAnsweredAfterTheChecks) {
  router_->add("POST", "/up", Access::kViewer, [](Request& r) {
    return Response::json(200, {{"bytes", r.body.size()}});
  });
  ServerOptions o;
  o.authenticate = two_users();
  auto s = start(o);
  int fd = testnet::connect_to(s->port());
  testnet::send_all(fd,
                    "POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                    "Content-Length: 3\r\n\r\n");
  EXPECT_EQ(testnet::receive(fd, 2000).substr(0, 12), "HTTP/1.1 401");
  close(fd);
  fd = testnet::connect_to(s->port());
  testnet::send_all(fd,
                    "POST /up HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer viewer-secret\r\n"
                    "Expect: 100-continue\r\nContent-Length: 3\r\n\r\n");
  EXPECT_EQ(testnet::receive(fd, 2000), "HTTP/1.1 100 Continue\r\n\r\n");
  testnet::send_all(fd, "abc");
  std::string answer = testnet::receive(fd, 2000, "}");
  EXPECT_EQ(answer.substr(0, 12), "HTTP/1.1 200");
  EXPECT_NE(answer.find("{\"bytes\":3}"), std::string::npos) << answer;
  close(fd);
}

}  // namespace
}  // namespace scope::http
