// A running `scope up` or `scope server` ("up" / "server") for the tests of the HTTP front door:
// its port, pid and admin token.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "fleet_helpers.h"
#include "scope_up.h"

namespace scope::itest {

struct FrontDoor {
  int port = -1;
  pid_t pid = -1;
  std::string token;  // the admin token
  std::unique_ptr<ScopeUp> up;
  std::unique_ptr<fleettest::Fleet> fleet;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }

  // Starts one; a gtest failure (or skip, without root or the services) when it cannot.
  void start(const std::string& kind, const std::string& name) {
    if (kind == "up") {
      up = std::make_unique<ScopeUp>();
      ASSERT_TRUE(up->start(make_temp_dir(("scope-" + name).c_str()), {"--probes", "exec"}))
          << up->process().err();
      port = std::stoi(up->url().substr(up->url().rfind(':') + 1));
      pid = up->process().pid();
      token = up->token();
    } else {
      fleet = std::make_unique<fleettest::Fleet>(name);
      auto& server = fleet->server();
      port = fleettest::metrics_port(server);
      ASSERT_GT(port, 0) << server.err();
      pid = server.pid();
      token = read_file(fleet->data_dir("server") + "/admin.token");
      while (!token.empty() && token.back() == '\n') token.pop_back();
    }
  }
};

// A test run against both "up" and "server": skips with the reason when root (up) or the
// services (server) are missing, else starts the target in SetUp.
class FrontDoorTest : public ::testing::TestWithParam<std::string> {
 protected:
  explicit FrontDoorTest(std::string name) : name_(std::move(name)) {}
  void SetUp() override {
    if (GetParam() == "up") {
      SCOPE_BPF_REQUIRE();
    } else {
      SCOPE_FLEET_REQUIRE();
    }
    t_.start(GetParam(), name_);
  }
  FrontDoor t_;

 private:
  std::string name_;
};

}  // namespace scope::itest
