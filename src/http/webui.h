// The web UI (web/ui: Vue 3 + ECharts) at /. Its built files (web/ui/dist, with their gzip
// copies) are compiled in when the build found them (cmake/webui.cmake); otherwise / answers 404
// saying how to build it in.
#pragma once

#include <string_view>

#include "http/router.h"

namespace scope::http {

// Whether this build serves the web UI.
bool webui_built_in();

// GET / and GET /assets/{file}, and the router's fallback: any other GET outside /api/ is the
// UI's index.html (its pages are history-mode routes: /fleet, /cuda?range=5m).
void add_webui_routes(Router& router);

// The Content-Type of a file by its extension ("application/octet-stream" when unknown).
std::string_view webui_content_type(std::string_view name);

// Whether an Accept-Encoding header value accepts gzip ("gzip", "gzip;q=0.5", "*"; not "gzip;q=0").
bool accepts_gzip(std::string_view accept_encoding);

}  // namespace scope::http
