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
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "event/row.h"
#include "event/schema.h"
#include "http/router.h"
#include "server/queries.h"
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

// The rows of llm/decode's rollups and requests, in order.
std::vector<std::vector<event::Value>> decode_rollup_rows(Store& s) {
  std::vector<std::vector<event::Value>> out;
  for (const std::string table : {decode_slots().table, "llama_requests", graph_slots().table}) {
    auto rows = s.select("SELECT * FROM " + table + " ORDER BY 1, 2, 3, 4, 5, 6", {}, {});
    EXPECT_TRUE(rows) << rows.error();
    if (!rows) return out;
    out.push_back({event::Value(table)});
    for (auto& row : rows->rows) out.push_back(std::move(row));
  }
  return out;
}

// decode_batches' requests: context 7's prompts from kT + 1 to kT + 3 ended at kT + 4 (the
// phaseless decode between is none), context 8's at kT + 2 ended at kT + 5, and context 7's
// prompt at kT + 5 s in the first batch ended by the second batch's generation at kT + 6 s.
void expect_decode_requests(Store& s) {
  using V = event::Value;
  constexpr int64_t kS = 1'000'000'000, kT = 1'700'000'000 * kS;
  auto r = s.select(
      "SELECT ctx, comm, start_ns, first_token_ns, ttft_ns FROM llama_requests ORDER BY "
      "first_token_ns",
      {}, {});
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->rows,
            (std::vector<std::vector<V>>{
                {V(int64_t{7}), V("a"), V(kT + 1), V(kT + 4), V(int64_t{1'007'002})},
                {V(int64_t{8}), V("a"), V(kT + 2), V(kT + 5), V(int64_t{50})},
                {V(int64_t{7}), V("b"), V(kT + kS), V(kT + 6 * kS), V(4 * kS + 123'456)}}));
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
    expect_decode_requests(**store);
  }
  ASSERT_EQ(written.size(), 3u + 9u + 3u + 2u);
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    // Back to version 6: without the decode rollups (step 7), the kernel's file (step 8), the
    // requests (step 9) and the GPU times' columns (step 10).
    const char* sql =
        "DROP TABLE llama_decode_slots; DROP TABLE llama_requests; DROP INDEX "
        "llama_events_decodes; DROP TABLE ggml_graph_slots; ALTER TABLE cuda_events DROP COLUMN "
        "kernel_file; ALTER TABLE cuda_events DROP COLUMN kernel_offset; ALTER TABLE cuda_events "
        "DROP COLUMN queue_ns; ALTER TABLE cuda_events DROP COLUMN correlation_id; UPDATE "
        "scope_meta SET value = '6' WHERE key = 'schema_version';";
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << err;
    sqlite3_close(db);
  }
  auto store = SqliteStore::open({path});
  ASSERT_TRUE(store) << store.error();
  EXPECT_EQ(decode_rollup_rows(**store), written);
  std::filesystem::remove_all(dir);
}

// host/opens' rollups, filled from the two opens of the old store (at 5 ns and 6 s, the second
// an error of comm 'cat', the first with no comm): per width, its rows, opens and errors.
void expect_open_rollups_filled(Store& s) {
  using V = event::Value;
  constexpr int64_t k5s = 5'000'000'000, k20s = 20'000'000'000, k1m = 60'000'000'000,
                    k10m = 600'000'000'000;
  // (width, rows) per table.
  for (const auto& [table, rows] :
       std::vector<std::pair<std::string, std::vector<std::pair<int64_t, int64_t>>>>{
           {"open_comm_buckets", {{k5s, 2}, {k20s, 2}, {k1m, 2}, {k10m, 2}}},
           {"open_path_buckets", {{k5s, 2}, {k20s, 1}, {k1m, 1}, {k10m, 1}}},
           {"open_proc_path_buckets", {{k5s, 2}, {k1m, 2}, {k10m, 2}}}}) {
    auto r = s.query("SELECT width_ns, count(*), sum(opens), sum(errors) FROM " + table +
                         " WHERE node = 'old' GROUP BY width_ns ORDER BY width_ns",
                     {});
    ASSERT_TRUE(r) << r.error();
    std::vector<std::vector<V>> want;
    for (const auto& [width, n] : rows)
      want.push_back({V(width), V(n), V(int64_t{2}), V(int64_t{1})});
    EXPECT_EQ(r->rows, want) << table;
  }
  auto hosts = s.query(
      "SELECT bucket_ns, opens, errors FROM open_path_buckets WHERE node = 'old' AND width_ns = "
      "5000000000 AND path = '/etc/hosts' ORDER BY bucket_ns",
      {});
  ASSERT_TRUE(hosts) << hosts.error();
  EXPECT_EQ(hosts->rows, (std::vector<std::vector<V>>{
                             {V(int64_t{0}), V(int64_t{1}), V(int64_t{0})},
                             {V(int64_t{5'000'000'000}), V(int64_t{1}), V(int64_t{1})}}));
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
        "VALUES (5, 'old', 1, 9, 'openat', '/etc/hosts', 3);"
        "INSERT INTO open_events (ts_ns, node, seq, pid, comm, call, path, ret) "
        "VALUES (6000000000, 'old', 2, 9, 'cat', 'openat', '/etc/hosts', -2);";
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
    sqlite3_close(db);
  }
  auto store = SqliteStore::open({path});
  ASSERT_TRUE(store) << store.error();
  auto version = (*store)->query("SELECT value FROM scope_meta WHERE key = 'schema_version'", {});
  ASSERT_TRUE(version) << version.error();
  EXPECT_EQ(version->rows.at(0).at(0), event::Value(std::to_string(SqliteStore::kSchemaVersion)));
  auto old = (*store)->query(
      "SELECT path, path_truncated FROM open_events WHERE node = 'old' AND seq = 1", {});
  ASSERT_TRUE(old) << old.error();
  ASSERT_EQ(old->rows.size(), 1u);
  EXPECT_EQ(old->rows[0][0], event::Value(std::string("/etc/hosts")));
  EXPECT_EQ(old->rows[0][1], event::Value());
  expect_open_rollups_filled(**store);
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

// Allocations and frees stored before the memory rollup (schema version 4 of SQLite, 5 of
// PostgreSQL), as rows of the raw tables.
const char* const kOldMemoryRows =
    "INSERT INTO cuda_events (ts_ns, node, seq, pid, comm, call, op, ret, ptr, bytes) VALUES "
    "(1700000001000000000, 'old', 1, 9, 'trainer', 'cudaMalloc', 'alloc', 0, 4096, 100), "
    "(1700000002000000000, 'old', 2, 9, 'trainer', 'cudaMalloc', 'alloc', 0, 8192, 50), "
    "(1700000003000000000, 'old', 3, 9, 'trainer', 'cudaFree', 'free', 0, 4096, NULL), "
    "(1700000004000000000, 'old', 4, 9, 'trainer', 'cudaMalloc', 'alloc', 0, 8192, 70), "
    "(1700000005000000000, 'old', 5, 9, 'trainer', 'cudaFree', 'free', 0, 12345, NULL), "
    "(1700000006000000000, 'old', 6, 9, 'trainer', 'cudaMalloc', 'alloc', 2, 16384, 999);"
    "INSERT INTO ggml_events (ts_ns, node, seq, pid, comm, call, op, ptr, bytes) VALUES "
    "(1700000001000000000, 'old', 7, 9, 'trainer', 'ggml_backend_alloc', 'alloc', 160, 4096);";

// The memory answers of the migrated rows: the same as their replay (a comm filter), and a
// batch written after the migration goes on from their levels.
void expect_migrated_memory(Store& s) {
  http::Router router;
  server::add_query_routes(router, s);
  auto get = [&](const char* path, bool replay) {
    http::Request req;
    req.method = "GET";
    req.query = {{"from", "1700000000000000000"}, {"to", "1700000060000000000"}};
    if (replay) req.query["comm"] = "trainer";
    auto res = router.match("GET", std::string("/api/v1/query") + path).route->handler(req);
    EXPECT_EQ(res.status, 200) << res.body;
    return nlohmann::json::parse(res.body);
  };
  auto a = get("/cuda/memory", false);
  ASSERT_EQ(a["processes"].size(), 1u) << a;
  EXPECT_EQ(a["processes"][0]["bytes"], 70);
  EXPECT_EQ(a["processes"][0]["peak_bytes"], 150);
  EXPECT_EQ(a["processes"][0]["outstanding_count"], 1);
  EXPECT_EQ(a, get("/cuda/memory", true));
  auto l = get("/llm/memory", false);
  ASSERT_EQ(l["processes"].size(), 1u) << l;
  EXPECT_EQ(l["processes"][0]["bytes"], 4096);
  EXPECT_EQ(l, get("/llm/memory", true));
  event::Batch b;
  b.node = "old";
  b.boot_id = "later";
  b.first_seq = 100;
  b.events.push_back(
      event::make_row(*event::schema_for("cuda"), 1700000010000000000, 9, 9, "trainer"));
  event::set_column(b.events.back(), "op", std::string("free"));
  event::set_column(b.events.back(), "ptr", int64_t{8192});
  ASSERT_TRUE(s.write(b));
  a = get("/cuda/memory", false);
  ASSERT_EQ(a["processes"].size(), 1u) << a;
  EXPECT_EQ(a["processes"][0]["bytes"], 0);
  EXPECT_EQ(a["processes"][0]["peak_bytes"], 150);
  EXPECT_EQ(a, get("/cuda/memory", true));
}

TEST(Migrations, SqliteMemoryRollupIsFilledFromTheRowsStored) {
  std::string dir = std::filesystem::temp_directory_path() / "scope-mig-XXXXXX";
  ASSERT_TRUE(mkdtemp(dir.data()));
  std::string path = dir + "/scope.db";
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    std::string sql = "CREATE TABLE scope_meta (key TEXT PRIMARY KEY, value TEXT);";
    for (size_t v = 0; v < 4; ++v) sql += std::string(sqlite_migrations()[v]);
    sql += "INSERT INTO scope_meta VALUES ('schema_version', '4');";
    sql += kOldMemoryRows;
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
    sqlite3_close(db);
  }
  auto store = SqliteStore::open({path});
  ASSERT_TRUE(store) << store.error();
  expect_migrated_memory(**store);
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
      "VALUES (5, 'old', 1, 9, 'openat', '/etc/hosts', 3);"
      "INSERT INTO open_events (ts_ns, node, seq, pid, comm, call, path, ret) "
      "VALUES (6000000000, 'old', 2, 9, 'cat', 'openat', '/etc/hosts', -2);";
  PGresult* r = PQexec(c, sql.c_str());
  ASSERT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQerrorMessage(c);
  PQclear(r);
  PQfinish(c);
  PostgresOptions o;
  o.url = url;
  o.schema = "migrated";
  auto store = PostgresStore::open(o);
  ASSERT_TRUE(store) << store.error();
  auto old = (*store)->query(
      "SELECT path, path_truncated FROM open_events WHERE node = 'old' AND seq = 1", {});
  ASSERT_TRUE(old) << old.error();
  ASSERT_EQ(old->rows.size(), 1u);
  EXPECT_EQ(old->rows[0][0], event::Value(std::string("/etc/hosts")));
  expect_open_rollups_filled(**store);
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

TEST(Migrations, PostgresMemoryRollupIsFilledFromTheRowsStored) {
  const char* url = std::getenv("SCOPE_TEST_POSTGRES_URL");
  if (!url || !*url)
    GTEST_SKIP() << "SCOPE_TEST_POSTGRES_URL is not set (source scripts/services.sh)";
  PGconn* c = PQconnectdb(url);
  ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
  auto steps = postgres_migrations({});
  std::string sql =
      "DROP SCHEMA IF EXISTS migrated_memory CASCADE; CREATE SCHEMA migrated_memory; SET "
      "search_path TO migrated_memory; CREATE TABLE scope_meta (key TEXT PRIMARY KEY, value "
      "TEXT);";
  for (size_t v = 0; v < 5; ++v) sql += steps[v];
  sql += "INSERT INTO scope_meta VALUES ('schema_version', '5'), ('partitioning', 'native');";
  sql += kOldMemoryRows;
  PGresult* r = PQexec(c, sql.c_str());
  ASSERT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQerrorMessage(c);
  PQclear(r);
  PQfinish(c);
  PostgresOptions o;
  o.url = url;
  o.schema = "migrated_memory";
  auto store = PostgresStore::open(o);
  ASSERT_TRUE(store) << store.error();
  expect_migrated_memory(**store);
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
    expect_decode_requests(**store);
  }
  ASSERT_EQ(written.size(), 3u + 9u + 3u + 2u);
  PGresult* r = PQexec(c,
                       "SET search_path TO migrated_decode; DROP TABLE llama_decode_slots; DROP "
                       "TABLE llama_requests; DROP INDEX llama_events_decodes; DROP TABLE "
                       "ggml_graph_slots; UPDATE scope_meta SET value = '7' WHERE key = "
                       "'schema_version';");
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
