#include "http/swagger.h"

#include <string>
#include <string_view>
#include <vector>

#ifdef SCOPE_WITH_SWAGGER
// Embedded by cmake/swagger.cmake (.incbin).
extern "C" const char scope_swagger_bundle_js_start[], scope_swagger_bundle_js_end[];
extern "C" const char scope_swagger_css_start[], scope_swagger_css_end[];
#endif

namespace scope::http {
namespace {

// Scope's own page and start script: the package's point at a demo document on the internet.
constexpr std::string_view kIndexHtml = R"(<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>scope API</title>
  <link rel="stylesheet" href="swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="swagger-ui-bundle.js"></script>
  <script src="swagger-initializer.js"></script>
</body>
</html>
)";

constexpr std::string_view kInitializer = R"(window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null
  });
};
)";

struct Asset {
  std::string_view name;
  std::string_view content_type;
  std::string_view body;
};

std::vector<Asset> assets() {
  std::vector<Asset> out = {
      {"index.html", "text/html; charset=utf-8", kIndexHtml},
      {"swagger-initializer.js", "text/javascript; charset=utf-8", kInitializer},
  };
#ifdef SCOPE_WITH_SWAGGER
  out.push_back({"swagger-ui-bundle.js", "text/javascript; charset=utf-8",
                 std::string_view(scope_swagger_bundle_js_start,
                                  static_cast<size_t>(scope_swagger_bundle_js_end -
                                                      scope_swagger_bundle_js_start))});
  out.push_back(
      {"swagger-ui.css", "text/css; charset=utf-8",
       std::string_view(scope_swagger_css_start,
                        static_cast<size_t>(scope_swagger_css_end - scope_swagger_css_start))});
#endif
  return out;
}

}  // namespace

bool swagger_built_in() {
#ifdef SCOPE_WITH_SWAGGER
  return true;
#else
  return false;
#endif
}

void add_swagger_routes(Router& router) {
  router
      .add("GET", "/swagger/{file}", Access::kPublic,
           [files = assets()](Request& req) {
             if (!swagger_built_in())
               return Response::error(404, "not_found",
                                      "this build of scope has no Swagger UI: run 'npm ci "
                                      "--ignore-scripts --prefix web/swagger' and build again");
             const std::string& name = req.params["file"];
             for (const auto& a : files) {
               if (a.name != name) continue;
               Response r;
               r.content_type = std::string(a.content_type);
               r.body = std::string(a.body);
               r.headers.emplace_back("Cache-Control", "public, max-age=3600");
               return r;
             }
             return Response::error(404, "not_found", "no file '" + name + "' in /swagger/");
           })
      .max_body = 0;
}

}  // namespace scope::http
