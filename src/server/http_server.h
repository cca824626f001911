// The HTTP face of `scope up` and `scope server` (and /metrics of `scope
// agent`): /health, /metrics and the read-only SQL endpoint behind `scope
// sql`. Errors are typed JSON: {"error": {"code": "...", "message": "..."}}.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "common/result.h"
#include "export/metrics.h"
#include "store/store.h"

namespace httplib {
class Server;
}

namespace scope::server {

struct HttpOptions {
  std::string listen = "127.0.0.1:18080";  // HOST:PORT; port 0 picks a free one
  store::Store* store = nullptr;           // null: no /api/v1/sql (the agent)
  metrics::Registry* metrics = nullptr;
  std::string admin_token;                 // required as "Authorization: Bearer ..." for /api
  std::string role;                        // "up" | "server" | "agent", in /health
  std::function<nlohmann::json()> health;  // extra fields for /health
  size_t max_body_bytes = 1 << 20;
  size_t max_rows = 100000;  // the most a query may ask for
};

class HttpServer {
 public:
  // Binds (an error line when the address is taken or invalid) and serves on a thread.
  static Result<std::unique_ptr<HttpServer>> start(const HttpOptions& options);
  ~HttpServer();
  void stop();
  int port() const { return port_; }
  const std::string& host() const { return host_; }

 private:
  HttpServer() = default;
  HttpOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string host_;
  int port_ = 0;
};

// Splits "HOST:PORT" ("[::1]:80" too); an error line when it is not one.
Result<std::pair<std::string, int>> parse_listen(const std::string& listen);

}  // namespace scope::server
