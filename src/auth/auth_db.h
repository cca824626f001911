// Where accounts, sessions, keys, nodes and the audit live: a database of their own, apart from
// the event store, so that the SQL API cannot reach them by construction. `scope up` keeps it in
// DATA_DIR/auth.db (SQLite, 0600); `scope server` in its own PostgreSQL schema (<schema>_auth) on
// its own connection, which the SQL API's read-only role has no grant on.
//
// The SQL is written once for both: `$1`, `$2` parameters (SQLite reads them as named ones),
// BIGINT and TEXT columns, RETURNING for the steps that must be one statement to be atomic.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/result.h"

namespace scope::auth {

using SqlParam = std::variant<std::nullptr_t, int64_t, std::string>;
using SqlRow = std::vector<std::optional<std::string>>;

class AuthDb {
 public:
  virtual ~AuthDb() = default;
  virtual std::string_view kind() const = 0;
  // One statement; its rows (text, NULL as nullopt). Thread-safe.
  virtual Result<std::vector<SqlRow>> run(std::string_view sql,
                                          const std::vector<SqlParam>& params = {}) = 0;
};

// The auth tables' schema version this build writes (auth/auth_db.cpp's migrations).
inline constexpr int kAuthSchemaVersion = 2;

// Opens (creating, 0600) and migrates `path`.
Result<std::unique_ptr<AuthDb>> open_sqlite_auth_db(const std::string& path);
#ifdef SCOPE_WITH_POSTGRES
// Connects to `url`, creates `schema` when missing and migrates it.
Result<std::unique_ptr<AuthDb>> open_postgres_auth_db(const std::string& url,
                                                      const std::string& schema);
#endif

// A text column as an integer (0 for NULL).
int64_t as_int(const std::optional<std::string>& v);

}  // namespace scope::auth
