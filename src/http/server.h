// The HTTP server of `scope up`, `scope server` and `scope agent`: Boost.Beast on Asio, one
// coroutine per connection. It treats every byte from the network as hostile and checks what it
// can before it does work: connection caps (in all and per address) at accept, a deadline for
// the header, the route, its credentials and its body limit on the header alone (a request that
// fails them is answered and closed without reading its body, chunked or not), a deadline for
// the whole request and for writing the answer. Handlers that block (queries, password hashes)
// run on a worker pool, so /health answers while they work.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "common/result.h"
#include "http/router.h"

namespace scope::metrics {
class Registry;
}

namespace scope::http {

// What the server enforces; the defaults are what scope runs with.
struct Limits {
  size_t max_connections = 1024;
  size_t max_connections_per_address = 256;
  size_t max_header_bytes = 16 << 10;
  // From the moment the server waits for a request to its last header byte: also how long an
  // idle keep-alive connection stays open, and what a slowloris client gets.
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds request_timeout{60000};  // the header and the body together
  std::chrono::milliseconds write_timeout{60000};    // writing one answer
  size_t max_blocking = 64;  // requests queued or running on the worker pool; more get 503
  // Routes marked `throttled` (login, register): a token bucket per client address.
  double throttle_per_second = 2;
  double throttle_burst = 20;
  // Open WebSockets (live streams), in all and per client address; an upgrade over either is
  // refused (503, 429) before it is accepted.
  size_t max_websockets = 128;
  size_t max_websockets_per_address = 32;
};

// Who a bearer token belongs to, or why it is not accepted (the message goes to the client).
using Authenticator = std::function<Result<Principal>(std::string_view bearer_token)>;

// Accepts one secret (compared in constant time) as `who`: the admin token of scope up/server.
Authenticator single_token_authenticator(std::string token, Principal who);

struct ServerOptions {
  std::string listen = "127.0.0.1:18080";  // HOST:PORT, ":PORT" for loopback; port 0 picks one
  Limits limits;
  int io_threads = 2;
  int worker_threads = 4;
  // An exact origin ("https://scope.example.com") whose pages may call the API; empty: none.
  std::string cors_origin;
  Authenticator authenticate;  // null: routes that need a principal answer 401
  std::string access_log;      // a file to append one line per request to, "-" for stderr, "" none
  metrics::Registry* metrics = nullptr;  // scope_http_* counters, when given
};

class Server {
 public:
  // Binds (an error when the address is taken or not this host's) and serves on its threads.
  static Result<std::unique_ptr<Server>> start(ServerOptions options,
                                               std::shared_ptr<const Router> router);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  // Stops accepting, closes every connection, waits for running handlers; idempotent.
  void stop();
  const std::string& host() const;
  int port() const;
  std::string url() const;  // "http://127.0.0.1:18080", "http://[::1]:18080"

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Splits "HOST:PORT" ("[::1]:80" too; ":80" and "localhost:80" are 127.0.0.1:80). HOST must be
// an IP address: an error line when it is not, or when the port is not one.
Result<std::pair<std::string, int>> parse_listen(const std::string& listen);

}  // namespace scope::http
