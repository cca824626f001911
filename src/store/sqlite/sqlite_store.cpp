#include "store/sqlite/sqlite_store.h"

#include <chrono>
#include <cstring>

#include "common/clock.h"
#include "event/schema.h"
#include "store/rollup.h"
#include "store/sqlite/migrations.h"

namespace scope::store {

namespace {

int bind_value(sqlite3_stmt* st, int index, const event::Value& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return sqlite3_bind_int64(st, index, *i);
  if (const auto* s = std::get_if<std::string>(&v))
    return sqlite3_bind_text(st, index, s->data(), static_cast<int>(s->size()), SQLITE_STATIC);
  return sqlite3_bind_null(st, index);
}

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const SqliteOptions& options) {
  std::unique_ptr<SqliteStore> s(new SqliteStore(options));
  if (auto st = s->init(); !st) return make_error(st.error());
  return s;
}

SqliteStore::~SqliteStore() {
  for (auto* st : inserts_) sqlite3_finalize(st);
  sqlite3_finalize(record_batch_);
  sqlite3_finalize(upsert_minute_);
  if (ro_) sqlite3_close_v2(ro_);
  if (db_) sqlite3_close_v2(db_);
}

std::string SqliteStore::last_error(sqlite3* db) const {
  return options_.path + ": " + sqlite3_errmsg(db);
}

Status SqliteStore::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = options_.path + ": " + (err ? err : "error");
    sqlite3_free(err);
    return make_error(msg);
  }
  return Ok{};
}

Status SqliteStore::init() {
  if (sqlite3_open_v2(options_.path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK)
    return make_error("cannot open " + options_.path + ": " +
                      (db_ ? sqlite3_errmsg(db_) : "out of memory"));
  sqlite3_busy_timeout(db_, 5000);
  // WAL: readers do not block the writer. synchronous=NORMAL: a commit is
  // durable at the next checkpoint; a power loss can lose the last batches,
  // which the agent's sequence numbers make visible, not silent.
  if (auto st = exec(
          "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
          "PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=16384;");
      !st)
    return st;
  if (auto st = exec("CREATE TABLE IF NOT EXISTS scope_meta (key TEXT PRIMARY KEY, value TEXT)");
      !st)
    return st;
  int version = 0;
  {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db_, "SELECT value FROM scope_meta WHERE key = 'schema_version'", -1, &st,
                       nullptr);
    if (st && sqlite3_step(st) == SQLITE_ROW) version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
  }
  if (version > kSchemaVersion)
    return make_error(options_.path + " has schema version " + std::to_string(version) +
                      ", newer than this scope (" + std::to_string(kSchemaVersion) +
                      "): upgrade scope");
  const auto& steps = sqlite_migrations();
  for (int v = version; v < kSchemaVersion; ++v) {
    if (auto st = exec("BEGIN IMMEDIATE; " + std::string(steps[v]) +
                       "INSERT OR REPLACE INTO scope_meta VALUES ('schema_version', '" +
                       std::to_string(v + 1) + "'); COMMIT;");
        !st) {
      (void)exec("ROLLBACK");
      return make_error("migration to schema version " + std::to_string(v + 1) +
                        " failed: " + st.error());
    }
  }

  for (const auto& s : event::schemas()) {
    std::string sql = "INSERT INTO " + std::string(s.table) + " VALUES (";
    size_t n = event::kCommonColumnCount + s.columns.size();
    for (size_t i = 0; i < n; ++i) sql += i ? ",?" : "?";
    sql += ")";
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr) !=
        SQLITE_OK)
      return make_error(last_error(db_));
    inserts_.push_back(st);
  }
  if (sqlite3_prepare_v3(db_, "INSERT OR IGNORE INTO scope_batches VALUES (?, ?, ?, ?, ?)", -1,
                         SQLITE_PREPARE_PERSISTENT, &record_batch_, nullptr) != SQLITE_OK)
    return make_error(last_error(db_));
  if (sqlite3_prepare_v3(db_, kernel_minutes_upsert(false).c_str(), -1, SQLITE_PREPARE_PERSISTENT,
                         &upsert_minute_, nullptr) != SQLITE_OK)
    return make_error(last_error(db_));

  if (sqlite3_open_v2(options_.path.c_str(), &ro_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK)
    return make_error("cannot open " + options_.path +
                      " for reading: " + (ro_ ? sqlite3_errmsg(ro_) : "out of memory"));
  sqlite3_busy_timeout(ro_, 5000);
  sqlite3_exec(ro_, "PRAGMA query_only=1; PRAGMA cache_size=-65536;", nullptr, nullptr, nullptr);
  return Ok{};
}

