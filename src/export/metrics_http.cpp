#include "export/metrics_http.h"

#include <httplib.h>

#include <charconv>
#include <thread>

namespace scope::metrics {

struct MetricsHttp::Impl {
  httplib::Server server;
  std::thread thread;
};

Result<ListenAddress> parse_listen_address(const std::string& text) {
  ListenAddress a;
  std::string port = text;
  if (auto colon = text.rfind(':'); colon != std::string::npos) {
    if (colon > 0) a.host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), a.port);
  if (port.empty() || ec != std::errc() || p != port.data() + port.size() || a.port < 0 ||
      a.port > 65535)
    return make_error("invalid listen address '" + text + "' (host:port)");
  return a;
}

Result<std::unique_ptr<MetricsHttp>> MetricsHttp::start(const ListenAddress& address,
                                                        const Registry& registry,
                                                        std::function<nlohmann::json()> health) {
  std::unique_ptr<MetricsHttp> m(new MetricsHttp());
  m->impl_ = std::make_unique<Impl>();
  m->address_ = address;
  auto& srv = m->impl_->server;
  srv.Get("/metrics", [&registry](const httplib::Request&, httplib::Response& res) {
    res.set_content(registry.render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  srv.Get("/health", [health](const httplib::Request&, httplib::Response& res) {
    res.set_content(health().dump(), "application/json");
  });
  if (address.port == 0) {
    int port = srv.bind_to_any_port(address.host);
    if (port <= 0) return make_error("cannot listen on " + address.host);
    m->address_.port = port;
  } else if (!srv.bind_to_port(address.host, address.port)) {
    return make_error("cannot listen on " + address.text() + " (in use, or not a local address)");
  }
  m->impl_->thread = std::thread([impl = m->impl_.get()] { impl->server.listen_after_bind(); });
  return m;
}

MetricsHttp::~MetricsHttp() {
  if (!impl_) return;
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace scope::metrics
