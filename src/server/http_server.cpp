#include "server/http_server.h"

#include <httplib.h>

#include <chrono>

namespace scope::server {

namespace {

void send_error(httplib::Response& res, int status, const std::string& code,
                const std::string& message) {
  res.status = status;
  res.set_content(nlohmann::json{{"error", {{"code", code}, {"message", message}}}}.dump(),
                  "application/json");
}

bool authorized(const HttpOptions& o, const httplib::Request& req, httplib::Response& res) {
  const std::string want = "Bearer " + o.admin_token;
  const std::string& got = req.get_header_value("Authorization");
  // Constant time: the token is a secret.
  bool ok = !o.admin_token.empty() && got.size() == want.size();
  unsigned char diff = 0;
  for (size_t i = 0; ok && i < want.size(); ++i)
    diff |= static_cast<unsigned char>(got[i] ^ want[i]);
  if (ok && diff == 0) return true;
  send_error(res, 401, "unauthorized",
             "missing or wrong token: send 'Authorization: Bearer <token>' (the admin token "
             "printed at first start, kept in the data dir)");
  return false;
}

}  // namespace

Result<std::pair<std::string, int>> parse_listen(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 >= listen.size())
    return make_error("--listen '" + listen + "' is not HOST:PORT");
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  char* end = nullptr;
  long port = std::strtol(listen.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port < 0 || port > 65535)
    return make_error("--listen '" + listen + "': bad port");
  return std::make_pair(host, static_cast<int>(port));
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(const HttpOptions& options) {
  auto addr = parse_listen(options.listen);
  if (!addr) return make_error(addr.error());
  std::unique_ptr<HttpServer> s(new HttpServer());
  s->options_ = options;
  s->server_ = std::make_unique<httplib::Server>();
  auto& srv = *s->server_;
  const HttpOptions& o = s->options_;
  auto started = std::chrono::steady_clock::now();
  srv.set_payload_max_length(o.max_body_bytes);
  // httplib also sets SO_REUSEPORT, which lets a second scope bind a port in
  // use and silently split its connections: address reuse only.
  srv.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });

  srv.Get("/health", [&o, started](const httplib::Request&, httplib::Response& res) {
    nlohmann::json j = {
        {"status", "ok"},
        {"role", o.role},
        {"uptime_s",
         std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()}};
    if (o.store) j["store"] = std::string(o.store->kind());
    if (o.health) j.update(o.health());
    res.set_content(j.dump(), "application/json");
  });
  srv.Get("/metrics", [&o](const httplib::Request&, httplib::Response& res) {
    res.set_content(o.metrics ? o.metrics->render() : std::string(), "text/plain; version=0.0.4");
  });
  if (o.store) {
    srv.Post("/api/v1/sql", [&o](const httplib::Request& req, httplib::Response& res) {
      if (!authorized(o, req, res)) return;
      nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
      if (body.is_discarded() || !body.is_object())
        return send_error(res, 400, "bad_request", "the body must be a JSON object");
      auto q = body.find("query");
      if (q == body.end() || !q->is_string() || q->get_ref<const std::string&>().empty())
        return send_error(res, 400, "bad_request", "\"query\" must be a non-empty string");
      store::QueryOptions qo;
      qo.max_rows = 10000;
      if (auto m = body.find("max_rows"); m != body.end()) {
        if (!m->is_number_unsigned() || m->get<uint64_t>() == 0 || m->get<uint64_t>() > o.max_rows)
          return send_error(res, 400, "bad_request",
                            "\"max_rows\" must be between 1 and " + std::to_string(o.max_rows));
        qo.max_rows = m->get<size_t>();
      }
      if (auto t = body.find("timeout_ms"); t != body.end()) {
        if (!t->is_number_unsigned() || t->get<uint64_t>() == 0 || t->get<uint64_t>() > 600000)
          return send_error(res, 400, "bad_request", "\"timeout_ms\" must be between 1 and 600000");
        qo.timeout_ms = t->get<int>();
      }
      auto r = o.store->query(q->get_ref<const std::string&>(), qo);
      if (!r) return send_error(res, 400, "query_failed", r.error());
      res.set_content(store::query_result_json(*r).dump(-1, ' ', false,
                                                        nlohmann::json::error_handler_t::replace),
                      "application/json");
    });
  }
  srv.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) send_error(res, 404, "not_found", "no such endpoint");
    if (res.status == 413) send_error(res, 413, "too_large", "request body too large");
  });

  s->host_ = addr->first;
  if (addr->second == 0) {
    s->port_ = srv.bind_to_any_port(s->host_);
    if (s->port_ < 0) return make_error("cannot listen on " + options.listen);
  } else {
    if (!srv.bind_to_port(s->host_, addr->second))
      return make_error("cannot listen on " + options.listen +
                        " (in use, or not an address of this host)");
    s->port_ = addr->second;
  }
  s->thread_ = std::thread([&srv] { srv.listen_after_bind(); });
  return s;
}

void HttpServer::stop() {
  // A stop before the listening thread got going would be lost: wait for it.
  for (int i = 0; i < 2000 && server_ && thread_.joinable() && !server_->is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

HttpServer::~HttpServer() { stop(); }

}  // namespace scope::server
