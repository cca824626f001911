#include "store/postgres/postgres_store.h"

#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>

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

using Clock = std::chrono::steady_clock;

// The SQL API's function (setup_reader) and its cursor.
constexpr const char* kSqlFunction = "scope_sql_query";
constexpr int kFetchRows = 1000;
// PostgreSQL's statement_timeout answers first, with its own words; the client's watch (a
// cancel, then the connection given up) is for a server that does not answer at all.
constexpr auto kClientSlack = std::chrono::milliseconds(250);
constexpr auto kCancelGrace = std::chrono::seconds(2);
constexpr auto kCleanupTimeout = std::chrono::seconds(2);

// A statement's answer: its last result, or its first error.
struct Answer {
  std::unique_ptr<PGresult, void (*)(PGresult*)> r{nullptr, PQclear};
  bool lost = false;  // no answer even to a cancel, or the connection broke: it is unusable
  ExecStatusType status() const { return r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR; }
  std::string sqlstate() const {
    const char* s = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
    return s ? s : "";
  }
};

// Waits for what was sent on `c` (PQsend*) until `deadline`, then cancels it and waits
// kCancelGrace more: a blocking PQexec would wait for ever on a server that never answers.
Answer await(PGconn* c, Clock::time_point deadline) {
  Answer a;
  bool cancelled = false;
  for (;;) {
    while (PQisBusy(c)) {
      auto now = Clock::now();
      if (now >= deadline) {
        if (cancelled) {
          a.lost = true;
          return a;
        }
        cancelled = true;
        if (PGcancel* k = PQgetCancel(c)) {
          char err[256];
          PQcancel(k, err, sizeof err);
          PQfreeCancel(k);
        }
        deadline = now + kCancelGrace;
        continue;
      }
      pollfd p{PQsocket(c), POLLIN, 0};
      auto ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
      int n = poll(&p, 1, static_cast<int>(std::min<int64_t>(ms, INT_MAX)));
      if ((n < 0 && errno != EINTR) || (n > 0 && !PQconsumeInput(c))) {
        a.lost = true;
        return a;
      }
    }
    PGresult* r = PQgetResult(c);
    if (!r) return a;
    if (a.status() != PGRES_FATAL_ERROR || !a.r)
      a.r.reset(r);
    else
      PQclear(r);
  }
}

// A column's text as a Value: integral numbers as integers (sum() of BIGINT is NUMERIC),
// booleans as 0/1, anything else as text.
event::Value pg_value(const char* v, size_t len, Oid type) {
  switch (type) {
    case kInt8Oid:
    case kInt4Oid:
    case kInt2Oid:
    case kOidOid:
    case kNumericOid:
    case kFloat4Oid:
    case kFloat8Oid: {
      int64_t n = 0;
      auto [end, ec] = std::from_chars(v, v + len, n);
      if (ec == std::errc() && end == v + len) return n;
      return std::string(v, len);
    }
    case kBoolOid:
      return int64_t{v[0] == 't'};
    default:
      return std::string(v, len);
  }
}

