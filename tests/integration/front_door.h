// A running `scope up` or `scope server` ("up" / "server") for the tests of the HTTP front door:
// its port, pid and admin token.
#pragma once

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

}  // namespace scope::itest
