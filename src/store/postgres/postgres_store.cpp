#include "store/postgres/postgres_store.h"

#include <spdlog/spdlog.h>

#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "common/clock.h"
#include "event/schema.h"
#include "store/postgres/migrations.h"
#include "store/rollup.h"

namespace scope::store {

namespace {

// libpq type oids (catalog/pg_type_d.h is not in libpq-dev).
constexpr Oid kBoolOid = 16, kInt8Oid = 20, kInt2Oid = 21, kInt4Oid = 23, kOidOid = 26,
              kFloat4Oid = 700, kFloat8Oid = 701, kNumericOid = 1700;

// Serialises migrations of concurrent `scope server`s on one database.
constexpr int64_t kMigrationLock = 0x73636f7065;  // "scope"

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

bool valid_identifier(std::string_view s) {
  if (s.empty() || s.size() > 48) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return !(s[0] >= '0' && s[0] <= '9');
}

struct PgResult {
  PGresult* r;
  explicit PgResult(PGresult* res) : r(res) {}
  ~PgResult() { PQclear(r); }
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  ExecStatusType status() const { return PQresultStatus(r); }
};

std::string conn_error(PGconn* c) {
  std::string e = c ? PQerrorMessage(c) : "no connection";
  while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
  return e.empty() ? "PostgreSQL error" : e;
}

// Runs statements that return no rows.
Status exec(PGconn* c, const std::string& sql) {
  PgResult r(PQexec(c, sql.c_str()));
  if (r.status() != PGRES_COMMAND_OK && r.status() != PGRES_TUPLES_OK)
    return make_error(conn_error(c));
  return Ok{};
}

Result<std::string> scalar_text(PGconn* c, const std::string& sql) {
  PgResult r(PQexec(c, sql.c_str()));
  if (r.status() != PGRES_TUPLES_OK) return make_error(conn_error(c));
  if (PQntuples(r.r) == 0 || PQgetisnull(r.r, 0, 0)) return std::string();
  return std::string(PQgetvalue(r.r, 0, 0));
}

void rollback(PGconn* c) {
  if (PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE)
    PQclear(PQexec(c, "ROLLBACK"));
}

// COPY text format: backslash escapes, \N for NULL. Invalid UTF-8 and NUL
// bytes (comm and paths come from the kernel as raw bytes) become '?': one
// bad string must not make a whole batch unstorable.
// The length of the valid UTF-8 sequence of 2-4 bytes at p[i], or 0 when it
// is not one (PostgreSQL rejects a whole COPY or statement for one bad byte).
size_t utf8_len(const unsigned char* p, size_t i, size_t n) {
  unsigned char c = p[i];
  size_t len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
  bool ok = len > 0 && i + len <= n;
  for (size_t k = 1; ok && k < len; ++k) ok = (p[i + k] & 0xc0) == 0x80;
  if (ok && len == 3) {
    unsigned cp = ((c & 0x0fu) << 12) | ((p[i + 1] & 0x3fu) << 6);
    ok = cp >= 0x800 && !(cp >= 0xd800 && cp <= 0xdfff);
  }
  if (ok && len == 4) {
    unsigned cp = ((c & 0x07u) << 18) | ((p[i + 1] & 0x3fu) << 12);
    ok = cp >= 0x10000 && cp <= 0x10ffff;
  }
  return ok ? len : 0;
}

// `s` with NUL bytes and invalid UTF-8 as '?', for a statement parameter.
std::string utf8_text(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::string out;
  for (size_t i = 0; i < s.size();) {
    size_t len = p[i] < 0x80 ? 1 : utf8_len(p, i, s.size());
    if (!len || p[i] == 0) {
      out += '?';
      ++i;
      continue;
    }
    out.append(s.data() + i, len);
    i += len;
  }
  return out;
}

void append_copy_text(std::string& out, std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size();
  for (size_t i = 0; i < n;) {
    unsigned char c = p[i];
    if (c < 0x80) {
      switch (c) {
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case 0:
          out += '?';
          break;
        default:
          out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    size_t len = utf8_len(p, i, n);
    if (!len) {
      out += '?';
      ++i;
      continue;
    }
    out.append(s.data() + i, len);
    i += len;
  }
}

void append_int(std::string& out, int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

std::string column_list(const event::FamilySchema& s) {
  std::string out;
  for (const auto& c : event::kCommonColumns) out += (out.empty() ? "" : ",") + std::string(c.name);
  for (const auto& c : s.columns) out += "," + std::string(c.name);
  return out;
}

std::string partition_name(std::string_view table, int64_t day) {
  return std::string(table) + "_d" + std::to_string(day);
}

}  // namespace

Result<Partitioning> parse_partitioning(std::string_view name) {
  if (name == "auto") return Partitioning::kAuto;
  if (name == "native") return Partitioning::kNative;
  if (name == "timescale") return Partitioning::kTimescale;
  return make_error("unknown partitioning '" + std::string(name) + "' (auto, native or timescale)");
}

Result<std::unique_ptr<PostgresStore>> PostgresStore::open(const PostgresOptions& options) {
  if (!valid_identifier(options.schema))
    return make_error("invalid PostgreSQL schema name '" + options.schema +
                      "' (lower-case letters, digits and _)");
  if (options.partition_ns <= 0) return make_error("partition interval must be positive");
  std::unique_ptr<PostgresStore> s(new PostgresStore(options));
  if (auto st = s->init(); !st) return make_error(st.error());
  return s;
}

PostgresStore::~PostgresStore() {
  if (ro_) PQfinish(ro_);
  if (db_) PQfinish(db_);
}

std::string PostgresStore::qualified(std::string_view table) const {
  return options_.schema + "." + std::string(table);
}

Status PostgresStore::ensure(PGconn*& conn) {
  if (conn && PQstatus(conn) == CONNECTION_OK) return Ok{};
  if (conn) {
    PQfinish(conn);
    conn = nullptr;
  }
  std::string timeout = std::to_string(options_.connect_timeout_s);
  const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
  const char* values[] = {options_.url.c_str(), timeout.c_str(), "scope", nullptr};
  PGconn* c = PQconnectdbParams(keys, values, 1);
  if (!c || PQstatus(c) != CONNECTION_OK) {
    std::string err = conn_error(c);
    if (c) PQfinish(c);
    return make_error("cannot connect to PostgreSQL: " + err);
  }
  // Notices (e.g. "relation already exists, skipping") are not errors.
  PQsetNoticeProcessor(
      c, [](void*, const char*) {}, nullptr);
  if (auto st = exec(c, "SET search_path TO " + options_.schema); !st) {
    PQfinish(c);
    return st;
  }
  conn = c;
  return Ok{};
}

Status PostgresStore::init() {
  if (auto st = ensure(db_); !st) return st;
  if (auto st = exec(db_, "CREATE SCHEMA IF NOT EXISTS " + options_.schema); !st) {
    // A role without CREATE on the database can still use an existing schema.
    auto exists =
        scalar_text(db_, "SELECT 1 FROM pg_namespace WHERE nspname = '" + options_.schema + "'");
    if (!exists || exists->empty()) return make_error("cannot create schema: " + st.error());
  }
  if (auto st = exec(db_, "BEGIN"); !st) return st;
  auto fail = [&](const std::string& what, const std::string& err) -> Status {
    rollback(db_);
    return make_error(what + ": " + err);
  };
  if (auto st = exec(db_, "SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLock) + ")");
      !st)
    return fail("migration lock", st.error());
  if (auto st =
          exec(db_, "CREATE TABLE IF NOT EXISTS scope_meta (key TEXT PRIMARY KEY, value TEXT)");
      !st)
    return fail("scope_meta", st.error());
  auto version_text = scalar_text(db_, "SELECT value FROM scope_meta WHERE key = 'schema_version'");
  if (!version_text) return fail("schema version", version_text.error());
  int version = version_text->empty() ? 0 : std::atoi(version_text->c_str());
  if (version > kSchemaVersion)
    return fail("schema " + options_.schema,
                "version " + std::to_string(version) + " is newer than this scope (" +
                    std::to_string(kSchemaVersion) + "): upgrade scope");
  auto recorded = scalar_text(db_, "SELECT value FROM scope_meta WHERE key = 'partitioning'");
  if (!recorded) return fail("partitioning", recorded.error());
  if (!recorded->empty()) {
    partitioning_ = *recorded;
  } else {
    bool timescale_available = false;
    auto avail =
        scalar_text(db_, "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'");
    if (avail && *avail == "1") timescale_available = true;
    if (options_.partitioning == Partitioning::kTimescale && !timescale_available)
      return fail("partitioning", "the timescaledb extension is not available on this server");
    partitioning_ = options_.partitioning == Partitioning::kNative ? "native"
                    : timescale_available                          ? "timescale"
                                                                   : "native";
  }
  // Migrations, in order: step v brings a database from version v to v + 1.
  PostgresMigrationParams mp;
  mp.timescale = partitioning_ == "timescale";
  mp.partition_ns = options_.partition_ns;
  mp.compress_after_ns =
      options_.compress_after_ns > 0 ? options_.compress_after_ns : 86400LL * 1000000000LL;
  mp.retention_ns = options_.retention_ns;
  auto steps = postgres_migrations(mp);
  for (int v = version; v < kSchemaVersion; ++v) {
    if (auto st = exec(db_, steps[v]); !st)
      return fail("migration to schema version " + std::to_string(v + 1), st.error());
    if (auto st =
            exec(db_, "INSERT INTO scope_meta VALUES ('schema_version', '" + std::to_string(v + 1) +
                          "') ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;"
                          "INSERT INTO scope_meta VALUES ('partitioning', '" +
                          partitioning_ + "') ON CONFLICT (key) DO NOTHING");
        !st)
      return fail("schema version", st.error());
  }
  if (auto st = exec(db_, "COMMIT"); !st) return fail("commit", st.error());
  spdlog::info("scope: PostgreSQL schema {} at version {} ({} partitioning)", options_.schema,
               kSchemaVersion, partitioning_);

  if (partitioning_ == "native") {
    PgResult r(PQexec(db_, ("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = "
                            "i.inhrelid JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace "
                            "n ON n.oid = p.relnamespace WHERE n.nspname = '" +
                            options_.schema + "' AND p.relname = 'cuda_events'")
                               .c_str()));
    if (r.status() != PGRES_TUPLES_OK) return make_error(conn_error(db_));
    for (int i = 0; i < PQntuples(r.r); ++i) {
      std::string name = PQgetvalue(r.r, i, 0);
      auto pos = name.rfind("_d");
      if (pos != std::string::npos && name.find("_default") == std::string::npos)
        partitions_.insert(std::atoll(name.c_str() + pos + 2));
    }
    int64_t now = unix_now_ns();
    if (auto st =
            ensure_partitions(db_, now, now + options_.partitions_ahead * options_.partition_ns);
        !st)
      return st;
  }
  return ensure(ro_);
}

Status PostgresStore::ensure_partitions(PGconn* conn, int64_t min_ts, int64_t max_ts) {
  if (partitioning_ != "native" || max_ts < 0) return Ok{};
  int64_t first = floor_div(std::max<int64_t>(min_ts, 0), options_.partition_ns);
  int64_t last = floor_div(max_ts, options_.partition_ns);
  // A batch spanning many days (bad clocks, synthetic timestamps) goes to the
  // DEFAULT partition rather than creating hundreds of tables.
  constexpr int64_t kMaxNewPerCall = 16;
  std::vector<int64_t> missing;
  for (int64_t d = first; d <= last && static_cast<int64_t>(missing.size()) <= kMaxNewPerCall; ++d)
    if (!partitions_.count(d)) missing.push_back(d);
  if (missing.empty() || static_cast<int64_t>(missing.size()) > kMaxNewPerCall) return Ok{};
  for (int64_t d : missing) {
    std::string sql = "BEGIN; SET LOCAL lock_timeout = '5s';";
    for (const auto& s : event::schemas())
      sql += "CREATE TABLE IF NOT EXISTS " + partition_name(s.table, d) + " PARTITION OF " +
             std::string(s.table) + " FOR VALUES FROM (" +
             std::to_string(d * options_.partition_ns) + ") TO (" +
             std::to_string((d + 1) * options_.partition_ns) + ");";
    sql += "COMMIT";
    if (auto st = exec(conn, sql); !st) {
      rollback(conn);
      if (PQstatus(conn) != CONNECTION_OK) return st;
      // The DEFAULT partition already holds rows of this day: they stay there.
      spdlog::warn(
          "scope: partition for day {} not created ({}): its rows go to the default "
          "partition",
          d, st.error());
    }
    partitions_.insert(d);
  }
  return Ok{};
}

Result<WriteResult> PostgresStore::write(const event::Batch& batch) {
  std::lock_guard lock(write_mu_);
  const auto& all = event::schemas();
  int64_t min_ts = INT64_MAX, max_ts = INT64_MIN;
  std::vector<std::string> copy(all.size());
  std::vector<size_t> rows(all.size(), 0);
  for (size_t i = 0; i < batch.events.size(); ++i) {
    const auto& e = batch.events[i];
    if (e.family >= all.size() || e.values.size() != all[e.family].columns.size())
      return make_error("event " + std::to_string(i) + " does not match its family's schema");
    min_ts = std::min(min_ts, e.ts_ns);
    max_ts = std::max(max_ts, e.ts_ns);
    std::string& out = copy[e.family];
    append_int(out, e.ts_ns);
    out += '\t';
    append_copy_text(out, batch.node);
    out += '\t';
    append_int(out, static_cast<int64_t>(batch.first_seq + i));
    out += '\t';
    append_int(out, e.pid);
    out += '\t';
    append_int(out, e.tid);
    out += '\t';
    append_copy_text(out, e.comm);
    for (const auto& v : e.values) {
      out += '\t';
      if (const auto* n = std::get_if<int64_t>(&v))
        append_int(out, *n);
      else if (const auto* s = std::get_if<std::string>(&v))
        append_copy_text(out, *s);
      else
        out += "\\N";
    }
    out += '\n';
    ++rows[e.family];
  }

  // One retry after a reconnect: a restarted server costs one failed attempt, not a batch.
  std::string last_error;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (auto st = ensure(db_); !st) return make_error(st.error());
    if (!batch.events.empty())
      if (auto st = ensure_partitions(db_, min_ts, max_ts); !st) {
        last_error = st.error();
        continue;
      }
    auto fail = [&](std::string msg) {
      rollback(db_);
      last_error = std::move(msg);
    };
    if (auto st = exec(db_, "BEGIN"); !st) {
      fail(st.error());
      if (PQstatus(db_) != CONNECTION_OK) continue;
      break;
    }
    std::string first_seq = std::to_string(batch.first_seq);
    std::string count = std::to_string(batch.events.size());
    std::string ingested = std::to_string(unix_now_ns());
    const char* params[] = {batch.node.c_str(), batch.boot_id.c_str(), first_seq.c_str(),
                            count.c_str(), ingested.c_str()};
    PgResult ins(PQexecParams(db_,
                              "INSERT INTO scope_batches VALUES ($1, $2, $3, $4, $5) "
                              "ON CONFLICT DO NOTHING",
                              5, nullptr, params, nullptr, nullptr, 0));
    if (ins.status() != PGRES_COMMAND_OK) {
      fail(conn_error(db_));
      if (PQstatus(db_) != CONNECTION_OK) continue;
      break;
    }
    if (std::strcmp(PQcmdTuples(ins.r), "0") == 0) {
      rollback(db_);
      WriteResult dup;
      dup.duplicate = true;
      return dup;
    }
    bool ok = true;
    for (size_t f = 0; f < all.size() && ok; ++f) {
      if (!rows[f]) continue;
      std::string sql =
          "COPY " + std::string(all[f].table) + " (" + column_list(all[f]) + ") FROM STDIN";
      PgResult start(PQexec(db_, sql.c_str()));
      if (start.status() != PGRES_COPY_IN) {
        ok = false;
        break;
      }
      if (PQputCopyData(db_, copy[f].data(), static_cast<int>(copy[f].size())) != 1 ||
          PQputCopyEnd(db_, nullptr) != 1) {
        ok = false;
        break;
      }
      while (PGresult* r = PQgetResult(db_)) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) ok = false;
        PQclear(r);
      }
    }
    // The per-minute kernel rollup (store/rollup.h), in the same transaction.
    static const std::string upsert = kernel_minutes_upsert(true);
    std::string rollup_error;
    for (const auto& m : ok ? kernel_minutes(batch) : std::vector<KernelMinute>{}) {
      std::string minute = std::to_string(m.minute_ns), pid = std::to_string(m.pid),
                  launches = std::to_string(m.launches), total = std::to_string(m.total_ns),
                  kernel = utf8_text(m.kernel);
      const char* p[] = {minute.c_str(), batch.node.c_str(), pid.c_str(),
                         kernel.c_str(), launches.c_str(),   total.c_str()};
      PgResult r(PQexecParams(db_, upsert.c_str(), 6, nullptr, p, nullptr, nullptr, 0));
      if (r.status() != PGRES_COMMAND_OK) {
        rollup_error = std::string("kernel rollup: ") + PQresultErrorMessage(r.r);
        ok = false;
        break;
      }
    }
    if (!ok) {
      fail(rollup_error.empty() ? conn_error(db_) : rollup_error);
      if (PQstatus(db_) != CONNECTION_OK) continue;
      break;
    }
    if (auto st = exec(db_, "COMMIT"); !st) {
      // A COMMIT whose answer was lost may have committed: the retry finds the
      // batch's dedupe row and reports it as a duplicate, which is correct.
      fail(st.error());
      if (PQstatus(db_) != CONNECTION_OK) continue;
      break;
    }
    WriteResult res;
    res.stored = batch.events.size();
    return res;
  }
  return make_error(last_error);
}

Result<QueryResult> PostgresStore::query(std::string_view sql_in, const QueryOptions& options) {
  std::lock_guard lock(read_mu_);
  std::string sql(sql_in);
  while (!sql.empty() && std::strchr(" \t\r\n;", sql.back())) sql.pop_back();
  if (sql.empty()) return make_error("empty query");
  {
    // A cursor takes a query only: say so, rather than PostgreSQL's syntax error
    // about a DECLARE the user never wrote. (The read-only transaction stops
    // a write hidden in a WITH.)
    size_t at = sql.find_first_not_of(" \t\r\n(");
    std::string word;
    while (at < sql.size() && std::isalpha(static_cast<unsigned char>(sql[at])))
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(sql[at++])));
    if (word != "select" && word != "with" && word != "values" && word != "table")
      return make_error("read-only: the store accepts queries only (SELECT, WITH, VALUES, TABLE)");
  }
  if (auto st = ensure(ro_); !st) return make_error(st.error());
  // Read-only transaction, a timeout, and a cursor so at most max_rows + 1
  // rows ever leave the server. DECLARE takes one SELECT/VALUES only.
  std::string begin = "BEGIN READ ONLY; SET LOCAL statement_timeout = " +
                      std::to_string(std::max(1, options.timeout_ms)) +
                      "; SET LOCAL cursor_tuple_fraction = 1.0";
  if (auto st = exec(ro_, begin); !st) {
    rollback(ro_);
    // A connection the server closed (a restart) is replaced on the next call; try once now.
    if (PQstatus(ro_) != CONNECTION_OK) {
      if (auto again = ensure(ro_); !again) return make_error(again.error());
      if (auto st2 = exec(ro_, begin); !st2) {
        rollback(ro_);
        return make_error(st2.error());
      }
    } else {
      return make_error(st.error());
    }
  }
  auto fail = [&]() -> Result<QueryResult> {
    std::string err = conn_error(ro_);
    rollback(ro_);
    if (err.find("statement timeout") != std::string::npos)
      err = "query cancelled after " + std::to_string(options.timeout_ms) + " ms (" + err + ")";
    return make_error(err);
  };
  {
    std::string declare = "DECLARE scope_query NO SCROLL CURSOR FOR " + sql;
    PgResult d(PQexecParams(ro_, declare.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0));
    if (d.status() != PGRES_COMMAND_OK) return fail();
  }
  std::string fetch = "FETCH FORWARD " + std::to_string(options.max_rows + 1) + " FROM scope_query";
  PgResult r(PQexec(ro_, fetch.c_str()));
  if (r.status() != PGRES_TUPLES_OK) return fail();
  QueryResult out;
  int ncol = PQnfields(r.r);
  int nrow = PQntuples(r.r);
  for (int c = 0; c < ncol; ++c) out.columns.emplace_back(PQfname(r.r, c));
  std::vector<Oid> types(ncol);
  for (int c = 0; c < ncol; ++c) types[c] = PQftype(r.r, c);
  for (int i = 0; i < nrow; ++i) {
    if (out.rows.size() >= options.max_rows) {
      out.truncated = true;
      break;
    }
    std::vector<event::Value> row(ncol);
    for (int c = 0; c < ncol; ++c) {
      if (PQgetisnull(r.r, i, c)) continue;
      const char* v = PQgetvalue(r.r, i, c);
      size_t len = static_cast<size_t>(PQgetlength(r.r, i, c));
      switch (types[c]) {
        case kInt8Oid:
        case kInt4Oid:
        case kInt2Oid:
        case kOidOid:
        case kNumericOid:
        case kFloat4Oid:
        case kFloat8Oid: {
          // Integral values as integers (sum() of BIGINT is NUMERIC), others as text.
          int64_t n = 0;
          auto [end, ec] = std::from_chars(v, v + len, n);
          if (ec == std::errc() && end == v + len)
            row[c] = n;
          else
            row[c] = std::string(v, len);
          break;
        }
        case kBoolOid:
          row[c] = int64_t{v[0] == 't'};
          break;
        default:
          row[c] = std::string(v, len);
      }
    }
    out.rows.push_back(std::move(row));
  }
  rollback(ro_);
  return out;
}

