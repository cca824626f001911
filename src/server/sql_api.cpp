#include "server/sql_api.h"

#include <nlohmann/json.hpp>
#include <string>

namespace scope::server {

void add_sql_routes(http::Router& router, store::Store& store, SqlApiOptions options) {
  auto& route = router.add(
      "POST", "/api/v1/sql", http::Access::kAdmin, [&store, options](http::Request& req) {
        std::string error;
        nlohmann::json body = req.json_body(&error);
        if (!error.empty()) return http::Response::error(400, "bad_request", error);
        auto q = body.find("query");
        if (q == body.end() || !q->is_string() || q->get_ref<const std::string&>().empty())
          return http::Response::error(400, "bad_request", "\"query\" must be a non-empty string");
        store::QueryOptions qo;
        qo.max_rows = 10000;
        if (auto m = body.find("max_rows"); m != body.end()) {
          if (!m->is_number_unsigned() || m->get<uint64_t>() == 0 ||
              m->get<uint64_t>() > options.max_rows)
            return http::Response::error(
                400, "bad_request",
                "\"max_rows\" must be between 1 and " + std::to_string(options.max_rows));
          qo.max_rows = m->get<size_t>();
        }
        if (auto t = body.find("timeout_ms"); t != body.end()) {
          if (!t->is_number_unsigned() || t->get<uint64_t>() == 0 || t->get<uint64_t>() > 600000)
            return http::Response::error(400, "bad_request",
                                         "\"timeout_ms\" must be between 1 and 600000");
          qo.timeout_ms = t->get<int>();
        }
        auto r = store.query(q->get_ref<const std::string&>(), qo);
        if (!r) return http::Response::error(400, "query_failed", r.error());
        return http::Response::json(200, store::query_result_json(*r));
      });
  route.max_body = 256 << 10;
  route.blocking = true;
}

}  // namespace scope::server
