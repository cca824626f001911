// Storage behind one interface (prometheus' habit): SQLite embedded by
// default, PostgreSQL for a fleet. Both run the same test suite
// (tests/integration/store_suite_test.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "event/batch.h"
#include "event/row.h"

namespace scope::store {

struct WriteResult {
  uint64_t stored = 0;     // rows written
  bool duplicate = false;  // the batch was already stored: nothing written
};

struct QueryOptions {
  size_t max_rows = 10000;  // more are cut off and `truncated` set
  int timeout_ms = 10000;   // a query running longer is cancelled
};

struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::vector<event::Value>> rows;
  bool truncated = false;
};

class Store {
 public:
  virtual ~Store() = default;
  virtual std::string_view kind() const = 0;  // "sqlite" | "postgres"
  // Writes the whole batch in one transaction, or nothing. A batch already
  // stored (same node, boot_id, first_seq) is acknowledged without writing.
  virtual Result<WriteResult> write(const event::Batch& batch) = 0;
  // Read-only SQL; a statement that would write is refused.
  virtual Result<QueryResult> query(std::string_view sql, const QueryOptions& options) = 0;
  // Deletes events older than `cutoff_ns` (Unix ns) in bounded steps; returns rows deleted.
  virtual Result<uint64_t> apply_retention(int64_t cutoff_ns) = 0;
};

// {"columns": [...], "rows": [[...], ...], "truncated": bool}
nlohmann::json query_result_json(const QueryResult& r);
// Comma-separated values with a header line (RFC 4180 quoting).
std::string query_result_csv(const QueryResult& r);
// An aligned text table for a terminal.
std::string query_result_table(const QueryResult& r);

}  // namespace scope::store
