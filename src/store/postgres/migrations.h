// The fleet store's schema migrations (literal SQL per version).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace scope::store {

struct PostgresMigrationParams {
  bool timescale = false;
  int64_t partition_ns = 0;       // a hypertable chunk
  int64_t compress_after_ns = 0;  // compress chunks older than this
  int64_t retention_ns = 0;       // 0: no retention policy
};

// Step i brings a database from version i to i + 1.
std::vector<std::string> postgres_migrations(const PostgresMigrationParams& params);

}  // namespace scope::store
