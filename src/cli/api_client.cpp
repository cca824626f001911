#include "cli/api_client.h"

#include <cstdio>
#include <ctime>

#include "cli/login_command.h"
#include "common/data_dir.h"

namespace scope::cli {

void add_api_flags(CLI::App* cmd, ApiFlags& flags) {
  auto* dir = cmd->add_option("--data-dir", flags.data_dir,
                              "Data dir of the running 'scope up' or 'scope server' (finds its "
                              "address and admin token)")
                  ->envname("SCOPE_DATA_DIR")
                  ->capture_default_str();
  auto* server =
      cmd->add_option("--server", flags.server, "URL of a 'scope server' or 'scope up' instead")
          ->envname("SCOPE_SERVER");
  server->excludes(dir);
  cmd->add_option("--token", flags.token,
                  "Admin token (default: DATA_DIR/admin.token, or with --server the login 'scope "
                  "login' kept; prefer SCOPE_TOKEN to argv)")
      ->envname("SCOPE_TOKEN");
}

Result<ApiClient> api_client(const ApiFlags& flags) {
  ApiClient c{flags.server, flags.token};
  if (c.url.empty()) {
    // The endpoint and token are trusted only from a dir no other user can write: a planted
    // endpoint.json would otherwise receive the admin token.
    if (auto st = check_data_dir(flags.data_dir); !st && st.code() != Errc::kNotFound)
      return st.failure();
    auto ep = read_endpoint(flags.data_dir);
    if (!ep) return ep.failure();
    c.url = *ep;
  }
  if (c.token.empty() && flags.server.empty()) {
    auto t = read_admin_token(flags.data_dir);
    if (!t) return make_error(t.error() + " (or give --token)");
    c.token = *t;
  }
  if (c.url.rfind("http://", 0) != 0)
    return make_error(Errc::kBadInput, "--server '" + c.url + "' must be an http:// URL");
  while (!c.url.empty() && c.url.back() == '/') c.url.pop_back();
  if (c.token.empty()) {
    auto saved = saved_access_token(c.url);
    if (!saved)
      return make_error(saved.code(), saved.code() == Errc::kNotFound
                                          ? saved.error() + ": run 'scope login --server " + c.url +
                                                " --user NAME', or give --token"
                                          : saved.error());
    c.token = *saved;
  }
  return c;
}

Result<http::ClientResponse> ApiClient::call(const std::string& method, const std::string& path,
                                             const nlohmann::json& body,
                                             std::chrono::milliseconds timeout) const {
  http::ClientRequest req;
  req.method = method;
  req.url = url + path;
  if (!token.empty()) req.headers = {{"Authorization", "Bearer " + token}};
  if (!body.is_null()) req.body = body.dump();
  req.timeout = timeout;
  return http::fetch(req);
}

int report_api_error(const Error& e) {
  std::fprintf(stderr, "scope: %s\n", e.message.c_str());
  return e.code == Errc::kBadInput ? 2 : 1;
}

std::string utc_text(int64_t ns) {
  if (ns <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

nlohmann::json api_answer(const Result<http::ClientResponse>& res, int expect) {
  if (!res) {
    std::fprintf(stderr, "scope: %s\n", res.error().c_str());
    return nlohmann::json::value_t::discarded;
  }
  if (res->status != expect) {
    std::fprintf(stderr, "scope: %s\n", http::error_message(*res).c_str());
    return nlohmann::json::value_t::discarded;
  }
  if (res->body.empty()) return nlohmann::json::object();
  auto j = nlohmann::json::parse(res->body, nullptr, false);
  if (!j.is_object()) std::fprintf(stderr, "scope: the server's answer is not JSON\n");
  return j;
}

}  // namespace scope::cli
