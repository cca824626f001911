// The commands that call a running `scope up` or `scope server` (sql, nodes): where it listens
// and the token to call it with. By default both come from its data dir (endpoint.json and
// admin.token), trusted only when no other user can write that dir.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "common/result.h"
#include "http/client.h"

namespace scope::cli {

struct ApiFlags {
  std::string data_dir = "/var/lib/scope";
  std::string server;  // http://HOST:PORT; default: the endpoint recorded in the data dir
  std::string token;   // default: DATA_DIR/admin.token
};

void add_api_flags(CLI::App* cmd, ApiFlags& flags);

struct ApiClient {
  std::string url;  // http://HOST:PORT
  std::string token;
  // `method` on url + `path`, JSON `body` when not null. An error for a failed exchange; the
  // response (any status) otherwise.
  Result<http::ClientResponse> call(
      const std::string& method, const std::string& path, const nlohmann::json& body = nullptr,
      std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
};

// The client the flags name; a kBadInput error for a bad --server, another for a data dir that
// cannot be trusted or read (its message says what to do).
Result<ApiClient> api_client(const ApiFlags& flags);
// Says `e` on stderr ("scope: ...") and gives the exit code for it: 2 for bad input, else 1.
int report_api_error(const Error& e);

// The answer's JSON when its status is `expect` ({} for an empty body); otherwise the error on
// stderr (scope: MESSAGE, as the server put it) and a discarded value.
nlohmann::json api_answer(const Result<http::ClientResponse>& res, int expect);

// "2026-12-07 11:33:33" (UTC) of nanoseconds since the epoch; "-" for 0.
std::string utc_text(int64_t ns);

}  // namespace scope::cli
