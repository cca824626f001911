#include "auth/auth_db.h"

#include <sqlite3.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>

#include "common/data_dir.h"

#ifdef SCOPE_WITH_POSTGRES
#include <libpq-fe.h>
#endif

namespace scope::auth {
namespace {

// Version by version, frozen once released: the same SQL on SQLite and PostgreSQL.
// pg_advisory_xact_lock key of the auth migration ("scopeauth"; the store's is "scope").
constexpr int64_t kAuthMigrationLock = 0x73636f706561757;

const std::vector<std::vector<std::string_view>>& migrations() {
  static const std::vector<std::vector<std::string_view>> steps = {
      // 1: accounts, sessions, signing keys, nodes, audit.
      {
          R"(CREATE TABLE auth_users (
               id BIGINT PRIMARY KEY, name TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
               role TEXT NOT NULL, created_ns BIGINT NOT NULL,
               tokens_after BIGINT NOT NULL DEFAULT 0))",
          R"(CREATE TABLE auth_invites (
               token_hash TEXT PRIMARY KEY, role TEXT NOT NULL, created_by TEXT NOT NULL,
               expires_ns BIGINT NOT NULL))",
          R"(CREATE TABLE auth_refresh_tokens (
               token_hash TEXT PRIMARY KEY, family TEXT NOT NULL, user_id BIGINT NOT NULL,
               state TEXT NOT NULL, created_ns BIGINT NOT NULL, expires_ns BIGINT NOT NULL))",
          "CREATE INDEX auth_refresh_tokens_family ON auth_refresh_tokens (family)",
          "CREATE INDEX auth_refresh_tokens_user ON auth_refresh_tokens (user_id)",
          R"(CREATE TABLE auth_revoked_jti (
               jti TEXT PRIMARY KEY, expires_at BIGINT NOT NULL))",
          R"(CREATE TABLE auth_keys (
               kid TEXT PRIMARY KEY, secret TEXT NOT NULL, created_ns BIGINT NOT NULL))",
          R"(CREATE TABLE auth_nodes (
               name TEXT PRIMARY KEY, enroll_hash TEXT UNIQUE, enroll_expires_ns BIGINT,
               public_key TEXT, created_by TEXT NOT NULL, created_ns BIGINT NOT NULL,
               enrolled_ns BIGINT))",
          R"(CREATE TABLE auth_audit (
               ts_ns BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
               target TEXT NOT NULL, remote TEXT NOT NULL, outcome TEXT NOT NULL,
               detail TEXT NOT NULL))",
          "CREATE INDEX auth_audit_ts ON auth_audit (ts_ns)",
      },
      // 2: the fleet's registry (server/node_registry.h): what each node last reported, a
      // day of it per minute, and the probes an admin wants it to run.
      {
          R"(CREATE TABLE node_status (
               name TEXT PRIMARY KEY, first_seen_ns BIGINT NOT NULL, last_seen_ns BIGINT NOT NULL,
               up_since_ns BIGINT NOT NULL, stopped BIGINT NOT NULL DEFAULT 0,
               heartbeat TEXT NOT NULL))",
          R"(CREATE TABLE node_minutes (
               name TEXT NOT NULL, minute_ns BIGINT NOT NULL, heartbeats BIGINT NOT NULL,
               events BIGINT NOT NULL, dropped BIGINT NOT NULL, PRIMARY KEY (name, minute_ns)))",
          R"(CREATE TABLE node_probes (
               name TEXT PRIMARY KEY, version BIGINT NOT NULL, plan TEXT NOT NULL,
               updated_by TEXT NOT NULL, updated_ns BIGINT NOT NULL))",
      },
  };
  return steps;
}

