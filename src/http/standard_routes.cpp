#include "http/standard_routes.h"

#include <chrono>
#include <memory>

#include "export/metrics.h"

namespace scope::http {

void add_health_and_metrics(Router& router, HealthOptions options) {
  auto o = std::make_shared<HealthOptions>(std::move(options));
  auto started = std::chrono::steady_clock::now();
  router
      .add("GET", "/health", Access::kPublic,
           [o, started](Request&) {
             nlohmann::json j = {{"status", "ok"},
                                 {"role", o->role},
                                 {"uptime_s", std::chrono::duration<double>(
                                                  std::chrono::steady_clock::now() - started)
                                                  .count()}};
             if (o->health) j.update(o->health());
             return Response::json(200, j);
           })
      .max_body = 0;
  router
      .add("GET", "/metrics", Access::kPublic,
           [o](Request&) {
             Response r;
             r.content_type = "text/plain; version=0.0.4";
             if (o->metrics) r.body = o->metrics->render();
             return r;
           })
      .max_body = 0;
}

}  // namespace scope::http
