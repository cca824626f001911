// The fleet store: PostgreSQL through libpq. One connection ingests (a batch
// is one transaction: its dedupe row in scope_batches, then one COPY per
// family), another answers read-only queries. Tables are `<family>_events`
// partitioned by ts_ns: TimescaleDB hypertables with compression and
// retention policies when the extension is available, otherwise native range
// partitions (one per day, created ahead by the store, retention by dropping
// whole partitions). A connection that broke (a restarted server) is
// re-established on the next call; the failed call returns an error and the
// caller retries.
//
// The SQL API (query) runs on the reader connection as role `<schema>_reader`
// (NOLOGIN; USAGE on the schema, SELECT on sql_readable_tables() only), which
// the store creates or brings up to date when it opens. The query itself runs
// inside a SECURITY DEFINER function owned by that role: there PostgreSQL
// refuses set_config('role', ...) and set_config('session_authorization', ...),
// which a plain SET ROLE would not stop (the login role may always take itself
// back). So file, admin and other roles' functions and tables fail even when
// scope logs in as a superuser. Each request ends with ROLLBACK and DISCARD ALL
// (advisory locks, settings, prepared statements gone).
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "store/store.h"

namespace scope::store {

enum class Partitioning { kAuto, kNative, kTimescale };

struct PostgresOptions {
  std::string url;                                  // libpq conninfo or postgresql:// URL
  std::string schema = "public";                    // created when missing
  Partitioning partitioning = Partitioning::kAuto;  // auto: timescale when available
  int64_t partition_ns = 86400LL * 1000000000LL;    // one partition (or chunk) per day
  int partitions_ahead = 2;                         // created before data needs them
  size_t retention_chunk_rows = 50000;              // rows per DELETE for partial partitions
  int64_t retention_ns = 0;                         // timescale: add a retention policy (0: none)
  int64_t compress_after_ns = 0;  // timescale: compress chunks older than this (0: 1 day)
  int connect_timeout_s = 5;
};

class PostgresStore final : public Store {
 public:
  // The schema version this build writes; migrations bring older databases up to it.
  static constexpr int kSchemaVersion = 11;  // store/postgres/migrations.cpp

  static Result<std::unique_ptr<PostgresStore>> open(const PostgresOptions& options);
  ~PostgresStore() override;

  std::string_view kind() const override { return "postgres"; }
  Result<WriteResult> write(const event::Batch& batch) override;
  Result<QueryResult> query(std::string_view sql, const QueryOptions& options) override;
  Result<QueryResult> select(std::string_view sql, const std::vector<event::Value>& params,
                             const QueryOptions& options) override;
  Result<uint64_t> apply_retention(int64_t cutoff_ns) override;

  // "native" or "timescale": what the database was created with.
  const std::string& partitioning() const { return partitioning_; }

 private:
  explicit PostgresStore(PostgresOptions options) : options_(std::move(options)) {}
  Status init();
  // A live connection in `conn` (reconnecting when it broke), search_path set.
  Status ensure(PGconn*& conn);
  Status ensure_partitions(PGconn* conn, int64_t min_ts, int64_t max_ts);
  // Creates or updates the SQL API's role and its function (on the writer connection).
  Status setup_reader();
  // The reader connection live and its role set up, for query() and select() (read_mu_ held).
  Status begin_request();
  // Leaves the reader connection as a fresh request expects it (or drops it).
  void end_request();
  std::string qualified(std::string_view table) const;

  PostgresOptions options_;
  std::string partitioning_ = "native";
  PGconn* db_ = nullptr;  // writer
  // The writer's connection (and its backend) on which the requests' statements are prepared.
  PGconn* requests_conn_ = nullptr;
  int requests_backend_ = 0;
  int requests_generation_ = 0;   // in their names: a failed preparation is never in the way
  PGconn* ro_ = nullptr;          // reader
  std::set<int64_t> partitions_;  // day numbers whose partitions exist (native)
  std::string reader_role_;       // "<schema>_reader"
  bool reader_ready_ = false;     // setup_reader() succeeded (else query() tries again)
  std::mutex write_mu_;
  std::mutex read_mu_;
};

// Parses a Partitioning name ("auto", "native", "timescale").
Result<Partitioning> parse_partitioning(std::string_view name);

}  // namespace scope::store
