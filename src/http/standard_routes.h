// /health and /metrics: public, cheap and answered on the I/O threads, so that a load balancer
// and Prometheus get an answer while queries run. Every scope process that listens has them.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "http/router.h"

namespace scope::metrics {
class Registry;
}

namespace scope::http {

struct HealthOptions {
  std::string role;                        // "up" | "server" | "agent"
  metrics::Registry* metrics = nullptr;    // null: /metrics answers an empty page
  std::function<nlohmann::json()> health;  // fields added to /health's answer
};

void add_health_and_metrics(Router& router, HealthOptions options);

}  // namespace scope::http