Result<WriteResult> SqliteStore::write(const event::Batch& batch) {
  std::lock_guard lock(write_mu_);
  WriteResult res;
  if (auto st = exec("BEGIN IMMEDIATE"); !st) return make_error(st.error());
  auto fail = [&](const std::string& msg) -> Result<WriteResult> {
    (void)exec("ROLLBACK");
    return make_error(msg);
  };
  sqlite3_stmt* rb = record_batch_;
  sqlite3_bind_text(rb, 1, batch.node.data(), static_cast<int>(batch.node.size()), SQLITE_STATIC);
  sqlite3_bind_text(rb, 2, batch.boot_id.data(), static_cast<int>(batch.boot_id.size()),
                    SQLITE_STATIC);
  sqlite3_bind_int64(rb, 3, static_cast<int64_t>(batch.first_seq));
  sqlite3_bind_int64(rb, 4, static_cast<int64_t>(batch.events.size()));
  sqlite3_bind_int64(rb, 5, unix_now_ns());
  int rc = sqlite3_step(rb);
  sqlite3_reset(rb);
  if (rc != SQLITE_DONE) return fail(last_error(db_));
  if (sqlite3_changes(db_) == 0) {
    (void)exec("ROLLBACK");
    res.duplicate = true;
    return res;
  }
  const auto& all = event::schemas();
  for (size_t i = 0; i < batch.events.size(); ++i) {
    const auto& e = batch.events[i];
    if (e.family >= inserts_.size() || e.values.size() != all[e.family].columns.size())
      return fail("event " + std::to_string(i) + " does not match its family's schema");
    sqlite3_stmt* st = inserts_[e.family];
    sqlite3_bind_int64(st, 1, e.ts_ns);
    sqlite3_bind_text(st, 2, batch.node.data(), static_cast<int>(batch.node.size()), SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, static_cast<int64_t>(batch.first_seq + i));
    sqlite3_bind_int64(st, 4, e.pid);
    sqlite3_bind_int64(st, 5, e.tid);
    sqlite3_bind_text(st, 6, e.comm.data(), static_cast<int>(e.comm.size()), SQLITE_STATIC);
    int col = static_cast<int>(event::kCommonColumnCount) + 1;
    for (const auto& v : e.values) bind_value(st, col++, v);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return fail(last_error(db_));
    ++res.stored;
  }
  for (const auto& m : kernel_minutes(batch)) {
    sqlite3_stmt* st = upsert_minute_;
    sqlite3_bind_int64(st, 1, m.minute_ns);
    sqlite3_bind_text(st, 2, batch.node.data(), static_cast<int>(batch.node.size()), SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, m.pid);
    sqlite3_bind_text(st, 4, m.kernel.data(), static_cast<int>(m.kernel.size()), SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, m.launches);
    sqlite3_bind_int64(st, 6, m.total_ns);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return fail(last_error(db_));
  }
  if (auto st = exec("COMMIT"); !st) return fail(st.error());
  return res;
}

Result<QueryResult> SqliteStore::query(std::string_view sql, const QueryOptions& options) {
  std::lock_guard lock(read_mu_);
  sqlite3_stmt* st = nullptr;
  const char* tail = nullptr;
  if (sqlite3_prepare_v2(ro_, sql.data(), static_cast<int>(sql.size()), &st, &tail) != SQLITE_OK)
    return make_error(sqlite3_errmsg(ro_));
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> guard(st, sqlite3_finalize);
  if (!st) return make_error("empty query");
  for (const char* p = tail; p && p < sql.data() + sql.size() && *p; ++p)
    if (!std::strchr(" \t\r\n;", *p)) return make_error("one statement at a time");
  if (!sqlite3_stmt_readonly(st)) return make_error("read-only: the store accepts queries only");

  // Cancel a query that runs past its timeout.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options.timeout_ms);
  sqlite3_progress_handler(
      ro_, 10000,
      [](void* arg) -> int {
        return std::chrono::steady_clock::now() >
               *static_cast<std::chrono::steady_clock::time_point*>(arg);
      },
      &deadline);
  QueryResult out;
  int ncol = sqlite3_column_count(st);
  for (int i = 0; i < ncol; ++i) out.columns.emplace_back(sqlite3_column_name(st, i));
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (out.rows.size() >= options.max_rows) {
      out.truncated = true;
      break;
    }
    std::vector<event::Value> row(ncol);
    for (int i = 0; i < ncol; ++i) {
      switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER:
          row[i] = static_cast<int64_t>(sqlite3_column_int64(st, i));
          break;
        case SQLITE_NULL:
          break;
        case SQLITE_FLOAT: {
          double d = sqlite3_column_double(st, i);
          if (d == static_cast<double>(static_cast<int64_t>(d)))
            row[i] = static_cast<int64_t>(d);
          else
            row[i] = std::to_string(d);
          break;
        }
        default: {
          const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
          row[i] = std::string(text ? text : "", sqlite3_column_bytes(st, i));
        }
      }
    }
    out.rows.push_back(std::move(row));
  }
  sqlite3_progress_handler(ro_, 0, nullptr, nullptr);
  if (rc == SQLITE_INTERRUPT)
    return make_error("query cancelled after " + std::to_string(options.timeout_ms) + " ms");
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return make_error(sqlite3_errmsg(ro_));
  return out;
}

Result<uint64_t> SqliteStore::apply_retention(int64_t cutoff_ns) {
  uint64_t deleted = 0;
  std::vector<std::string> tables;
  for (const auto& s : event::schemas()) tables.emplace_back(s.table);
  for (const auto& t : tables) {
    // Bounded steps: the writer lock is released between them, so ingest goes on.
    std::string sql = "DELETE FROM " + t + " WHERE rowid IN (SELECT rowid FROM " + t +
                      " WHERE ts_ns < " + std::to_string(cutoff_ns) + " LIMIT " +
                      std::to_string(options_.retention_chunk_rows) + ")";
    while (true) {
      std::lock_guard lock(write_mu_);
      if (auto st = exec(sql); !st) return make_error(st.error());
      int n = sqlite3_changes(db_);
      deleted += static_cast<uint64_t>(n);
      if (static_cast<size_t>(n) < options_.retention_chunk_rows) break;
    }
  }
  std::lock_guard lock(write_mu_);
  if (auto st = exec(bookkeeping_retention_sql(cutoff_ns)); !st) return make_error(st.error());
  return deleted;
}

}  // namespace scope::store
