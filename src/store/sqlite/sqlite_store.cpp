#include "store/sqlite/sqlite_store.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <string_view>
#include <unordered_set>

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

// Reader limits: a value (zeroblob, randomblob, group_concat, printf, ...) of more than
// kMaxValueBytes fails with "string or blob too big" instead of growing until the OOM killer
// comes; the rest keep a hostile statement small to compile.
constexpr int kMaxValueBytes = 16 << 20;
constexpr int kMaxSqlBytes = 1 << 20;
constexpr std::pair<int, int> kReaderLimits[] = {
    {SQLITE_LIMIT_LENGTH, kMaxValueBytes},
    {SQLITE_LIMIT_SQL_LENGTH, kMaxSqlBytes},
    {SQLITE_LIMIT_COLUMN, 100},  // a row holds at most 100 values of kMaxValueBytes
    {SQLITE_LIMIT_EXPR_DEPTH, 250},
    {SQLITE_LIMIT_COMPOUND_SELECT, 64},
    {SQLITE_LIMIT_VDBE_OP, 1000000},
    {SQLITE_LIMIT_FUNCTION_ARG, 127},
    {SQLITE_LIMIT_ATTACHED, 0},
    {SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 10000},
    {SQLITE_LIMIT_VARIABLE_NUMBER, 0},
    {SQLITE_LIMIT_TRIGGER_DEPTH, 1},
    {SQLITE_LIMIT_WORKER_THREADS, 0},
};

// Functions the SQL API may call, space-separated: SQLite's core scalar, aggregate, window,
// date, math and JSON functions. Anything else (load_extension, fts3_tokenizer,
// readfile/writefile when a build has them, sqlite_offset, ...) is refused.
constexpr const char* kAllowedFunctions =
    "-> ->> abs acos acosh asin asinh atan atan2 atanh avg ceil ceiling char coalesce concat "
    "concat_ws cos cosh count cume_dist current_date current_time current_timestamp date "
    "datetime degrees dense_rank exp first_value floor format glob group_concat hex if ifnull "
    "iif instr json json_array json_array_length json_error_position json_extract "
    "json_group_array json_group_object json_insert json_object json_patch json_pretty "
    "json_quote json_remove json_replace json_set json_type json_valid jsonb jsonb_array "
    "jsonb_extract jsonb_group_array jsonb_group_object jsonb_insert jsonb_object jsonb_patch "
    "jsonb_remove jsonb_replace jsonb_set julianday lag last_value lead length like likelihood "
    "likely ln log log10 log2 lower ltrim max min mod nth_value ntile nullif octet_length "
    "percent_rank pi pow power printf quote radians random randomblob rank replace round "
    "row_number rtrim sign sin sinh soundex sqlite_source_id sqlite_version sqrt strftime "
    "string_agg substr substring sum tan tanh time timediff total trim trunc typeof unhex "
    "unicode unistr unixepoch unlikely upper zeroblob";

const std::unordered_set<std::string>& allowed_functions() {
  static const std::unordered_set<std::string> names = [] {
    std::unordered_set<std::string> out;
    std::string_view all = kAllowedFunctions;
    for (size_t at = 0; at < all.size();) {
      size_t end = std::min(all.find(' ', at), all.size());
      if (end > at) out.emplace(all.substr(at, end - at));
      at = end + 1;
    }
    return out;
  }();
  return names;
}

// Table-valued functions that read nothing but their arguments, and those that describe a
// table (their PRAGMA is checked: only for a readable table). Not sqlite_master, dbstat or
// sqlite_dbpage: they name or read every table.
const std::unordered_set<std::string>& readable_virtual_tables() {
  static const std::unordered_set<std::string> names = {
      "json_each", "json_tree", "pragma_table_info", "pragma_table_xinfo", "pragma_index_list"};
  return names;
}

// PRAGMAs that describe a readable table's columns and indexes (what the pragma_* table-valued
// functions above run).
const std::unordered_set<std::string>& allowed_pragmas() {
  static const std::unordered_set<std::string> names = {"table_info", "table_xinfo", "index_list"};
  return names;
}

