// The store test suite: every Store implementation runs the same tests.
// A store joins by adding a factory to store_factories(); suites that need a real store of
// each kind (store_suite_test.cpp, query_api_test.cpp) take theirs from it.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#ifdef SCOPE_WITH_POSTGRES
#include "store/postgres/postgres_store.h"
#endif
#include "store/sqlite/sqlite_store.h"
#include "store/store.h"

namespace scope::store::testing {

struct StoreFactory {
  std::string name;
  // A fresh, empty store; "" in `skip_reason` when it can run here.
  std::function<Result<std::unique_ptr<Store>>()> make;
  std::function<std::string()> skip_reason;
};

// Test names and ctest lines show the store's name, not the factory's bytes.
inline void PrintTo(const StoreFactory& f, std::ostream* os) { *os << f.name; }

inline std::string temp_dir() {
  std::string dir = std::filesystem::temp_directory_path() / "scope-store-XXXXXX";
  return mkdtemp(dir.data());
}

// SQLite in a new temporary file; PostgreSQL (SCOPE_TEST_POSTGRES_URL) in schema `pg_schema`,
// dropped and made afresh by each make().
inline std::vector<StoreFactory> store_factories(const std::string& pg_schema = "store_suite") {
  std::vector<StoreFactory> out;
  out.push_back({"sqlite",
                 []() -> Result<std::unique_ptr<Store>> {
                   SqliteOptions o;
                   o.path = temp_dir() + "/scope.db";
                   o.retention_chunk_rows = 7;  // several steps even in a small test
                   auto s = SqliteStore::open(o);
                   if (!s) return make_error(s.error());
                   return std::unique_ptr<Store>(std::move(s.value()));
                 },
                 [] { return std::string(); }});
#ifdef SCOPE_WITH_POSTGRES
  out.push_back({"postgres",
                 [pg_schema]() -> Result<std::unique_ptr<Store>> {
                   // A fresh schema per test (each test runs in its own process).
                   const char* url = std::getenv("SCOPE_TEST_POSTGRES_URL");
                   PGconn* c = PQconnectdb(url);
                   PQclear(PQexec(c, ("DROP SCHEMA IF EXISTS " + pg_schema + " CASCADE").c_str()));
                   PQfinish(c);
                   PostgresOptions o;
                   o.url = url;
                   o.schema = pg_schema;
                   o.retention_chunk_rows = 7;
                   auto s = PostgresStore::open(o);
                   if (!s) return make_error(s.error());
                   return std::unique_ptr<Store>(std::move(s.value()));
                 },
                 [] {
                   const char* url = std::getenv("SCOPE_TEST_POSTGRES_URL");
                   return url && *url ? std::string()
                                      : std::string(
                                            "SCOPE_TEST_POSTGRES_URL is not set "
                                            "(source scripts/services.sh)");
                 }});
#endif
  return out;
}

}  // namespace scope::store::testing
