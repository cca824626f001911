#include "http/openapi.h"

namespace scope::http {

std::string_view openapi_document() {
  static constexpr std::string_view kDocument =
#include "openapi_document.inc"
      ;
  return kDocument;
}

void add_openapi_route(Router& router) {
  router
      .add("GET", "/api/v1/openapi.json", Access::kPublic,
           [](Request&) {
             Response r;
             r.body = std::string(openapi_document());
             r.headers.emplace_back("Cache-Control", "public, max-age=300");
             return r;
           })
      .max_body = 0;
}

}  // namespace scope::http
