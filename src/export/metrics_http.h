// A small HTTP listener for `scope agent` (and `scope server` until the API
// server serves it): GET /metrics (Prometheus text) and GET /health (JSON).
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/result.h"
#include "export/metrics.h"

namespace scope::metrics {

struct ListenAddress {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string text() const { return host + ":" + std::to_string(port); }
};

// "host:port", ":port" (loopback) or "port".
Result<ListenAddress> parse_listen_address(const std::string& text);

class MetricsHttp {
 public:
  // Binds now (an error when the address is taken), serves on a thread.
  static Result<std::unique_ptr<MetricsHttp>> start(const ListenAddress& address,
                                                    const Registry& registry,
                                                    std::function<nlohmann::json()> health);
  ~MetricsHttp();
  // The bound address (the real port when 0 was asked for).
  const ListenAddress& address() const { return address_; }

 private:
  struct Impl;
  MetricsHttp() = default;
  std::unique_ptr<Impl> impl_;
  ListenAddress address_;
};

}  // namespace scope::metrics
