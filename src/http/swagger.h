// Swagger UI at /swagger/index.html, over the OpenAPI document at /api/v1/openapi.json. Its files
// (npm swagger-ui-dist) are compiled in when the build found them (cmake/swagger.cmake);
// otherwise /swagger/* answers 404 saying how to build it in.
#pragma once

#include "http/router.h"

namespace scope::http {

// Whether this build serves Swagger UI.
bool swagger_built_in();

// GET /swagger/{file}: index.html, swagger-initializer.js, swagger-ui.css, swagger-ui-bundle.js.
void add_swagger_routes(Router& router);

}  // namespace scope::http