// Each step in a transaction of its own, the version read inside it: a crash leaves the previous
// version, never half of one. On PostgreSQL the transaction first takes an advisory lock, so two
// servers starting on an empty schema do not both create the tables: one migrates, the other
// waits and then finds the work done.
Status migrate(AuthDb& db) {
  const bool postgres = db.kind() == "postgres";
  for (;;) {
    if (auto r = db.run("BEGIN"); !r) return r.failure();
    auto fail = [&](Error e) -> Status {
      (void)db.run("ROLLBACK");
      return e;
    };
    if (postgres) {
      if (auto r =
              db.run("SELECT pg_advisory_xact_lock(" + std::to_string(kAuthMigrationLock) + ")");
          !r)
        return fail(r.failure());
    }
    if (auto r = db.run("CREATE TABLE IF NOT EXISTS auth_meta (key TEXT PRIMARY KEY, value TEXT)");
        !r)
      return fail(r.failure());
    auto v = db.run("SELECT value FROM auth_meta WHERE key = 'schema_version'");
    if (!v) return fail(v.failure());
    int version = v->empty() ? 0 : static_cast<int>(as_int((*v)[0][0]));
    if (version > kAuthSchemaVersion)
      return fail(make_error(Errc::kBadInput,
                             "the auth tables are at version " + std::to_string(version) +
                                 ", newer than this build of scope knows (" +
                                 std::to_string(kAuthSchemaVersion) + "): use a newer scope"));
    if (version == kAuthSchemaVersion) {
      if (auto r = db.run("COMMIT"); !r) return r.failure();
      return Ok{};
    }
    for (auto sql : migrations()[version]) {
      if (auto r = db.run(sql); !r)
        return fail(make_error(r.code(),
                               "auth migration " + std::to_string(version + 1) + ": " + r.error()));
    }
    auto set = db.run(
        "INSERT INTO auth_meta (key, value) VALUES ('schema_version', $1) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        {std::to_string(version + 1)});
    if (!set) return fail(set.failure());
    if (auto r = db.run("COMMIT"); !r) return r.failure();
  }
}

class SqliteAuthDb final : public AuthDb {
 public:
  ~SqliteAuthDb() override { sqlite3_close_v2(db_); }
  std::string_view kind() const override { return "sqlite"; }

  Status open(const std::string& path) {
    // Made here, 0600, never through a link; an existing file must be ours and private.
    auto fd = open_private_file(path, FileAccess::kSecret);
    if (!fd && fd.code() == Errc::kNotFound) fd = create_private_file(path);
    if (!fd) return prefixed(fd.failure(), "auth db: ");
    ::close(*fd);
    if (sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
                        nullptr) != SQLITE_OK)
      return make_error(Errc::kFailed, path + ": " + sqlite3_errmsg(db_));
    sqlite3_busy_timeout(db_, 5000);
    for (auto sql : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
                     "PRAGMA foreign_keys=ON", "PRAGMA trusted_schema=OFF"})
      if (auto r = run(sql, {}); !r) return r.failure();
    return migrate(*this);
  }

  Result<std::vector<SqlRow>> run(std::string_view sql,
                                  const std::vector<SqlParam>& params) override {
    std::lock_guard lock(mu_);
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) !=
        SQLITE_OK)
      return make_error(Errc::kInternal, std::string("auth db: ") + sqlite3_errmsg(db_));
    for (size_t i = 0; i < params.size(); ++i) {
      const std::string name = "$" + std::to_string(i + 1);
      int index = sqlite3_bind_parameter_index(stmt, name.c_str());
      if (index == 0) continue;
      const auto& p = params[i];
      if (std::holds_alternative<int64_t>(p))
        sqlite3_bind_int64(stmt, index, std::get<int64_t>(p));
      else if (std::holds_alternative<std::string>(p))
        sqlite3_bind_text(stmt, index, std::get<std::string>(p).data(),
                          static_cast<int>(std::get<std::string>(p).size()), SQLITE_TRANSIENT);
      else
        sqlite3_bind_null(stmt, index);
    }
    std::vector<SqlRow> rows;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      SqlRow row;
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        if (sqlite3_column_type(stmt, c) == SQLITE_NULL) {
          row.emplace_back(std::nullopt);
        } else {
          const auto* text = sqlite3_column_text(stmt, c);
          row.emplace_back(std::string(reinterpret_cast<const char*>(text),
                                       static_cast<size_t>(sqlite3_column_bytes(stmt, c))));
        }
      }
      rows.push_back(std::move(row));
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
      const bool conflict = sqlite3_extended_errcode(db_) == SQLITE_CONSTRAINT_UNIQUE ||
                            sqlite3_extended_errcode(db_) == SQLITE_CONSTRAINT_PRIMARYKEY;
      return make_error(conflict ? Errc::kBadInput : Errc::kFailed,
                        std::string(conflict ? "conflict: " : "auth db: ") + sqlite3_errmsg(db_));
    }
    return rows;
  }

 private:
  sqlite3* db_ = nullptr;
  std::mutex mu_;
};

#ifdef SCOPE_WITH_POSTGRES
class PostgresAuthDb final : public AuthDb {
 public:
  ~PostgresAuthDb() override {
    if (conn_) PQfinish(conn_);
  }
  std::string_view kind() const override { return "postgres"; }

