// POST /api/v1/sql: read-only SQL against the store, for admins (`scope sql`). The store
// refuses what is not a read; the route runs on the worker pool, so /health answers meanwhile.
#pragma once

#include <cstddef>

#include "http/router.h"
#include "store/store.h"

namespace scope::server {

struct SqlApiOptions {
  size_t max_rows = 100000;  // the most a request may ask for
};

void add_sql_routes(http::Router& router, store::Store& store, SqlApiOptions options = {});

}  // namespace scope::server
