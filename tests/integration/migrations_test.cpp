// A store made by an earlier scope (schema version 2, by the frozen steps themselves) is
// brought to this build's version on open, its rows kept, its tables' columns those of
// event/schema.h in order.
#include "store/sqlite/migrations.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "event/row.h"
#include "event/schema.h"
#include "store/rollup.h"
#include "store/sqlite/sqlite_store.h"
#ifdef SCOPE_WITH_POSTGRES
#include <libpq-fe.h>

#include <thread>

#include "auth/auth_db.h"
#include "store/postgres/migrations.h"
#include "store/postgres/postgres_store.h"
#endif

namespace scope::store {
namespace {

// The columns every table should have now, in order.
std::vector<std::string> expected_columns(const event::FamilySchema& s) {
  std::vector<std::string> out;
  for (const auto& c : event::kCommonColumns) out.emplace_back(c.name);
  for (const auto& c : s.columns) out.emplace_back(c.name);
  return out;
}

// Decodes of two contexts (prompt runs, generation, a decode of neither phase) and graph
// computes in two batches that share no slot: the rows llm/decode's rollups get when the batches
// are written are the rows the migration's fill makes from the raw rows.
std::vector<event::Batch> decode_batches() {
  auto decode = [](event::Batch& b, int64_t at, int64_t ctx, event::Value phase, event::Value ns,
                   const char* comm) {
    b.events.push_back(event::make_row(*event::schema_for("llama"), at, 300, 300, comm));
    event::set_column(b.events.back(), "op", std::string("decode"));
    event::set_column(b.events.back(), "phase", std::move(phase));
    event::set_column(b.events.back(), "duration_ns", std::move(ns));
    event::set_column(b.events.back(), "ctx", ctx);
  };
  constexpr int64_t kS = 1'000'000'000, kT = 1'700'000'000 * kS;
  std::vector<event::Batch> out(2);
  for (size_t i = 0; i < out.size(); ++i) {
    out[i].node = "n";
    out[i].boot_id = "b";
    out[i].first_seq = 1 + i * 100;
  }
  decode(out[0], kT + 1, 7, std::string("prompt"), int64_t{999'500}, "a");
  decode(out[0], kT + 2, 8, std::string("prompt"), int64_t{50}, "a");
  decode(out[0], kT + 3, 7, std::string("prompt"), int64_t{1'007'000}, "a");
  decode(out[0], kT + 3, 7, event::Value(), int64_t{10}, "a");
  decode(out[0], kT + 4, 7, std::string("generation"), event::Value(), "a");
  decode(out[0], kT + 5, 8, std::string("generation"), int64_t{40}, "a");
  decode(out[0], kT + 6, 7, std::string("generation"), int64_t{3'000'000'000}, "b");
  decode(out[0], kT + kS, 7, std::string("prompt"), int64_t{7}, "b");
  decode(out[1], kT + 5 * kS, 7, std::string("prompt"), int64_t{123'456}, "b");
  decode(out[1], kT + 6 * kS, 7, std::string("generation"), int64_t{1}, "b");
  for (auto& b : out) {
    b.events.push_back(event::make_row(*event::schema_for("ggml"),
                                       kT + (2 + 5 * static_cast<int64_t>(b.first_seq / 100)) * kS,
                                       300, 300, "a"));
    event::set_column(b.events.back(), "op", std::string("graph"));
    event::set_column(b.events.back(), "duration_ns", int64_t{40});
  }
  return out;
}

// The rows of llm/decode's rollups, in order.
std::vector<std::vector<event::Value>> decode_rollup_rows(Store& s) {
  std::vector<std::vector<event::Value>> out;
  for (const SlotRollup* r : {&decode_slots(), &decode_run_slots(), &graph_slots()}) {
    auto rows =
        s.select("SELECT * FROM " + std::string(r->table) + " ORDER BY 1, 2, 3, 4, 5, 6", {}, {});
    EXPECT_TRUE(rows) << rows.error();
    if (!rows) return out;
    out.push_back({event::Value(std::string(r->table))});
    for (auto& row : rows->rows) out.push_back(std::move(row));
  }
  return out;
}

// Durations around every power of two, small ones, negative ones and the largest.
std::vector<int64_t> bucket_probes() {
  std::vector<int64_t> out = {
      -5, 0, 1, 127, 128, 129, 999'500, 1'007'000, std::numeric_limits<int64_t>::max()};
  for (int e = 1; e < 63; ++e)
    for (int64_t d : {-1, 0, 1, 3})
      out.push_back((int64_t{1} << e) + d * ((int64_t{1} << e) / 64 + 1));
  return out;
}

TEST(Migrations, DecodeBucketsAreTheSameInSqlAndWithinAHundredAndTwentyEighth) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(":memory:", &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  const std::string sql = "SELECT " + decode_bucket_sql("?1");
  ASSERT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  int64_t last = INT64_MIN;
  auto probes = bucket_probes();
  std::sort(probes.begin(), probes.end());
  for (int64_t d : probes) {
    sqlite3_bind_int64(st, 1, d);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int64(st, 0), decode_bucket(d)) << d;
    sqlite3_reset(st);
    EXPECT_GE(decode_bucket(d), last) << d;  // in order
    last = decode_bucket(d);
    const int64_t v = decode_bucket_value(decode_bucket(d));
    if (d < 128)
      EXPECT_EQ(v, d);
    else
      EXPECT_LE(std::abs(static_cast<double>(v) - static_cast<double>(d)),
                static_cast<double>(d) / 128)
          << d;
  }
  EXPECT_EQ(decode_bucket(999'500), decode_bucket(1'007'000));
  EXPECT_EQ(decode_bucket_value(decode_bucket(999'500)), 1'003'520);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST(Migrations, SqliteDecodeRollupsAreFilledAsWritten) {
  std::string dir = std::filesystem::temp_directory_path() / "scope-mig-XXXXXX";
  ASSERT_TRUE(mkdtemp(dir.data()));
  std::string path = dir + "/scope.db";
  std::vector<std::vector<event::Value>> written;
  {
    auto store = SqliteStore::open({path});
    ASSERT_TRUE(store) << store.error();
    for (const auto& b : decode_batches()) ASSERT_TRUE((*store)->write(b));
    written = decode_rollup_rows(**store);
  }
  ASSERT_EQ(written.size(), 3u + 9u + 5u + 2u);
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const char* sql =
        "DROP TABLE llama_decode_slots; DROP TABLE llama_decode_run_slots; DROP TABLE "
        "ggml_graph_slots; UPDATE scope_meta SET value = '4' WHERE key = 'schema_version';";
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << err;
    sqlite3_close(db);
  }
  auto store = SqliteStore::open({path});
  ASSERT_TRUE(store) << store.error();
  EXPECT_EQ(decode_rollup_rows(**store), written);
  std::filesystem::remove_all(dir);
}

TEST(Migrations, SqliteVersion2FileIsUpgradedWithItsRows) {
  std::string dir = std::filesystem::temp_directory_path() / "scope-mig-XXXXXX";
  ASSERT_TRUE(mkdtemp(dir.data()));
  std::string path = dir + "/scope.db";
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    std::string sql = "CREATE TABLE scope_meta (key TEXT PRIMARY KEY, value TEXT);";
    sql += std::string(sqlite_migrations()[0]) + std::string(sqlite_migrations()[1]);
    sql +=
        "INSERT INTO scope_meta VALUES ('schema_version', '2');"
        "INSERT INTO open_events (ts_ns, node, seq, pid, call, path, ret) "
        "VALUES (5, 'old', 1, 9, 'openat', '/etc/hosts', 3);";
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
    sqlite3_close(db);
  }
  auto store = SqliteStore::open({path});
  ASSERT_TRUE(store) << store.error();
  auto version = (*store)->query("SELECT value FROM scope_meta WHERE key = 'schema_version'", {});
  ASSERT_TRUE(version) << version.error();
  EXPECT_EQ(version->rows.at(0).at(0), event::Value(std::to_string(SqliteStore::kSchemaVersion)));
  auto old = (*store)->query("SELECT path, path_truncated FROM open_events WHERE node = 'old'", {});
  ASSERT_TRUE(old) << old.error();
  ASSERT_EQ(old->rows.size(), 1u);
  EXPECT_EQ(old->rows[0][0], event::Value(std::string("/etc/hosts")));
  EXPECT_EQ(old->rows[0][1], event::Value());
  for (const auto& s : event::schemas()) {
    auto r =
        (*store)->query("SELECT name FROM pragma_table_info('" + std::string(s.table) + "')", {});
    ASSERT_TRUE(r) << r.error();
    std::vector<std::string> got;
    for (const auto& row : r->rows) got.push_back(std::get<std::string>(row[0]));
    EXPECT_EQ(got, expected_columns(s)) << s.table;
  }
  std::filesystem::remove_all(dir);
}

#ifdef SCOPE_WITH_POSTGRES
TEST(Migrations, PostgresVersion2SchemaIsUpgradedWithItsRows) {
  const char* url = std::getenv("SCOPE_TEST_POSTGRES_URL");
  if (!url || !*url)
    GTEST_SKIP() << "SCOPE_TEST_POSTGRES_URL is not set (source scripts/services.sh)";
  PGconn* c = PQconnectdb(url);
  ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
  auto steps = postgres_migrations({});
  std::string sql =
      "DROP SCHEMA IF EXISTS migrated CASCADE; CREATE SCHEMA migrated; SET search_path TO "
      "migrated; CREATE TABLE scope_meta (key TEXT PRIMARY KEY, value TEXT);" +
      steps[0] + steps[1] +
      "INSERT INTO scope_meta VALUES ('schema_version', '2'), ('partitioning', 'native');"
      "INSERT INTO open_events (ts_ns, node, seq, pid, call, path, ret) "
      "VALUES (5, 'old', 1, 9, 'openat', '/etc/hosts', 3);";
  PGresult* r = PQexec(c, sql.c_str());
  ASSERT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQerrorMessage(c);
  PQclear(r);
  PQfinish(c);
  PostgresOptions o;
  o.url = url;
  o.schema = "migrated";
  auto store = PostgresStore::open(o);
  ASSERT_TRUE(store) << store.error();
  auto old = (*store)->query("SELECT path, path_truncated FROM open_events WHERE node = 'old'", {});
  ASSERT_TRUE(old) << old.error();
  ASSERT_EQ(old->rows.size(), 1u);
  EXPECT_EQ(old->rows[0][0], event::Value(std::string("/etc/hosts")));
  for (const auto& s : event::schemas()) {
    auto cols = (*store)->query(
        "SELECT column_name::text FROM information_schema.columns WHERE table_schema = "
        "'migrated' AND table_name = '" +
            std::string(s.table) + "' ORDER BY ordinal_position",
        {});
    ASSERT_TRUE(cols) << cols.error();
    std::vector<std::string> got;
    for (const auto& row : cols->rows) got.push_back(std::get<std::string>(row[0]));
    EXPECT_EQ(got, expected_columns(s)) << s.table;
  }
}

TEST(Migrations, PostgresDecodeBucketsAreTheSameInSql) {
  const char* url = std::getenv("SCOPE_TEST_POSTGRES_URL");
  if (!url || !*url)
    GTEST_SKIP() << "SCOPE_TEST_POSTGRES_URL is not set (source scripts/services.sh)";
  PGconn* c = PQconnectdb(url);
  ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
  std::string sql = "SELECT d, " + decode_bucket_sql("d") + " FROM (VALUES ";
  auto probes = bucket_probes();
  for (size_t i = 0; i < probes.size(); ++i)
    sql += (i ? ", (" : "(") + std::to_string(probes[i]) + "::bigint)";
  sql += ") v (d)";
  PGresult* r = PQexec(c, sql.c_str());
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(c);
  ASSERT_EQ(static_cast<size_t>(PQntuples(r)), probes.size());
  for (int i = 0; i < PQntuples(r); ++i)
    EXPECT_EQ(std::stoll(PQgetvalue(r, i, 1)), decode_bucket(std::stoll(PQgetvalue(r, i, 0))))
        << PQgetvalue(r, i, 0);
  PQclear(r);
  PQfinish(c);
}

TEST(Migrations, PostgresDecodeRollupsAreFilledAsWritten) {
  const char* url = std::getenv("SCOPE_TEST_POSTGRES_URL");
  if (!url || !*url)
    GTEST_SKIP() << "SCOPE_TEST_POSTGRES_URL is not set (source scripts/services.sh)";
  PGconn* c = PQconnectdb(url);
  ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
  PQclear(PQexec(c, "DROP SCHEMA IF EXISTS migrated_decode CASCADE"));
  PostgresOptions o;
  o.url = url;
  o.schema = "migrated_decode";
  std::vector<std::vector<event::Value>> written;
  {
    auto store = PostgresStore::open(o);
    ASSERT_TRUE(store) << store.error();
    for (const auto& b : decode_batches()) ASSERT_TRUE((*store)->write(b));
    written = decode_rollup_rows(**store);
  }
  ASSERT_EQ(written.size(), 3u + 9u + 5u + 2u);
  PGresult* r = PQexec(c,
                       "SET search_path TO migrated_decode; DROP TABLE llama_decode_slots; DROP "
                       "TABLE llama_decode_run_slots; DROP TABLE ggml_graph_slots; UPDATE "
                       "scope_meta SET value = '5' WHERE key = 'schema_version';");
  ASSERT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQerrorMessage(c);
  PQclear(r);
  PQfinish(c);
  auto store = PostgresStore::open(o);
  ASSERT_TRUE(store) << store.error();
  EXPECT_EQ(decode_rollup_rows(**store), written);
}

// Servers started together on an empty auth schema (two behind nginx, a systemd restart race):
// every one of them opens it; the tables are created once.
TEST(Migrations, PostgresAuthSchemaMigratesOnceUnderConcurrentStarts) {
  const char* url = std::getenv("SCOPE_TEST_POSTGRES_URL");
  if (!url || !*url)
    GTEST_SKIP() << "SCOPE_TEST_POSTGRES_URL is not set (source scripts/services.sh)";
  PGconn* c = PQconnectdb(url);
  ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
  PQclear(PQexec(c, "DROP SCHEMA IF EXISTS racing_auth CASCADE"));
  PQfinish(c);
  constexpr int kServers = 6;
  std::vector<std::string> errors(kServers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kServers; ++i)
    threads.emplace_back([&, i] {
      auto db = auth::open_postgres_auth_db(url, "racing_auth");
      if (!db) errors[static_cast<size_t>(i)] = db.error();
    });
  for (auto& t : threads) t.join();
  for (int i = 0; i < kServers; ++i) EXPECT_EQ(errors[static_cast<size_t>(i)], "") << i;
  auto db = auth::open_postgres_auth_db(url, "racing_auth");
  ASSERT_TRUE(db) << db.error();
  auto v = (*db)->run("SELECT value FROM auth_meta WHERE key = 'schema_version'", {});
  ASSERT_TRUE(v && v->size() == 1u);
  EXPECT_EQ(*(*v)[0][0], std::to_string(auth::kAuthSchemaVersion));
}
#endif

}  // namespace
}  // namespace scope::store
