#include "cli/login_command.h"

#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/api_client.h"
#include "common/clock.h"
#include "common/data_dir.h"

namespace scope::cli {
namespace {

std::string credentials_dir() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  if (xdg && *xdg == '/') return std::string(xdg) + "/scope";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/root") + "/.config/scope";
}

std::string credentials_path() { return credentials_dir() + "/credentials.json"; }

// {"servers": {URL: {user, access_token, access_expires_ns, refresh_token}}}.
Result<nlohmann::json> load_credentials() {
  auto text = read_private_file(credentials_path(), FileAccess::kSecret);
  if (!text) {
    if (text.code() == Errc::kNotFound)
      return nlohmann::json{{"servers", nlohmann::json::object()}};
    return text.failure();
  }
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("servers") || !j["servers"].is_object())
    return make_error(credentials_path() +
                      " is not scope's credentials file: remove it and log in");
  return j;
}

Status save_credentials(const nlohmann::json& j) {
  std::string dir = credentials_dir();
  // Its parent (~/.config) may be missing too; both are the user's alone when made here.
  std::string parent = dir.substr(0, dir.rfind('/'));
  ::mkdir(parent.c_str(), 0700);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return make_error("cannot create " + dir);
  return replace_file(credentials_path(), j.dump(2) + "\n");
}

std::string server_key(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

void store_tokens(nlohmann::json& creds, const std::string& server, const nlohmann::json& t) {
  creds["servers"][server] = {
      {"user", t.value("user", nlohmann::json::object()).value("name", "")},
      {"access_token", t.value("access_token", "")},
      {"access_expires_ns", unix_now_ns() + t.value("expires_in", int64_t{0}) * 1'000'000'000},
      {"refresh_token", t.value("refresh_token", "")}};
}

Result<std::string> read_password(const LoginOptions& o) {
  std::string password;
  if (!o.password_file.empty()) {
    std::FILE* f = std::fopen(o.password_file.c_str(), "re");
    if (!f)
      return make_error(Errc::kBadInput, "--password-file " + o.password_file + ": cannot read");
    char buf[1024] = {};
    size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    password.assign(buf, n);
  } else if (const char* env = std::getenv("SCOPE_PASSWORD"); env && *env) {
    password = env;
  } else if (::isatty(STDIN_FILENO)) {
    std::fprintf(stderr, "password for %s: ", o.user.c_str());
    termios old{};
    tcgetattr(STDIN_FILENO, &old);
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    std::getline(std::cin, password);
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::fprintf(stderr, "\n");
  } else {
    std::getline(std::cin, password);
  }
  while (!password.empty() && (password.back() == '\n' || password.back() == '\r'))
    password.pop_back();
  if (password.empty()) return make_error(Errc::kBadInput, "no password given");
  return password;
}

Result<ApiClient> client_for(const std::string& server) {
  ApiFlags flags;
  flags.server = server;
  flags.token = "-";  // not looked up: these calls carry their own credentials
  auto c = api_client(flags);
  if (!c) return c.failure();
  c->token.clear();
  return c;
}

}  // namespace

CLI::App* add_login_command(CLI::App& app, LoginOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "login",
      "Log in to a 'scope server' or 'scope up' as a user; the tokens are kept in "
      "~/.config/scope/credentials.json (0600) for the commands given --server");
  cmd->add_option("--server", o.server, "http://HOST:PORT")->envname("SCOPE_SERVER")->required();
  cmd->add_option("-u,--user", o.user, "User name")->envname("SCOPE_USER")->required();
  cmd->add_option("--password-file", o.password_file,
                  "Read the password from this file (else SCOPE_PASSWORD, else the terminal)");
  return cmd;
}

int run_login(const LoginOptions& o) {
  auto api = client_for(o.server);
  if (!api) return report_api_error(api.failure());
  auto password = read_password(o);
  if (!password) return report_api_error(password.failure());
  auto t = api_answer(
      api->call("POST", "/api/v1/auth/login", {{"username", o.user}, {"password", *password}}),
      200);
  if (t.is_discarded()) return 1;
  auto creds = load_credentials();
  if (!creds) return report_api_error(creds.failure());
  store_tokens(*creds, server_key(api->url), t);
  if (auto st = save_credentials(*creds); !st) return report_api_error(st.failure());
  std::printf("logged in to %s as %s (%s); tokens in %s\n", api->url.c_str(), o.user.c_str(),
              t.value("user", nlohmann::json::object()).value("role", "").c_str(),
              credentials_path().c_str());
  return 0;
}

CLI::App* add_logout_command(CLI::App& app, std::string& server) {
  CLI::App* cmd =
      app.add_subcommand("logout", "Revoke and forget the tokens 'scope login' kept for a server");
  cmd->add_option("--server", server, "http://HOST:PORT")->envname("SCOPE_SERVER")->required();
  return cmd;
}

int run_logout(const std::string& server) {
  auto creds = load_credentials();
  if (!creds) return report_api_error(creds.failure());
  std::string key = server_key(server);
  if (!(*creds)["servers"].contains(key)) {
    std::printf("not logged in to %s\n", key.c_str());
    return 0;
  }
  auto api = client_for(key);
  if (api) {
    api->token = (*creds)["servers"][key].value("access_token", "");
    // Revokes every session of the user's (the server's logout is per user).
    (void)api->call("POST", "/api/v1/auth/logout");
  }
  (*creds)["servers"].erase(key);
  if (auto st = save_credentials(*creds); !st) return report_api_error(st.failure());
  std::printf("logged out of %s\n", key.c_str());
  return 0;
}

Result<std::string> saved_access_token(const std::string& server) {
  auto creds = load_credentials();
  if (!creds) return creds.failure();
  std::string key = server_key(server);
  if (!(*creds)["servers"].contains(key))
    return make_error(Errc::kNotFound, "not logged in to " + key);
  auto& entry = (*creds)["servers"][key];
  if (entry.value("access_expires_ns", int64_t{0}) > unix_now_ns() + 60'000'000'000)
    return entry.value("access_token", "");
  auto api = client_for(key);
  if (!api) return api.failure();
  auto res = api->call("POST", "/api/v1/auth/refresh",
                       {{"refresh_token", entry.value("refresh_token", "")}});
  if (!res) return res.failure();
  if (res->status != 200)
    return make_error("the login to " + key + " expired (" + http::error_message(*res) +
                      "): run 'scope login --server " + key + " --user NAME' again");
  auto t = nlohmann::json::parse(res->body, nullptr, false);
  if (!t.is_object()) return make_error("the server's answer is not JSON");
  store_tokens(*creds, key, t);
  if (auto st = save_credentials(*creds); !st) return st.failure();
  return t.value("access_token", "");
}

}  // namespace scope::cli