Result<uint64_t> PostgresStore::apply_retention(int64_t cutoff_ns) {
  uint64_t deleted = 0;
  auto count_of = [&](const std::string& sql) -> Result<uint64_t> {
    auto v = scalar_text(db_, sql);
    if (!v) return make_error(v.error());
    return static_cast<uint64_t>(std::strtoull(v->c_str(), nullptr, 10));
  };
  // Bounded DELETE steps on one table (not a partitioned parent: ctid is per table).
  auto bounded_delete = [&](const std::string& table) -> Status {
    std::string sql = "DELETE FROM " + table + " WHERE ctid = ANY(ARRAY(SELECT ctid FROM " + table +
                      " WHERE ts_ns < " + std::to_string(cutoff_ns) + " LIMIT " +
                      std::to_string(options_.retention_chunk_rows) + "))";
    while (true) {
      std::lock_guard lock(write_mu_);
      if (auto st = ensure(db_); !st) return st;
      PgResult r(PQexec(db_, sql.c_str()));
      if (r.status() != PGRES_COMMAND_OK) return make_error(conn_error(db_));
      uint64_t n = std::strtoull(PQcmdTuples(r.r), nullptr, 10);
      deleted += n;
      if (n < options_.retention_chunk_rows) return Ok{};
    }
  };
  for (const auto& s : event::schemas()) {
    std::string t(s.table);
    if (partitioning_ == "timescale") {
      std::lock_guard lock(write_mu_);
      if (auto st = ensure(db_); !st) return make_error(st.error());
      std::string cut = std::to_string(cutoff_ns);
      auto n = count_of("SELECT count(*) FROM " + t + " WHERE ts_ns < " + cut);
      if (!n) return make_error(n.error());
      if (auto st = exec(db_, "SELECT drop_chunks('" + t + "', older_than => " + cut +
                                  "::BIGINT); DELETE FROM " + t + " WHERE ts_ns < " + cut);
          !st)
        return make_error(st.error());
      deleted += *n;
      continue;
    }
    std::vector<int64_t> days;
    {
      std::lock_guard lock(write_mu_);
      if (auto st = ensure(db_); !st) return make_error(st.error());
      PgResult r(PQexec(db_, ("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = "
                              "i.inhrelid WHERE i.inhparent = '" +
                              qualified(t) + "'::regclass")
                                 .c_str()));
      if (r.status() != PGRES_TUPLES_OK) return make_error(conn_error(db_));
      for (int i = 0; i < PQntuples(r.r); ++i) {
        std::string name = PQgetvalue(r.r, i, 0);
        if (name == t + "_default") continue;
        days.push_back(std::atoll(name.c_str() + t.size() + 2));
      }
    }
    for (int64_t d : days) {
      std::string part = partition_name(t, d);
      if ((d + 1) * options_.partition_ns <= cutoff_ns) {
        // Whole partition older than the cutoff: dropped, not deleted row by row.
        std::lock_guard lock(write_mu_);
        if (auto st = ensure(db_); !st) return make_error(st.error());
        auto n = count_of("SELECT count(*) FROM " + part);
        if (!n) return make_error(n.error());
        if (auto st = exec(db_, "DROP TABLE IF EXISTS " + part); !st) return make_error(st.error());
        deleted += *n;
      } else if (d * options_.partition_ns < cutoff_ns) {
        if (auto st = bounded_delete(part); !st) return make_error(st.error());
      }
    }
    if (auto st = bounded_delete(t + "_default"); !st) return make_error(st.error());
  }
  // cuda_events' partitions were dropped too: forget them so they are recreated when needed.
  {
    std::lock_guard lock(write_mu_);
    for (auto it = partitions_.begin(); it != partitions_.end();)
      it = (*it + 1) * options_.partition_ns <= cutoff_ns ? partitions_.erase(it) : std::next(it);
    if (auto st = exec(db_, bookkeeping_retention_sql(cutoff_ns)); !st)
      return make_error(st.error());
  }
  return deleted;
}

}  // namespace scope::store