std::string lower(const char* s) {
  std::string out = s ? s : "";
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

const char* action_name(int action) {
  switch (action) {
    case SQLITE_CREATE_INDEX:
    case SQLITE_CREATE_TEMP_INDEX:
      return "CREATE INDEX";
    case SQLITE_CREATE_TABLE:
    case SQLITE_CREATE_TEMP_TABLE:
      return "CREATE TABLE";
    case SQLITE_CREATE_TRIGGER:
    case SQLITE_CREATE_TEMP_TRIGGER:
      return "CREATE TRIGGER";
    case SQLITE_CREATE_VIEW:
    case SQLITE_CREATE_TEMP_VIEW:
      return "CREATE VIEW";
    case SQLITE_CREATE_VTABLE:
      return "CREATE VIRTUAL TABLE";
    case SQLITE_DELETE:
      return "DELETE";
    case SQLITE_DROP_INDEX:
    case SQLITE_DROP_TEMP_INDEX:
    case SQLITE_DROP_TABLE:
    case SQLITE_DROP_TEMP_TABLE:
    case SQLITE_DROP_TRIGGER:
    case SQLITE_DROP_TEMP_TRIGGER:
    case SQLITE_DROP_VIEW:
    case SQLITE_DROP_TEMP_VIEW:
    case SQLITE_DROP_VTABLE:
      return "DROP";
    case SQLITE_INSERT:
      return "INSERT";
    case SQLITE_UPDATE:
      return "UPDATE";
    case SQLITE_ATTACH:
      return "ATTACH";
    case SQLITE_DETACH:
      return "DETACH";
    case SQLITE_ALTER_TABLE:
      return "ALTER TABLE";
    case SQLITE_REINDEX:
      return "REINDEX";
    case SQLITE_ANALYZE:
      return "ANALYZE";
    case SQLITE_SAVEPOINT:
      return "SAVEPOINT";
    case SQLITE_COPY:
      return "COPY";
    default:
      return "this statement";
  }
}

// Whether an authorizer action changes the database (rather than the connection).
bool writes(int action) {
  switch (action) {
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
    case SQLITE_PRAGMA:
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
    case SQLITE_FUNCTION:
    case SQLITE_READ:
    case SQLITE_SELECT:
    case SQLITE_RECURSIVE:
      return false;
    default:
      return true;
  }
}

}  // namespace

struct SqliteStore::ReaderPolicy {
  std::unordered_set<std::string> tables;  // lower case
  std::string refused;    // why the current statement was refused (its error message)
  bool internal = false;  // the store's own statements on the reader pass
  // Names in FROM none of whose columns the statement reads (count(*) FROM x): SQLite says
  // neither whether x is a table or a WITH of the statement, so query() looks them up once
  // the statement has compiled (pending) and remembers those that are not tables (ctes).
  std::unordered_set<std::string> pending, ctes;
  bool compiled = false;     // the statement compiled: a recompile may not add names
  bool registering = false;  // SQLite is registering an eponymous virtual table

  void reset() {
    refused.clear();
    pending.clear();
    ctes.clear();
    compiled = registering = false;
  }

  int refuse(std::string why) {
    if (refused.empty()) refused = std::move(why);
    return SQLITE_DENY;
  }
  int not_readable(const char* table) {
    return refuse("table " + std::string(table ? table : "?") +
                  " is not readable through the SQL API");
  }

