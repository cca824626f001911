// The embedded store: one SQLite file in WAL mode. One connection writes
// (prepared inserts, a transaction per batch); another, read-only, answers
// queries, so a long query never blocks ingest.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/store.h"

namespace scope::store {

struct SqliteOptions {
  std::string path;                     // the database file; created when missing
  size_t retention_chunk_rows = 50000;  // rows per DELETE when enforcing retention
};

class SqliteStore final : public Store {
 public:
  // The schema version this build writes; migrations bring older files up to it.
  static constexpr int kSchemaVersion = 3;  // store/sqlite/migrations.cpp

  static Result<std::unique_ptr<SqliteStore>> open(const SqliteOptions& options);
  ~SqliteStore() override;

  std::string_view kind() const override { return "sqlite"; }
  Result<WriteResult> write(const event::Batch& batch) override;
  Result<QueryResult> query(std::string_view sql, const QueryOptions& options) override;
  Result<uint64_t> apply_retention(int64_t cutoff_ns) override;

 private:
  explicit SqliteStore(SqliteOptions options) : options_(std::move(options)) {}
  Status init();
  Status exec(const std::string& sql);
  std::string last_error(sqlite3* db) const;

  SqliteOptions options_;
  sqlite3* db_ = nullptr;               // writer
  sqlite3* ro_ = nullptr;               // reader (query_only)
  std::vector<sqlite3_stmt*> inserts_;  // per family id
  sqlite3_stmt* record_batch_ = nullptr;
  sqlite3_stmt* upsert_minute_ = nullptr;  // store/rollup.h
  std::mutex write_mu_;
  std::mutex read_mu_;
};

}  // namespace scope::store
