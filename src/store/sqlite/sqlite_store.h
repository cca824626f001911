// The embedded store: one SQLite file in WAL mode. One connection writes
// (prepared inserts, a transaction per batch); another, read-only, answers
// queries, so a long query never blocks ingest. The reader is the SQL API's: an
// authorizer lets it read sql_readable_tables() with ordinary functions and
// nothing else (no ATTACH, PRAGMA, transactions, extensions), its limits cap
// value sizes, and every request leaves it as it found it.
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
  static constexpr int kSchemaVersion = 10;  // store/sqlite/migrations.cpp

  static Result<std::unique_ptr<SqliteStore>> open(const SqliteOptions& options);
  ~SqliteStore() override;

  std::string_view kind() const override { return "sqlite"; }
  Result<WriteResult> write(const event::Batch& batch) override;
  Result<QueryResult> query(std::string_view sql, const QueryOptions& options) override;
  Result<QueryResult> select(std::string_view sql, const std::vector<event::Value>& params,
                             const QueryOptions& options) override;
  Result<uint64_t> apply_retention(int64_t cutoff_ns) override;

 private:
  explicit SqliteStore(SqliteOptions options);
  Status init();
  Status exec(const std::string& sql);
  // query() and select(): one statement on the reader, `params` bound to ?1..?N.
  Result<QueryResult> read(std::string_view sql, const std::vector<event::Value>& params,
                           const QueryOptions& options);
  Status open_reader();
  // Leaves the reader as a fresh request expects it: no statement running, no transaction.
  void end_request();
  // Whether `name` is a table, view or virtual table module the reader knows (not a WITH).
  bool reader_knows(const std::string& name);
  std::string last_error(sqlite3* db) const;

  struct ReaderPolicy;  // sqlite_store.cpp: what the authorizer lets the reader do

  SqliteOptions options_;
  sqlite3* db_ = nullptr;  // writer
  sqlite3* ro_ = nullptr;  // reader (query_only, authorizer, limits)
  std::unique_ptr<ReaderPolicy> policy_;
  std::vector<sqlite3_stmt*> inserts_;  // per family id
  sqlite3_stmt* record_batch_ = nullptr;
  sqlite3_stmt* upsert_minute_ = nullptr;    // store/rollup.h
  std::vector<sqlite3_stmt*> slot_inserts_;  // per slot_rollups() entry
  // Per memory_rollups() entry: the one-row insert, then memory_update()'s steps.
  std::vector<sqlite3_stmt*> memory_inserts_;
  std::vector<std::vector<std::pair<sqlite3_stmt*, bool>>> memory_steps_;
  std::vector<sqlite3_stmt*> request_steps_;
  std::vector<sqlite3_stmt*> open_upserts_;  // per open_rollups() entry
  std::mutex write_mu_;
  std::mutex read_mu_;
};

}  // namespace scope::store