  // sqlite3_set_authorizer's callback: called while a statement compiles (and when a
  // pragma_* table-valued function runs its PRAGMA), so a refused statement never runs.
  static int authorize(void* arg, int action, const char* a1, const char* a2, const char* a3,
                       const char* /*trigger or view*/) {
    auto& p = *static_cast<ReaderPolicy*>(arg);
    if (p.internal) return SQLITE_OK;
    switch (action) {
      case SQLITE_SELECT:
      case SQLITE_RECURSIVE:
        return SQLITE_OK;
      case SQLITE_READ: {
        std::string table = lower(a1);
        if (a3 && std::strcmp(a3, "main") != 0)
          return p.refuse("database " + std::string(a3) + " is not readable through the SQL API");
        if (p.tables.count(table) || readable_virtual_tables().count(table)) return SQLITE_OK;
        // The end of registering an eponymous virtual table (below): not the user's read.
        if (p.registering && table == "sqlite_master" && a2 && lower(a2) == "rowid") {
          p.registering = false;
          return SQLITE_OK;
        }
        // A name in FROM without a column read and without a schema: a table or a WITH.
        if (!a3 && a2 && !*a2 && table.rfind("sqlite_", 0) != 0 && table.rfind("pragma_", 0) != 0) {
          if (p.ctes.count(table)) return SQLITE_OK;
          if (!p.compiled) {
            p.pending.insert(table);
            return SQLITE_OK;
          }
        }
        return p.not_readable(a1);
      }
      case SQLITE_FUNCTION:
        if (allowed_functions().count(lower(a2))) return SQLITE_OK;
        return p.refuse("not allowed in the SQL API: function " + std::string(a2 ? a2 : "?"));
      case SQLITE_PRAGMA:
        if (!allowed_pragmas().count(lower(a1)))
          return p.refuse("not allowed in the SQL API: PRAGMA " + std::string(a1 ? a1 : "?"));
        // Only about a readable table of the main database.
        if (a3 && lower(a3) != "main")
          return p.refuse("database " + std::string(a3) + " is not readable through the SQL API");
        if (!a2 || !p.tables.count(lower(a2))) return p.not_readable(a2);
        return SQLITE_OK;
      case SQLITE_TRANSACTION:
        return p.refuse("not allowed in the SQL API: " + std::string(a1 ? a1 : "BEGIN") +
                        " (each query runs on its own)");
      case SQLITE_UPDATE:
        // The first use of an eponymous virtual table (json_each, pragma_table_info) asks
        // for sqlite_master's columns this way, then for its rowid, while it registers the
        // table in memory. The statement still has to be read-only (checked after it
        // compiles).
        if (lower(a1) == "sqlite_master" && a3 && std::strcmp(a3, "main") == 0) {
          p.registering = true;
          return SQLITE_OK;
        }
        [[fallthrough]];
      default: {
        std::string what = std::string("not allowed in the SQL API: ") + action_name(action);
        // A write says so in the words every store uses for it.
        if (writes(action))
          return p.refuse("read-only: the store accepts queries only (" + what + ")");
        return p.refuse(what);
      }
    }
  }
};

SqliteStore::SqliteStore(SqliteOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const SqliteOptions& options) {
  std::unique_ptr<SqliteStore> s(new SqliteStore(options));
  if (auto st = s->init(); !st) return make_error(st.error());
  return s;
}

SqliteStore::~SqliteStore() {
  for (auto* st : inserts_) sqlite3_finalize(st);
  sqlite3_finalize(record_batch_);
  sqlite3_finalize(upsert_minute_);
  for (auto* st : slot_inserts_) sqlite3_finalize(st);
  for (auto* st : memory_inserts_) sqlite3_finalize(st);
  for (const auto& steps : memory_steps_)
    for (const auto& [st, slot] : steps) sqlite3_finalize(st);
  for (auto* st : open_upserts_) sqlite3_finalize(st);
  for (auto* st : request_steps_) sqlite3_finalize(st);
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
  for (const SlotRollup* r : slot_rollups()) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v3(db_, slot_insert(*r, 1, false).c_str(), -1, SQLITE_PREPARE_PERSISTENT,
                           &st, nullptr) != SQLITE_OK)
      return make_error(last_error(db_));
    slot_inserts_.push_back(st);
  }
  for (const MemoryRollup* m : memory_rollups()) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v3(db_, memory_insert(*m, 1, false).c_str(), -1, SQLITE_PREPARE_PERSISTENT,
                           &st, nullptr) != SQLITE_OK)
      return make_error(last_error(db_));
    memory_inserts_.push_back(st);
    auto& steps = memory_steps_.emplace_back();
    for (const auto& step : memory_update(*m, false)) {
      if (sqlite3_prepare_v3(db_, step.sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr) !=
          SQLITE_OK)
        return make_error(last_error(db_));
      steps.emplace_back(st, step.slot);
    }
  }
  for (const auto& sql : request_update(false)) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr) !=
        SQLITE_OK)
      return make_error(last_error(db_));
    request_steps_.push_back(st);
  }
  for (const OpenRollup* r : open_rollups()) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v3(db_, open_upsert(*r, 1, false).c_str(), -1, SQLITE_PREPARE_PERSISTENT,
                           &st, nullptr) != SQLITE_OK)
      return make_error(last_error(db_));
    open_upserts_.push_back(st);
  }

  return open_reader();
}

