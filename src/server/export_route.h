// GET /api/v1/export/perfetto: the store's events of one node as a Perfetto trace file, written
// to an unlinked temporary file and sent from it (memory stays bounded at any size).
#pragma once

#include "http/router.h"
#include "store/store.h"

namespace scope::server {

// The largest trace the route writes; past it the answer is 413 (narrow the window).
inline constexpr uint64_t kMaxExportBytes = 4ULL << 30;

void add_export_routes(http::Router& router, store::Store& store);

}  // namespace scope::server