  Status open(const std::string& url, const std::string& schema) {
    for (char c : schema)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_'))
        return make_error(Errc::kBadInput, "schema '" + schema + "': letters, digits and _ only");
    url_ = url;
    schema_ = schema;
    if (auto st = connect(); !st) return st;
    return migrate(*this);
  }

  Result<std::vector<SqlRow>> run(std::string_view sql,
                                  const std::vector<SqlParam>& params) override {
    std::lock_guard lock(mu_);
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
      if (auto st = connect(); !st) return st.failure();
    }
    std::vector<std::string> text(params.size());
    std::vector<const char*> values(params.size(), nullptr);
    for (size_t i = 0; i < params.size(); ++i) {
      if (std::holds_alternative<int64_t>(params[i])) {
        text[i] = std::to_string(std::get<int64_t>(params[i]));
        values[i] = text[i].c_str();
      } else if (std::holds_alternative<std::string>(params[i])) {
        values[i] = std::get<std::string>(params[i]).c_str();
      }
    }
    const std::string query(sql);
    PGresult* res = PQexecParams(conn_, query.c_str(), static_cast<int>(params.size()), nullptr,
                                 values.data(), nullptr, nullptr, 0);
    const auto status = PQresultStatus(res);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
      const bool conflict = state && std::string_view(state) == "23505";
      std::string message = PQresultErrorMessage(res);
      PQclear(res);
      if (PQstatus(conn_) != CONNECTION_OK)
        return make_error(Errc::kUnavailable, "auth db: PostgreSQL went away: " + message);
      return make_error(conflict ? Errc::kBadInput : Errc::kFailed,
                        std::string(conflict ? "conflict: " : "auth db: ") + message);
    }
    std::vector<SqlRow> rows(static_cast<size_t>(PQntuples(res)));
    for (int r = 0; r < PQntuples(res); ++r)
      for (int c = 0; c < PQnfields(res); ++c)
        rows[static_cast<size_t>(r)].emplace_back(
            PQgetisnull(res, r, c) ? std::nullopt
                                   : std::optional<std::string>(PQgetvalue(res, r, c)));
    PQclear(res);
    return rows;
  }

 private:
  Status connect() {
    if (conn_) PQfinish(conn_);
    conn_ = PQconnectdb(url_.c_str());
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string message = PQerrorMessage(conn_);
      PQfinish(conn_);
      conn_ = nullptr;
      return make_error(Errc::kUnavailable, "auth db: cannot connect to PostgreSQL: " + message);
    }
    // Notices ("schema ... already exists, skipping" at every start but the first) are not
    // errors; libpq's default prints them to stderr, into every server's log.
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
    auto exec = [this](const std::string& sql) -> Status {
      PGresult* res = PQexec(conn_, sql.c_str());
      const bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
      std::string message = PQresultErrorMessage(res);
      PQclear(res);
      if (!ok) return make_error(Errc::kFailed, "auth db: " + message);
      return Ok{};
    };
    // CREATE SCHEMA IF NOT EXISTS is not safe against itself: of two servers starting at once,
    // one may fail on the catalog's unique index. The schema then exists: a second try passes.
    const std::string create = "CREATE SCHEMA IF NOT EXISTS " + schema_;
    if (auto st = exec(create); !st) {
      if (auto again = exec(create); !again) return again;
    }
    if (auto st = exec("SET search_path TO " + schema_); !st) return st;
    return Ok{};
  }

  std::string url_, schema_;
  PGconn* conn_ = nullptr;
  std::mutex mu_;
};
#endif

}  // namespace

int64_t as_int(const std::optional<std::string>& v) {
  return v ? std::strtoll(v->c_str(), nullptr, 10) : 0;
}

Result<std::unique_ptr<AuthDb>> open_sqlite_auth_db(const std::string& path) {
  auto db = std::make_unique<SqliteAuthDb>();
  if (auto st = db->open(path); !st) return st.failure();
  return std::unique_ptr<AuthDb>(std::move(db));
}

#ifdef SCOPE_WITH_POSTGRES
Result<std::unique_ptr<AuthDb>> open_postgres_auth_db(const std::string& url,
                                                      const std::string& schema) {
  auto db = std::make_unique<PostgresAuthDb>();
  if (auto st = db->open(url, schema); !st) return st.failure();
  return std::unique_ptr<AuthDb>(std::move(db));
}
#endif

}  // namespace scope::auth
