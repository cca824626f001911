// The API's OpenAPI 3.1 document (docs/api/openapi.json, compiled in), served at
// /api/v1/openapi.json. tests/unit/openapi_test.cpp holds it to the routes scope really serves.
#pragma once

#include <string_view>

#include "http/router.h"

namespace scope::http {

std::string_view openapi_document();

// GET /api/v1/openapi.json: public, as the document describes itself.
void add_openapi_route(Router& router);

}  // namespace scope::http
