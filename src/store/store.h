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
  // The result's size as it is built (text and blob bytes plus kQueryValueOverhead a value):
  // a row that would pass it is cut off with the rest and `truncated` set.
  size_t max_bytes = 64 << 20;
  // A query running longer is cancelled, fetching and building its rows included.
  int timeout_ms = 10000;
};

// What a value costs against QueryOptions::max_bytes beyond its text or blob bytes: its own
// size in QueryResult::rows, so that the budget bounds the memory a result takes.
inline constexpr size_t kQueryValueOverhead = sizeof(event::Value);

struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::vector<event::Value>> rows;
  bool truncated = false;
  std::string truncated_by;  // when truncated: "rows" (max_rows) or "bytes" (max_bytes)
};

// The tables the SQL API (Store::query) may read: the event tables (event/schema.h), the kernel
// rollup and the store's bookkeeping (scope_batches, scope_meta; neither holds a secret and
// neither may ever hold one). Any other table, present or future (users, tokens, ...), is not
// readable through it.
const std::vector<std::string>& sql_readable_tables();

class Store {
 public:
  virtual ~Store() = default;
  virtual std::string_view kind() const = 0;  // "sqlite" | "postgres"
  // Writes the whole batch in one transaction, or nothing. A batch already
  // stored (same node, boot_id, first_seq) is acknowledged without writing.
  virtual Result<WriteResult> write(const event::Batch& batch) = 0;
  // Read-only SQL over sql_readable_tables(); a statement that would write, change the
  // connection or the process, or read anything else is refused with a message saying what.
  virtual Result<QueryResult> query(std::string_view sql, const QueryOptions& options) = 0;
  // A read the server composes itself (the query API, src/server/queries.cpp): one SELECT whose
  // placeholders, ?1..?N on SQLite and $1..$N on PostgreSQL (kind()), are bound to `params`
  // by the database's own binding, never spliced into the text. It runs with the SQL API's
  // reader: the same readable tables, limits and timeout.
  virtual Result<QueryResult> select(std::string_view sql, const std::vector<event::Value>& params,
                                     const QueryOptions& options) = 0;
  // Deletes events older than `cutoff_ns` (Unix ns) in bounded steps; returns rows deleted.
  virtual Result<uint64_t> apply_retention(int64_t cutoff_ns) = 0;
};

// {"columns": [...], "rows": [[...], ...], "truncated": bool}, and "truncated_by" when truncated.
nlohmann::json query_result_json(const QueryResult& r);
// Comma-separated values with a header line (RFC 4180 quoting).
std::string query_result_csv(const QueryResult& r);
// An aligned text table for a terminal.
std::string query_result_table(const QueryResult& r);

}  // namespace scope::store