Answer run(PGconn* c, const std::string& sql, Clock::time_point deadline) {
  if (!PQsendQuery(c, sql.c_str())) return Answer{};
  return await(c, deadline);
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// A query's error in PostgreSQL's words without the CONTEXT lines (which name the store's
// function, not the user's query); a refused privilege says what it refused.
std::string query_error(const Answer& a, PGconn* c) {
  const char* primary = a.r ? PQresultErrorField(a.r.get(), PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  if (!primary) return a.r ? trimmed(PQresultErrorMessage(a.r.get())) : conn_error(c);
  std::string msg = primary;
  std::string state = a.sqlstate();
  if (state == "42501") {
    for (const char* what : {"table ", "view ", "sequence ", "schema "}) {
      std::string prefix = std::string("permission denied for ") + what;
      if (msg.rfind(prefix, 0) == 0)
        return what + msg.substr(prefix.size()) + " is not readable through the SQL API (" + msg +
               ")";
    }
    return "not allowed in the SQL API: " + msg;
  }
  if (state == "2F003") return "not allowed in the SQL API: " + msg;  // dblink's password check
  // A WITH that writes fails where the store nests the query, before the read-only
  // transaction would refuse it.
  if (state == "25006" || (state == "0A000" && msg.find("data-modifying") != std::string::npos))
    return "read-only: the store accepts queries only (" + msg + ")";
  std::string out = "ERROR:  " + msg;
  if (const char* d = PQresultErrorField(a.r.get(), PG_DIAG_MESSAGE_DETAIL))
    out += std::string("\nDETAIL:  ") + d;
  if (const char* h = PQresultErrorField(a.r.get(), PG_DIAG_MESSAGE_HINT))
    out += std::string("\nHINT:  ") + h;
  return out;
}

// The user's query inside the one the SQL function runs: every value as text (the client
// turns numbers back into numbers from the described types), at most max_rows + 1 rows, and
// rows counted in bytes as QueryResult counts them: the first row past max_bytes comes back
// without its values and marked (the last column), those after it not at all. The function
// (RETURN QUERY) computes its whole result before the first FETCH, so the LIMIT and this cut
// are what bound the server's work and the result it holds (statement_timeout the rest);
// the chunked FETCH bounds what reaches scope at a time.
std::string wrap_query(const std::string& sql, int ncol, size_t max_rows, size_t max_bytes) {
  constexpr size_t kCap = INT64_MAX / 2;
  std::string limit = std::to_string(std::min(max_rows, kCap) + 1);
  std::string cap = std::to_string(std::min(max_bytes, kCap));
  std::string vs, casts, aliases, lens, outs;
  for (int i = 1; i <= ncol; ++i) {
    std::string v = "v" + std::to_string(i), c = "c" + std::to_string(i);
    const char* sep = i > 1 ? ", " : "";
    vs += sep + v;
    aliases += sep + c;
    casts += sep + ("s." + c + "::text AS " + v);
    lens += " + coalesce(octet_length(" + v + "), 0)";
    outs += sep + ("CASE WHEN b > " + cap + " THEN NULL ELSE " + v + " END");
  }
  return "SELECT " + outs + ", b > " + cap + " FROM (SELECT " + vs +
         ", rb, sum(rb) OVER (ROWS UNBOUNDED PRECEDING) AS b FROM (SELECT " + vs + ", " +
         std::to_string(kQueryValueOverhead * static_cast<size_t>(ncol)) + "::bigint" + lens +
         " AS rb FROM (SELECT " + casts + " FROM (\n" + sql + "\n) AS s(" + aliases + ") LIMIT " +
         limit + ") l) m) w WHERE b - rb <= " + cap;
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
  s->reader_role_ = options.schema + "_reader";
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
  // Ingest does not need it: without it the store opens, and query() says what to do.
  if (auto st = setup_reader(); !st)
    spdlog::warn("scope: the SQL API is not available yet: {}", st.error());
  return ensure(ro_);
}

Status PostgresStore::setup_reader() {
  const std::string& role = reader_role_;
  const std::string& schema = options_.schema;
  auto login = scalar_text(db_, "SELECT quote_ident(current_user)");
  if (!login) return make_error(login.error());
  auto ask_operator = [&](const std::string& why, const std::string& fix) {
    return make_error("the SQL API runs queries as role " + role + ", and " + why +
                      ": as a superuser, run  " + fix +
                      "  then query again (scope grants the role what it needs by itself)");
  };
  if (auto st = exec(db_, "BEGIN"); !st) return st;
  auto fail = [&](const Error& e) -> Status {
    rollback(db_);
    return e;
  };
  // Serialised with migrations and other servers' setup (one role, one function).
  if (auto st = exec(db_, "SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLock) + ")");
      !st)
    return fail(st.failure());
  auto state = scalar_text(
      db_,
      "SELECT CASE WHEN rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR "
      "rolbypassrls OR rolcanlogin OR EXISTS (SELECT FROM pg_auth_members m WHERE m.member = "
      "r.oid) THEN 'privileged' ELSE 'plain' END FROM pg_roles r WHERE r.rolname = '" +
          role + "'");
  if (!state) return fail(state.failure());
  if (state->empty()) {
    if (auto st = exec(db_, "CREATE ROLE " + role + " NOLOGIN"); !st)
      return fail(ask_operator(
          "it does not exist and " + *login + " may not create it (" + st.error() + ")",
          "CREATE ROLE " + role + " NOLOGIN; GRANT " + role + " TO " + *login + ";"));
  } else if (*state == "privileged") {
    return fail(make_error(
        "the SQL API runs queries as role " + role +
        ", which exists with privileges of its own (it logs in, is a superuser, creates roles "
        "or databases, replicates, bypasses row security or is a member of another role): "
        "scope runs queries only as a role without any; drop or change that role"));
  }
  // Membership lets this login SET ROLE to it and hand it the function below.
  auto member = scalar_text(db_, "SELECT pg_has_role(current_user, '" + role + "', 'MEMBER')");
  if (!member) return fail(member.failure());
  if (*member != "t")
    if (auto st = exec(db_, "GRANT " + role + " TO CURRENT_USER"); !st)
      return fail(ask_operator(
          *login + " is not a member of it and may not make itself one (" + st.error() + ")",
          "GRANT " + role + " TO " + *login + ";"));
  // What the role reads: the tables listed, nothing else in the schema (a table added later
  // is not readable until it is listed).
  std::string sql = "GRANT USAGE ON SCHEMA " + schema + " TO " + role +
                    "; REVOKE ALL ON ALL TABLES IN SCHEMA " + schema + " FROM " + role +
                    "; GRANT SELECT ON ";
  bool first = true;
  for (const auto& t : sql_readable_tables()) {
    sql += (first ? "" : ", ") + qualified(t);
    first = false;
  }
  sql += " TO " + role + ";";
  // The query runs inside this function, owned by the role (SECURITY DEFINER): there
  // PostgreSQL refuses to change role or session authorization, even for a superuser
  // login. Its owner needs CREATE on the schema only while it is handed over.
  std::string fn = qualified(kSqlFunction);
  sql += "GRANT CREATE ON SCHEMA " + schema + " TO " + role + "; CREATE OR REPLACE FUNCTION " + fn +
         "(q text) RETURNS SETOF record LANGUAGE plpgsql SECURITY DEFINER SET search_path = " +
         schema +
         ", pg_temp AS $scope$ BEGIN RETURN QUERY EXECUTE q; END $scope$; ALTER FUNCTION " + fn +
         "(text) OWNER TO " + role + "; REVOKE CREATE ON SCHEMA " + schema + " FROM " + role +
         "; REVOKE ALL ON FUNCTION " + fn + "(text) FROM PUBLIC;";
  if (auto st = exec(db_, sql); !st)
    return fail(make_error("cannot prepare role " + role + " for the SQL API: " + st.error()));
  if (auto st = exec(db_, "COMMIT"); !st) return fail(st.failure());
  reader_ready_ = true;
  return Ok{};
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
    // The per-slot rollups (store/rollup.h): a multi-row INSERT per rollup and chunk.
    for (const SlotRollup* roll : ok ? slot_rollups() : std::vector<const SlotRollup*>{}) {
      std::vector<SlotRow> slot = slot_rows(*roll, batch);
      constexpr size_t kChunk = 500;
      for (size_t at = 0; at < slot.size() && ok; at += kChunk) {
        size_t n = std::min(kChunk, slot.size() - at);
        std::vector<std::string> text;
        std::vector<bool> null;
        auto add = [&](const event::Value& v) {
          if (const auto* i = std::get_if<int64_t>(&v))
            text.push_back(std::to_string(*i));
          else if (const auto* t = std::get_if<std::string>(&v))
            text.push_back(utf8_text(*t));
          else
            text.emplace_back();
          null.push_back(std::holds_alternative<std::monostate>(v));
        };
        for (size_t i = at; i < at + n; ++i) {
          add(slot[i].slot_ns);
          add(batch.node);
          add(slot[i].pid);
          add(slot[i].comm);
          for (const auto& v : slot[i].keys) add(v);
          for (const auto& v : slot[i].values) add(v);
        }
        std::vector<const char*> params;
        params.reserve(text.size());
        for (size_t i = 0; i < text.size(); ++i)
          params.push_back(null[i] ? nullptr : text[i].c_str());
        std::string sql = slot_insert(*roll, n, true);
        PgResult r(PQexecParams(db_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                                params.data(), nullptr, nullptr, 0));
        if (r.status() != PGRES_COMMAND_OK) {
          rollup_error = std::string(roll->table) + ": " + PQresultErrorMessage(r.r);
          ok = false;
        }
      }
    }
    // Memory in use (store/rollup.h): the batch's allocations and frees, then what they change
    // recomputed per process from its earliest row in the batch on.
    for (const MemoryRollup* mem : ok ? memory_rollups() : std::vector<const MemoryRollup*>{}) {
      static const std::vector<MemoryStep> cuda_steps = memory_update(cuda_memory(), true);
      static const std::vector<MemoryStep> ggml_steps = memory_update(ggml_memory(), true);
      const auto& steps = mem == &cuda_memory() ? cuda_steps : ggml_steps;
      std::vector<MemoryRow> rows = memory_rows(*mem, batch);
      std::map<int64_t, int64_t> first_ts;  // per pid
      constexpr size_t kChunk = 500;
      for (size_t at = 0; at < rows.size() && ok; at += kChunk) {
        size_t n = std::min(kChunk, rows.size() - at);
        std::vector<std::string> text;
        text.reserve(n * 8);
        for (size_t i = at; i < at + n; ++i) {
          const MemoryRow& r = rows[i];
          text.push_back(batch.node);
          for (int64_t v : {r.pid, r.seq, r.ts_ns, r.ptr, r.is_alloc, r.bytes})
            text.push_back(std::to_string(v));
          text.push_back(utf8_text(r.comm));
          auto [it, fresh] = first_ts.try_emplace(r.pid, r.ts_ns);
          if (!fresh) it->second = std::min(it->second, r.ts_ns);
        }
        std::vector<const char*> params;
        params.reserve(text.size());
        for (const auto& t : text) params.push_back(t.c_str());
        std::string sql = memory_insert(*mem, n, true);
        PgResult r(PQexecParams(db_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                                params.data(), nullptr, nullptr, 0));
        if (r.status() != PGRES_COMMAND_OK) {
          rollup_error = std::string(mem->table) + ": " + PQresultErrorMessage(r.r);
          ok = false;
        }
      }
      for (auto it = first_ts.begin(); it != first_ts.end() && ok; ++it) {
        std::string pid = std::to_string(it->first), ts = std::to_string(it->second),
                    slot = std::to_string(it->second - it->second % kSlotNs);
        for (const auto& step : steps) {
          const char* p[] = {batch.node.c_str(), pid.c_str(),
                             step.slot ? slot.c_str() : ts.c_str()};
          PgResult r(PQexecParams(db_, step.sql.c_str(), 3, nullptr, p, nullptr, nullptr, 0));
          if (r.status() != PGRES_COMMAND_OK) {
            rollup_error = std::string(mem->table) + ": " + PQresultErrorMessage(r.r);
            ok = false;
            break;
          }
        }
      }
    }
    // llm/decode's requests (store/rollup.h): recomputed per context from the batch's decodes on.
    // Prepared once per connection: planning their SQL for every context of every batch cost
    // more than running it.
    static const std::vector<std::string> request_steps = request_update(true);
    const std::vector<RequestContext> contexts =
        ok ? request_contexts(batch) : std::vector<RequestContext>{};
    auto step_name = [this](size_t i) {
      return "scope_request_" + std::to_string(requests_generation_) + "_" + std::to_string(i);
    };
    if (!contexts.empty() && (requests_conn_ != db_ || requests_backend_ != PQbackendPID(db_))) {
      ++requests_generation_;
      for (size_t i = 0; i < request_steps.size() && ok; ++i) {
        PgResult r(PQprepare(db_, step_name(i).c_str(), request_steps[i].c_str(), 5, nullptr));
        if (r.status() != PGRES_COMMAND_OK) {
          rollup_error = std::string("llama_requests: ") + PQresultErrorMessage(r.r);
          ok = false;
        }
      }
      requests_conn_ = ok ? db_ : nullptr;
      requests_backend_ = ok ? PQbackendPID(db_) : 0;
    }
    for (const auto& c : ok ? contexts : std::vector<RequestContext>{}) {
      std::string v[] = {std::to_string(c.pid), std::to_string(c.ctx), std::to_string(c.ts_ns),
                         std::to_string(c.seq)};
      const char* p[] = {batch.node.c_str(), v[0].c_str(), v[1].c_str(), v[2].c_str(),
                         v[3].c_str()};
      for (size_t i = 0; i < request_steps.size(); ++i) {
        PgResult r(PQexecPrepared(db_, step_name(i).c_str(), 5, p, nullptr, nullptr, 0));
        if (r.status() != PGRES_COMMAND_OK) {
          rollup_error = std::string("llama_requests: ") + PQresultErrorMessage(r.r);
          ok = false;
          break;
        }
      }
      if (!ok) break;
    }
    // host/opens' rollups (store/rollup.h): one UPSERT of arrays per rollup, merged into the
    // rows already there.
    for (const OpenRollup* roll : ok ? open_rollups() : std::vector<const OpenRollup*>{}) {
      if (!ok) break;
      std::vector<OpenRow> rows = open_rows(*roll, batch, utf8_text);
      if (rows.empty()) continue;
      std::vector<std::vector<event::Value>> columns(5 + roll->keys.size());
      for (auto& c : columns) c.reserve(rows.size());
      std::string node = utf8_text(batch.node);
      for (auto& row : rows) {
        size_t c = 0;
        columns[c++].emplace_back(row.width_ns);
        columns[c++].emplace_back(row.bucket_ns);
        columns[c++].emplace_back(node);
        for (auto& v : row.keys) columns[c++].push_back(std::move(v));
        columns[c++].emplace_back(row.opens);
        columns[c++].emplace_back(row.errors);
      }
      std::vector<std::string> text;
      text.reserve(columns.size());
      for (const auto& c : columns) text.push_back(open_array(c));
      std::vector<const char*> params;
      params.reserve(text.size());
      for (const auto& t : text) params.push_back(t.c_str());
      static const std::vector<std::string> upserts = [] {
        std::vector<std::string> out;
        for (const OpenRollup* r : open_rollups()) out.push_back(open_upsert_arrays(*r));
        return out;
      }();
      auto at = static_cast<size_t>(std::find(open_rollups().begin(), open_rollups().end(), roll) -
                                    open_rollups().begin());
      PgResult r(PQexecParams(db_, upserts[at].c_str(), static_cast<int>(params.size()), nullptr,
                              params.data(), nullptr, nullptr, 0));
      if (r.status() != PGRES_COMMAND_OK) {
        rollup_error = std::string(roll->table) + ": " + PQresultErrorMessage(r.r);
        ok = false;
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

Status PostgresStore::begin_request() {
  if (!reader_ready_) {
    std::lock_guard wlock(write_mu_);
    if (auto st = ensure(db_); !st) return st;
    if (auto st = setup_reader(); !st) return st;
  }
  return ensure(ro_);
}

void PostgresStore::end_request() {
  if (!ro_) return;
  auto deadline = Clock::now() + kCleanupTimeout;
  bool ok = PQstatus(ro_) == CONNECTION_OK && PQtransactionStatus(ro_) != PQTRANS_ACTIVE;
  if (ok && PQtransactionStatus(ro_) != PQTRANS_IDLE)
    ok = run(ro_, "ROLLBACK", deadline).status() == PGRES_COMMAND_OK;
  // Session state a query may leave: advisory locks, settings, prepared statements.
  if (ok) ok = run(ro_, "DISCARD ALL", deadline).status() == PGRES_COMMAND_OK;
  if (!ok) {
    PQfinish(ro_);
    ro_ = nullptr;
  }
}

Result<QueryResult> PostgresStore::query(std::string_view sql_in, const QueryOptions& options) {
  std::lock_guard lock(read_mu_);
  const auto deadline = Clock::now() + std::chrono::milliseconds(std::max(1, options.timeout_ms));
  const auto watch = deadline + kClientSlack;
  std::string sql(sql_in);
  while (!sql.empty() && std::strchr(" \t\r\n;", sql.back())) sql.pop_back();
  if (sql.empty()) return make_error("empty query");
  {
    // Say so, rather than PostgreSQL's error about the query the store wraps it in.
    size_t at = sql.find_first_not_of(" \t\r\n(");
    std::string word;
    while (at < sql.size() && std::isalpha(static_cast<unsigned char>(sql[at])))
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(sql[at++])));
    if (word != "select" && word != "with" && word != "values" && word != "table")
      return make_error("read-only: the store accepts queries only (SELECT, WITH, VALUES, TABLE)");
  }
  if (auto st = begin_request(); !st) return make_error(st.error());
  struct EndRequest {
    PostgresStore* s;
    ~EndRequest() { s->end_request(); }
  } finish{this};

  auto cancelled = [&](const std::string& why) -> Result<QueryResult> {
    return make_error("query cancelled after " + std::to_string(options.timeout_ms) + " ms (" +
                      why + ")");
  };
  auto fail = [&](const Answer& a) -> Result<QueryResult> {
    if (a.lost) {
      PQfinish(ro_);
      ro_ = nullptr;
      return cancelled("no answer from PostgreSQL: connection dropped");
    }
    if (a.sqlstate() == "57014") {
      const char* why = PQresultErrorField(a.r.get(), PG_DIAG_MESSAGE_PRIMARY);
      return cancelled(why ? why : "cancelled");
    }
    return make_error(query_error(a, ro_));
  };
  auto remaining_ms = [&] {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return std::to_string(std::max<int64_t>(1, left));
  };
  // Read-only, as the reader role, with what is left of the timeout.
  auto begin = [&] {
    return run(ro_,
               "BEGIN READ ONLY; SET LOCAL search_path TO " + options_.schema +
                   ", pg_temp; SET LOCAL ROLE " + reader_role_ +
                   "; SET LOCAL statement_timeout = " + remaining_ms(),
               watch);
  };
  if (Answer a = begin(); a.status() != PGRES_COMMAND_OK) {
    if (a.lost || PQstatus(ro_) == CONNECTION_OK) return fail(a);
    // A connection the server closed (a restart) is replaced on the next call; try once now.
    if (auto again = ensure(ro_); !again) return make_error(again.error());
    if (Answer b = begin(); b.status() != PGRES_COMMAND_OK) return fail(b);
  }

  // The query's columns, without running it. One statement only: the extended protocol
  // takes no more.
  if (!PQsendPrepare(ro_, "", sql.c_str(), 0, nullptr)) return fail(Answer{});
  if (Answer a = await(ro_, watch); a.status() != PGRES_COMMAND_OK) {
    std::string state = a.sqlstate();
    if (a.lost || state == "57014" || state == "42501" || state == "25006") return fail(a);
    std::string err = a.r ? trimmed(PQresultErrorMessage(a.r.get())) : conn_error(ro_);
    if (err.find("multiple commands") != std::string::npos)
      return make_error("one statement at a time");
    return make_error(err);
  }
  if (!PQsendDescribePrepared(ro_, "")) return fail(Answer{});
  Answer described = await(ro_, watch);
  if (described.status() != PGRES_COMMAND_OK) return fail(described);
  const int ncol = PQnfields(described.r.get());
  if (ncol == 0) return make_error("the query returns no columns");
  QueryResult out;
  std::vector<Oid> types(ncol);
  std::string columns;
  for (int c = 0; c < ncol; ++c) {
    out.columns.emplace_back(PQfname(described.r.get(), c));
    types[c] = PQftype(described.r.get(), c);
    columns += "c" + std::to_string(c + 1) + " text, ";
  }

  {
    std::string wrapped = wrap_query(sql, ncol, options.max_rows, options.max_bytes);
    std::string declare = "DECLARE scope_query NO SCROLL CURSOR FOR SELECT * FROM " +
                          qualified(kSqlFunction) + "($1) AS t(" + columns + "scope_cut boolean)";
    const char* params[] = {wrapped.c_str()};
    if (!PQsendQueryParams(ro_, declare.c_str(), 1, nullptr, params, nullptr, nullptr, 0))
      return fail(Answer{});
    if (Answer a = await(ro_, watch); a.status() != PGRES_COMMAND_OK) return fail(a);
  }
  // Rows in chunks, each within what is left of the timeout; bytes counted as in wrap_query.
  size_t bytes = 0;
  auto truncate = [&](const char* by) -> Result<QueryResult> {
    out.truncated = true;
    out.truncated_by = by;
    return std::move(out);
  };
  for (;;) {
    if (Clock::now() >= deadline) return cancelled("fetching its rows took longer");
    Answer f = run(ro_,
                   "SET LOCAL statement_timeout = " + remaining_ms() + "; FETCH FORWARD " +
                       std::to_string(kFetchRows) + " FROM scope_query",
                   watch);
    if (f.status() != PGRES_TUPLES_OK) return fail(f);
    PGresult* r = f.r.get();
    int nrow = PQntuples(r);
    for (int i = 0; i < nrow; ++i) {
      if (PQgetvalue(r, i, ncol)[0] == 't') return truncate("bytes");
      if (out.rows.size() >= options.max_rows) return truncate("rows");
      std::vector<event::Value> row(ncol);
      size_t row_bytes = 0;
      for (int c = 0; c < ncol; ++c) {
        size_t len = PQgetisnull(r, i, c) ? 0 : static_cast<size_t>(PQgetlength(r, i, c));
        row_bytes += kQueryValueOverhead + len;
      }
      if (row_bytes > options.max_bytes - std::min(options.max_bytes, bytes))
        return truncate("bytes");
      bytes += row_bytes;
      for (int c = 0; c < ncol; ++c) {
        if (PQgetisnull(r, i, c)) continue;
        const char* v = PQgetvalue(r, i, c);
        size_t len = static_cast<size_t>(PQgetlength(r, i, c));
        row[c] = pg_value(v, len, types[c]);
      }
      out.rows.push_back(std::move(row));
    }
    if (nrow < kFetchRows) break;
  }
  return out;
}

Result<QueryResult> PostgresStore::select(std::string_view sql,
                                          const std::vector<event::Value>& params,
                                          const QueryOptions& options) {
  std::lock_guard lock(read_mu_);
  const auto deadline = Clock::now() + std::chrono::milliseconds(std::max(1, options.timeout_ms));
  const auto watch = deadline + kClientSlack;
  if (auto st = begin_request(); !st) return make_error(st.error());
  struct EndRequest {
    PostgresStore* s;
    ~EndRequest() { s->end_request(); }
  } finish{this};
  auto fail = [&](const Answer& a) -> Result<QueryResult> {
    if (a.lost) {
      PQfinish(ro_);
      ro_ = nullptr;
    }
    if (a.sqlstate() == "57014")
      return make_error("query cancelled after " + std::to_string(options.timeout_ms) + " ms");
    return make_error(query_error(a, ro_));
  };
  // The statement is the server's own (no user SQL in it), so it needs the reader role and
  // a read-only transaction, not the SQL API's function around it.
  std::string begin =
      "BEGIN READ ONLY; SET LOCAL search_path TO " + options_.schema +
      ", pg_temp; SET LOCAL ROLE " + reader_role_ +
      "; SET LOCAL statement_timeout = " + std::to_string(std::max(1, options.timeout_ms));
  if (Answer a = run(ro_, begin, watch); a.status() != PGRES_COMMAND_OK) {
    if (a.lost || PQstatus(ro_) == CONNECTION_OK) return fail(a);
    if (auto again = ensure(ro_); !again) return make_error(again.error());
    if (Answer b = run(ro_, begin, watch); b.status() != PGRES_COMMAND_OK) return fail(b);
  }
  // Typed parameters: bigint and text, so that `$1 IS NULL` and `col = $1` agree on a type.
  constexpr Oid kTextOid = 25;
  std::vector<std::string> texts(params.size());
  std::vector<const char*> values(params.size(), nullptr);
  std::vector<Oid> types(params.size(), kTextOid);
  for (size_t i = 0; i < params.size(); ++i) {
    if (const auto* n = std::get_if<int64_t>(&params[i])) {
      texts[i] = std::to_string(*n);
      types[i] = kInt8Oid;
      values[i] = texts[i].c_str();
    } else if (const auto* t = std::get_if<std::string>(&params[i])) {
      values[i] = t->c_str();
    }
  }
  std::string text(sql);
  if (!PQsendQueryParams(ro_, text.c_str(), static_cast<int>(params.size()), types.data(),
                         values.data(), nullptr, nullptr, 0))
    return fail(Answer{});
  Answer a = await(ro_, watch);
  if (a.status() != PGRES_TUPLES_OK) return fail(a);
  PGresult* r = a.r.get();
  QueryResult out;
  const int ncol = PQnfields(r);
  for (int c = 0; c < ncol; ++c) out.columns.emplace_back(PQfname(r, c));
  size_t bytes = 0;
  for (int i = 0, nrow = PQntuples(r); i < nrow; ++i) {
    if (out.rows.size() >= options.max_rows) {
      out.truncated = true;
      out.truncated_by = "rows";
      break;
    }
    std::vector<event::Value> row(ncol);
    size_t row_bytes = 0;
    for (int c = 0; c < ncol; ++c)
      row_bytes += kQueryValueOverhead + static_cast<size_t>(PQgetlength(r, i, c));
    if (row_bytes > options.max_bytes - std::min(options.max_bytes, bytes)) {
      out.truncated = true;
      out.truncated_by = "bytes";
      break;
    }
    bytes += row_bytes;
    for (int c = 0; c < ncol; ++c)
      if (!PQgetisnull(r, i, c))
        row[c] =
            pg_value(PQgetvalue(r, i, c), static_cast<size_t>(PQgetlength(r, i, c)), PQftype(r, c));
    out.rows.push_back(std::move(row));
  }
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
    // Memory rows before the cutoff: deleted, and the rest recomputed (only when some were).
    for (const MemoryRollup* m : memory_rollups()) {
      auto old = scalar_text(db_, "SELECT 1 FROM " + std::string(m->table) + " WHERE ts_ns < " +
                                      std::to_string(cutoff_ns) + " LIMIT 1");
      if (!old) return make_error(old.error());
      if (old->empty()) continue;
      if (auto st = exec(db_, "BEGIN; " + memory_retention_sql(*m, cutoff_ns) + "COMMIT;"); !st) {
        rollback(db_);
        return make_error(st.error());
      }
    }
  }
  return deleted;
}

}  // namespace scope::store
