// Runs `scope up` (or `scope server`) on a private data dir and port for an
// integration test, and talks to it over HTTP the way `scope sql` does.
#pragma once

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../bpf/run_scope.h"
#include "http/client.h"

namespace scope::itest {

using json = nlohmann::json;
using bpftest::Process;

inline std::string make_temp_dir(const char* stem) {
  std::string dir = std::filesystem::temp_directory_path() / (std::string(stem) + "-XXXXXX");
  return mkdtemp(dir.data());
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The demo's `expect {...}` line.
inline json demo_expect(const std::string& out) {
  auto at = out.find("expect ");
  if (at == std::string::npos) return json();
  auto end = out.find('\n', at);
  return json::parse(out.substr(at + 7, end == std::string::npos ? end : end - at - 7), nullptr,
                     false);
}

using Headers = std::vector<std::pair<std::string, std::string>>;

// One HTTP exchange with a running scope (a failed one has status 0 and the error as its body).
inline http::ClientResponse http_call(const std::string& method, const std::string& url,
                                      const std::string& body = "", Headers headers = {}) {
  http::ClientRequest req;
  req.method = method;
  req.url = url;
  req.body = body;
  req.headers = std::move(headers);
  req.timeout = std::chrono::seconds(30);
  auto res = http::fetch(req);
  if (res) return std::move(*res);
  http::ClientResponse failed;
  failed.body = res.error();
  return failed;
}
inline http::ClientResponse http_get(const std::string& url, Headers headers = {}) {
  return http_call("GET", url, "", std::move(headers));
}
inline http::ClientResponse http_post(const std::string& url, const std::string& body,
                                      Headers headers = {}) {
  return http_call("POST", url, body, std::move(headers));
}

class ScopeUp {
 public:
  // Starts `scope up` with `args` on `data_dir`, port 0; waits until it serves.
  bool start(const std::string& data_dir, const std::vector<std::string>& args) {
    data_dir_ = data_dir;
    std::filesystem::remove(data_dir + "/endpoint.json");
    std::vector<std::string> argv = {bpftest::kScope, "up",       "--data-dir",
                                     data_dir,        "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), args.begin(), args.end());
    if (!proc_.start(argv)) return false;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      proc_.pump(100);
      auto ep = json::parse(read_file(data_dir + "/endpoint.json"), nullptr, false);
      if (!ep.is_discarded() && ep.contains("url")) {
        url_ = ep["url"].get<std::string>();
        token_ = read_file(data_dir + "/admin.token");
        while (!token_.empty() && token_.back() == '\n') token_.pop_back();
        return true;
      }
      int st = 0;
      if (waitpid(proc_.pid(), &st, WNOHANG) == proc_.pid()) return false;
    }
    return false;
  }

  json sql(const std::string& query) {
    auto res = http_post(url_ + "/api/v1/sql", json{{"query", query}}.dump(),
                         {{"Authorization", "Bearer " + token_}});
    if (res.status == 0) return json{{"error", "unreachable: " + res.body}};
    return json::parse(res.body, nullptr, false);
  }
  int64_t count(const std::string& query) {
    json r = sql(query);
    if (!r.contains("rows") || r["rows"].empty() || !r["rows"][0][0].is_number()) return -1;
    return r["rows"][0][0].get<int64_t>();
  }
  // Polls `query` until it returns `want` (or the timeout); returns the last value.
  int64_t wait_count(const std::string& query, int64_t want, double timeout_s = 20) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    int64_t got = -1;
    while (std::chrono::steady_clock::now() < deadline) {
      got = count(query);
      if (got == want) return got;
      proc_.pump(100);
    }
    return got;
  }

  Process& process() { return proc_; }
  const std::string& url() const { return url_; }
  const std::string& token() const { return token_; }

 private:
  Process proc_;
  std::string data_dir_, url_, token_;
};

}  // namespace scope::itest