Status SqliteStore::open_reader() {
  if (sqlite3_open_v2(options_.path.c_str(), &ro_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK)
    return make_error("cannot open " + options_.path +
                      " for reading: " + (ro_ ? sqlite3_errmsg(ro_) : "out of memory"));
  sqlite3_busy_timeout(ro_, 5000);
  sqlite3_exec(ro_, "PRAGMA query_only=1; PRAGMA cache_size=-65536;", nullptr, nullptr, nullptr);
  sqlite3_db_config(ro_, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, nullptr);
  sqlite3_db_config(ro_, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(ro_, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  for (auto [limit, value] : kReaderLimits) sqlite3_limit(ro_, limit, value);
  policy_ = std::make_unique<ReaderPolicy>();
  for (const auto& t : sql_readable_tables()) policy_->tables.insert(lower(t.c_str()));
  if (sqlite3_set_authorizer(ro_, &ReaderPolicy::authorize, policy_.get()) != SQLITE_OK)
    return make_error(last_error(ro_));
  return Ok{};
}

void SqliteStore::end_request() {
  sqlite3_progress_handler(ro_, 0, nullptr, nullptr);
  sqlite3_limit(ro_, SQLITE_LIMIT_VARIABLE_NUMBER, 0);
  for (sqlite3_stmt* st = sqlite3_next_stmt(ro_, nullptr); st; st = sqlite3_next_stmt(ro_, st))
    if (sqlite3_stmt_busy(st)) sqlite3_reset(st);
  // The authorizer refuses BEGIN; should a transaction be open anyway, it must not pin a
  // snapshot (stale answers, a WAL that cannot be checkpointed) past this request.
  if (!sqlite3_get_autocommit(ro_)) {
    policy_->internal = true;
    sqlite3_exec(ro_, "ROLLBACK", nullptr, nullptr, nullptr);
    policy_->internal = false;
  }
  policy_->reset();
}

bool SqliteStore::reader_knows(const std::string& name) {
  // Any table or view of the schema, any virtual table module (dbstat, sqlite_dbpage, fts5,
  // ...), whether the SQL API may read it or not. The store's own statement, with %Q
  // quoting: the reader takes no bound parameters (SQLITE_LIMIT_VARIABLE_NUMBER).
  char* sql = sqlite3_mprintf(
      "SELECT EXISTS (SELECT 1 FROM main.sqlite_schema WHERE type IN ('table', 'view') AND "
      "name = %Q COLLATE NOCASE) OR EXISTS (SELECT 1 FROM temp.sqlite_schema WHERE name = %Q "
      "COLLATE NOCASE) OR EXISTS (SELECT 1 FROM pragma_module_list WHERE name = %Q COLLATE "
      "NOCASE)",
      name.c_str(), name.c_str(), name.c_str());
  if (!sql) return true;
  policy_->internal = true;
  sqlite3_stmt* st = nullptr;
  bool known = true;  // when in doubt, a table
  if (sqlite3_prepare_v2(ro_, sql, -1, &st, nullptr) == SQLITE_OK && st &&
      sqlite3_step(st) == SQLITE_ROW)
    known = sqlite3_column_int(st, 0) != 0;
  sqlite3_finalize(st);
  sqlite3_free(sql);
  policy_->internal = false;
  return known;
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
  // The per-slot rollups (store/rollup.h), in the same transaction.
  for (size_t r = 0; r < slot_rollups().size(); ++r) {
    sqlite3_stmt* st = slot_inserts_[r];
    for (const auto& row : slot_rows(*slot_rollups()[r], batch)) {
      int col = 1;
      sqlite3_bind_int64(st, col++, row.slot_ns);
      sqlite3_bind_text(st, col++, batch.node.data(), static_cast<int>(batch.node.size()),
                        SQLITE_STATIC);
      sqlite3_bind_int64(st, col++, row.pid);
      sqlite3_bind_text(st, col++, row.comm.data(), static_cast<int>(row.comm.size()),
                        SQLITE_STATIC);
      for (const auto& v : row.keys) bind_value(st, col++, v);
      for (const auto& v : row.values) bind_value(st, col++, v);
      rc = sqlite3_step(st);
      sqlite3_reset(st);
      if (rc != SQLITE_DONE) return fail(last_error(db_));
    }
  }
  // Memory in use (store/rollup.h): the batch's allocations and frees, then what they change
  // recomputed per process from its earliest row in the batch on.
  for (size_t m = 0; m < memory_rollups().size(); ++m) {
    std::map<int64_t, int64_t> first_ts;  // per pid
    for (const auto& row : memory_rows(*memory_rollups()[m], batch)) {
      sqlite3_stmt* st = memory_inserts_[m];
      sqlite3_bind_text(st, 1, batch.node.data(), static_cast<int>(batch.node.size()),
                        SQLITE_STATIC);
      int col = 2;
      for (int64_t v : {row.pid, row.seq, row.ts_ns, row.ptr, row.is_alloc, row.bytes})
        sqlite3_bind_int64(st, col++, v);
      sqlite3_bind_text(st, col, row.comm.data(), static_cast<int>(row.comm.size()), SQLITE_STATIC);
      rc = sqlite3_step(st);
      sqlite3_reset(st);
      if (rc != SQLITE_DONE) return fail(last_error(db_));
      auto [it, fresh] = first_ts.try_emplace(row.pid, row.ts_ns);
      if (!fresh) it->second = std::min(it->second, row.ts_ns);
    }
    for (const auto& [pid, ts] : first_ts) {
      for (const auto& [st, slot] : memory_steps_[m]) {
        sqlite3_bind_text(st, 1, batch.node.data(), static_cast<int>(batch.node.size()),
                          SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, pid);
        sqlite3_bind_int64(st, 3, slot ? ts - ts % kSlotNs : ts);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) return fail(last_error(db_));
      }
    }
  }
  // llm/decode's requests (store/rollup.h): recomputed per context from the batch's decodes on.
  for (const auto& c : request_contexts(batch)) {
    for (sqlite3_stmt* st : request_steps_) {
      sqlite3_bind_text(st, 1, batch.node.data(), static_cast<int>(batch.node.size()),
                        SQLITE_STATIC);
      int col = 2;
      for (int64_t v : {c.pid, c.ctx, c.ts_ns, c.seq}) sqlite3_bind_int64(st, col++, v);
      rc = sqlite3_step(st);
      sqlite3_reset(st);
      if (rc != SQLITE_DONE) return fail(last_error(db_));
    }
  }
  // host/opens' rollups (store/rollup.h), merged into the rows already there.
  for (size_t r = 0; r < open_rollups().size(); ++r) {
    sqlite3_stmt* st = open_upserts_[r];
    for (const auto& row : open_rows(*open_rollups()[r], batch)) {
      int col = 1;
      sqlite3_bind_int64(st, col++, row.width_ns);
      sqlite3_bind_int64(st, col++, row.bucket_ns);
      sqlite3_bind_text(st, col++, batch.node.data(), static_cast<int>(batch.node.size()),
                        SQLITE_STATIC);
      for (const auto& v : row.keys) bind_value(st, col++, v);
      sqlite3_bind_int64(st, col++, row.opens);
      sqlite3_bind_int64(st, col++, row.errors);
      rc = sqlite3_step(st);
      sqlite3_reset(st);
      if (rc != SQLITE_DONE) return fail(last_error(db_));
    }
  }
  if (auto st = exec("COMMIT"); !st) return fail(st.error());
  return res;
}

Result<QueryResult> SqliteStore::query(std::string_view sql, const QueryOptions& options) {
  return read(sql, {}, options);
}

Result<QueryResult> SqliteStore::select(std::string_view sql,
                                        const std::vector<event::Value>& params,
                                        const QueryOptions& options) {
  return read(sql, params, options);
}

Result<QueryResult> SqliteStore::read(std::string_view sql, const std::vector<event::Value>& params,
                                      const QueryOptions& options) {
  std::lock_guard lock(read_mu_);
  if (sql.size() > static_cast<size_t>(kMaxSqlBytes))
    return make_error("query too long (" + std::to_string(sql.size()) + " bytes; at most " +
                      std::to_string(kMaxSqlBytes) + ")");
  // Destroyed after the statement below is finalized.
  struct EndRequest {
    SqliteStore* s;
    ~EndRequest() { s->end_request(); }
  } finish{this};
  policy_->reset();
  // The SQL API's statements take no parameters; select()'s take the ones it binds.
  sqlite3_limit(ro_, SQLITE_LIMIT_VARIABLE_NUMBER, static_cast<int>(params.size()));
  // A refusal says what was refused; SQLite's own message says "not authorized".
  auto error = [&](const char* sqlite_message) -> Result<QueryResult> {
    if (!policy_->refused.empty()) return make_error(policy_->refused);
    std::string msg = sqlite_message;
    if (sqlite3_errcode(ro_) == SQLITE_TOOBIG)
      msg += " (a value may be at most " + std::to_string(kMaxValueBytes >> 20) +
             " MiB in the SQL API)";
    return make_error(msg);
  };
  sqlite3_stmt* st = nullptr;
  const char* tail = nullptr;
  if (sqlite3_prepare_v2(ro_, sql.data(), static_cast<int>(sql.size()), &st, &tail) != SQLITE_OK)
    return error(sqlite3_errmsg(ro_));
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> guard(st, sqlite3_finalize);
  if (!st) return make_error("empty query");
  for (const char* p = tail; p && p < sql.data() + sql.size() && *p; ++p)
    if (!std::strchr(" \t\r\n;", *p)) return make_error("one statement at a time");
  if (!sqlite3_stmt_readonly(st)) return make_error("read-only: the store accepts queries only");
  if (static_cast<int>(params.size()) != sqlite3_bind_parameter_count(st))
    return make_error("the query has " + std::to_string(sqlite3_bind_parameter_count(st)) +
                      " parameters, " + std::to_string(params.size()) + " given");
  for (size_t i = 0; i < params.size(); ++i) {
    int at = static_cast<int>(i) + 1;
    int rc = SQLITE_OK;
    if (const auto* n = std::get_if<int64_t>(&params[i]))
      rc = sqlite3_bind_int64(st, at, *n);
    else if (const auto* t = std::get_if<std::string>(&params[i]))
      rc = sqlite3_bind_text(st, at, t->data(), static_cast<int>(t->size()), SQLITE_TRANSIENT);
    else
      rc = sqlite3_bind_null(st, at);
    if (rc != SQLITE_OK) return error(sqlite3_errmsg(ro_));
  }
  // A name the authorizer could not place (count(*) FROM x): a table unless it is none.
  for (const auto& name : policy_->pending) {
    if (reader_knows(name))
      return make_error("table " + name + " is not readable through the SQL API");
    policy_->ctes.insert(name);
  }
  policy_->compiled = true;

  // Cancel a query that runs past its timeout: the progress handler inside SQLite, the
  // check between rows while they are built.
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + std::chrono::milliseconds(options.timeout_ms);
  sqlite3_progress_handler(
      ro_, 10000,
      [](void* arg) -> int { return Clock::now() > *static_cast<Clock::time_point*>(arg); },
      &deadline);
  QueryResult out;
  int ncol = sqlite3_column_count(st);
  for (int i = 0; i < ncol; ++i) out.columns.emplace_back(sqlite3_column_name(st, i));
  size_t bytes = 0;
  auto truncate = [&](const char* by) {
    out.truncated = true;
    out.truncated_by = by;
  };
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (out.rows.size() >= options.max_rows) {
      truncate("rows");
      break;
    }
    if (Clock::now() > deadline) {
      rc = SQLITE_INTERRUPT;
      break;
    }
    std::vector<event::Value> row(ncol);
    size_t row_bytes = 0;
    bool fits = true;
    for (int i = 0; i < ncol && fits; ++i) {
      int type = sqlite3_column_type(st, i);
      // Counted before the value is copied: a value past the budget is never built.
      size_t cost = kQueryValueOverhead;
      if (type == SQLITE_TEXT || type == SQLITE_BLOB)
        cost += static_cast<size_t>(sqlite3_column_bytes(st, i));
      if (cost > options.max_bytes - std::min(options.max_bytes, bytes + row_bytes)) {
        fits = false;
        break;
      }
      row_bytes += cost;
      switch (type) {
        case SQLITE_INTEGER:
          row[i] = static_cast<int64_t>(sqlite3_column_int64(st, i));
          break;
        case SQLITE_NULL:
          break;
        case SQLITE_FLOAT: {
          double d = sqlite3_column_double(st, i);
          // In range before the cast (1e999 is infinity; casting it is undefined).
          if (std::fabs(d) < 9.2e18 && d == static_cast<double>(static_cast<int64_t>(d)))
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
    if (!fits) {
      truncate("bytes");
      break;
    }
    bytes += row_bytes;
    out.rows.push_back(std::move(row));
  }
  if (rc == SQLITE_INTERRUPT)
    return make_error("query cancelled after " + std::to_string(options.timeout_ms) + " ms");
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return error(sqlite3_errmsg(ro_));
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
  // Memory rows before the cutoff: deleted, and the rest recomputed (only when some were).
  for (const MemoryRollup* m : memory_rollups()) {
    sqlite3_stmt* st = nullptr;
    std::string old = "SELECT 1 FROM " + std::string(m->table) + " WHERE ts_ns < " +
                      std::to_string(cutoff_ns) + " LIMIT 1";
    if (sqlite3_prepare_v2(db_, old.c_str(), -1, &st, nullptr) != SQLITE_OK)
      return make_error(last_error(db_));
    bool any = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (!any) continue;
    if (auto s = exec("BEGIN IMMEDIATE; " + memory_retention_sql(*m, cutoff_ns) + "COMMIT;"); !s) {
      (void)exec("ROLLBACK");
      return make_error(s.error());
    }
  }
  return deleted;
}

}  // namespace scope::store
