// The SQL API (Store::query) against hostile queries: each attack an attack run found, on a
// real SQLite file store and on the real PostgreSQL server (logged in as the superuser the test
// server has, the worst case), refused with a message that says what, and the store unharmed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "families/cuda_output.h"
#include "store/sqlite/sqlite_store.h"
#ifdef SCOPE_WITH_POSTGRES
#include <libpq-fe.h>

#include "store/postgres/postgres_store.h"
#endif

namespace scope::store {
namespace {

using Clock = std::chrono::steady_clock;

std::string temp_dir() {
  std::string dir = std::filesystem::temp_directory_path() / "scope-sqlsafe-XXXXXX";
  return mkdtemp(dir.data());
}

event::Batch launches(uint64_t first_seq, size_t n) {
  event::Batch b;
  b.node = "n1";
  b.boot_id = "boot";
  b.first_seq = first_seq;
  for (size_t i = 0; i < n; ++i) {
    CudaEvent e;
    e.ts_ns = 1000 + first_seq + i;
    e.pid = 7;
    e.comm = "demo";
    e.call = CALL_cuLaunchKernel;
    e.op = CUDA_OP_LAUNCH;
    e.kernel = "k";
    b.events.push_back(cuda_row(e));
  }
  return b;
}

// The process's peak resident set (VmHWM) since reset_peak_rss(), in MiB.
void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }
long status_mib(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::strlen(field)) / 1024;
  return -1;
}

// The query's error, or "" when it succeeded (the test then fails on what it expected).
std::string refusal(Store& s, const std::string& sql, const QueryOptions& o = {}) {
  auto r = s.query(sql, o);
  return r ? std::string() : r.error();
}

#define EXPECT_REFUSED(store, sql, words)                                      \
  do {                                                                         \
    std::string err_ = refusal(store, sql);                                    \
    EXPECT_NE(err_.find(words), std::string::npos) << (sql) << " -> " << err_; \
  } while (0)

class SqliteSafety : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_dir();
    path_ = dir_ + "/scope.db";
    auto s = SqliteStore::open({path_});
    ASSERT_TRUE(s) << s.error();
    store_ = std::move(s.value());
    ASSERT_TRUE(store_->write(launches(0, 100)));
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  // Runs SQL on the file through a connection of the test's own (not the SQL API).
  void raw(const std::string& file, const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
    sqlite3_free(err);
    sqlite3_close(db);
  }
  int64_t count() {
    auto r = store_->query("SELECT count(*) FROM cuda_events", {});
    EXPECT_TRUE(r) << (r ? "" : r.error());
    return r ? std::get<int64_t>(r->rows.at(0).at(0)) : -1;
  }
  std::string dir_, path_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteSafety, AttachOfAnExistingDatabaseIsRefused) {
  std::string other = dir_ + "/other.db";
  raw(other, "CREATE TABLE secret (v TEXT); INSERT INTO secret VALUES ('hunter2')");
  EXPECT_REFUSED(*store_, "ATTACH DATABASE '" + other + "' AS o",
                 "not allowed in the SQL API: ATTACH");
  EXPECT_REFUSED(*store_, "ATTACH '/etc/hostname' AS h", "ATTACH");
  EXPECT_REFUSED(*store_, "SELECT * FROM o.secret", "no such table");
  EXPECT_REFUSED(*store_, "DETACH o", "not allowed in the SQL API");
  // VACUUM INTO writes a copy of the store anywhere.
  EXPECT_REFUSED(*store_, "VACUUM INTO '" + dir_ + "/copy.db'", "read-only");
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/copy.db"));
  EXPECT_EQ(count(), 100);
}

TEST_F(SqliteSafety, AttachOfAFifoIsRefusedAtOnce) {
  std::string fifo = dir_ + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  auto start = Clock::now();
  auto pending = std::async(std::launch::async,
                            [&] { return refusal(*store_, "ATTACH '" + fifo + "' AS f"); });
  if (pending.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    // It opened the FIFO: a writer unblocks it so the test can end.
    int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
    FAIL() << "ATTACH of a FIFO still running after 5 s";
  }
  EXPECT_NE(pending.get().find("ATTACH"), std::string::npos);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
  EXPECT_EQ(count(), 100);  // the reader is free
}

TEST_F(SqliteSafety, ProcessWidePragmasAreRefusedAndIngestGoesOn) {
  EXPECT_REFUSED(*store_, "PRAGMA hard_heap_limit=1000000",
                 "not allowed in the SQL API: PRAGMA hard_heap_limit");
  // The same PRAGMA as a table-valued function.
  EXPECT_FALSE(store_->query("SELECT * FROM pragma_hard_heap_limit(1000000)", {}));
  for (const char* sql :
       {"PRAGMA soft_heap_limit=1000", "PRAGMA query_only=0", "PRAGMA writable_schema=1",
        "PRAGMA journal_mode=DELETE", "PRAGMA mmap_size=1000000000", "PRAGMA threads=8",
        "PRAGMA cache_size=1000000000", "PRAGMA wal_checkpoint", "PRAGMA temp_store_directory='/'",
        "PRAGMA database_list"})
    EXPECT_REFUSED(*store_, sql, "not allowed in the SQL API: PRAGMA");
  EXPECT_EQ(sqlite3_hard_heap_limit64(-1), 0);
  EXPECT_EQ(sqlite3_soft_heap_limit64(-1), 0);
  auto w = store_->write(launches(100, 5000));
  ASSERT_TRUE(w) << w.error();
  EXPECT_EQ(w->stored, 5000u);
  EXPECT_EQ(count(), 5100);
}

TEST_F(SqliteSafety, TransactionsAreRefusedAndNoSnapshotIsPinned) {
  for (const char* sql : {"BEGIN", "BEGIN IMMEDIATE", "BEGIN EXCLUSIVE", "COMMIT", "END",
                          "ROLLBACK", "SAVEPOINT a", "RELEASE a", "ROLLBACK TO a"})
    EXPECT_REFUSED(*store_, sql, "not allowed in the SQL API");
  // Had the BEGIN run, the reader would still see 100 rows and hold the WAL.
  ASSERT_TRUE(store_->write(launches(100, 50)));
  EXPECT_EQ(count(), 150);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", nullptr, nullptr, nullptr),
            SQLITE_OK);
  int log = -1, done = -1;
  EXPECT_EQ(sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_TRUNCATE, &log, &done),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  EXPECT_EQ(log, 0);  // the whole WAL checkpointed and truncated: no reader holds it
  sqlite3_close(db);
}

TEST_F(SqliteSafety, HugeValuesFailInsteadOfGrowing) {
  reset_peak_rss();
  long before = status_mib("VmRSS:");
  for (const char* sql :
       {"SELECT zeroblob(999999999)", "SELECT randomblob(999999999)",
        "SELECT length(zeroblob(999999999))",
        "SELECT group_concat(hex(randomblob(1000))) FROM (WITH RECURSIVE r(x) AS (SELECT 1 "
        "UNION ALL SELECT x + 1 FROM r WHERE x < 100000) SELECT x FROM r)",
        "SELECT replace(hex(zeroblob(10000000)), '0', '00000')"})
    EXPECT_REFUSED(*store_, sql, "too big");
  // printf() past the limit gives NULL rather than an error: nothing grows either.
  auto p = store_->query("SELECT printf('%.*c', 999999999, 'x')", {});
  ASSERT_TRUE(p) << p.error();
  EXPECT_EQ(p->rows.at(0).at(0), event::Value(std::monostate{}));
  long peak = status_mib("VmHWM:");
  std::printf("peak RSS %ld MiB above the start (%ld MiB)\n", peak - before, before);
  EXPECT_LT(peak - before, 200);
  EXPECT_EQ(count(), 100);
}

TEST_F(SqliteSafety, AResultPastMaxBytesIsCutOff) {
  // ~10 KB a row, 100000 rows: 1 GB if nothing stopped it.
  const std::string big =
      "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 100000) "
      "SELECT x, hex(zeroblob(5000)) AS v FROM r";
  QueryOptions o;
  o.max_rows = 1000000;
  reset_peak_rss();
  long before = status_mib("VmRSS:");
  auto start = Clock::now();
  auto r = store_->query(big, o);
  ASSERT_TRUE(r) << r.error();
  long peak = status_mib("VmHWM:");
  std::printf(
      "%zu rows, peak RSS %ld MiB above the start, %lld ms\n", r->rows.size(), peak - before,
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count()));
  EXPECT_TRUE(r->truncated);
  EXPECT_EQ(r->truncated_by, "bytes");
  size_t row_bytes = 2 * kQueryValueOverhead + 10000;
  EXPECT_EQ(r->rows.size(), o.max_bytes / row_bytes);
  EXPECT_LT(peak - before, 200);
  auto j = query_result_json(*r);
  EXPECT_EQ(j["truncated_by"], "bytes");

  // Exactly at the limit: as many rows as fit, the next one is cut.
  o.max_bytes = 10 * (kQueryValueOverhead + 4);
  r = store_->query("SELECT comm FROM cuda_events", o);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->rows.size(), 10u);
  EXPECT_EQ(r->truncated_by, "bytes");
  // A row limit reached first says so.
  o.max_rows = 5;
  r = store_->query("SELECT comm FROM cuda_events", o);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->rows.size(), 5u);
  EXPECT_EQ(r->truncated_by, "rows");
  EXPECT_FALSE(query_result_json(*store_->query("SELECT 1", {})).contains("truncated_by"));
}

TEST_F(SqliteSafety, ASlowQueryIsCancelledInTime) {
  QueryOptions o;
  o.timeout_ms = 300;
  for (const char* sql :
       {"WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r",
        // Rows come quickly; building them all takes longer than the timeout.
        "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT x FROM r"}) {
    o.max_rows = 100000000;
    o.max_bytes = SIZE_MAX;
    auto start = Clock::now();
    auto r = store_->query(sql, o);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    std::printf("cancelled after %lld ms\n", static_cast<long long>(took.count()));
    ASSERT_FALSE(r) << sql;
    EXPECT_NE(r.error().find("cancelled after 300 ms"), std::string::npos) << r.error();
    EXPECT_LT(took, std::chrono::milliseconds(300 + 500));
  }
  EXPECT_EQ(count(), 100);
}

TEST_F(SqliteSafety, ExtensionsAndUnlistedFunctionsAreRefused) {
  EXPECT_REFUSED(*store_, "SELECT load_extension('/lib/x86_64-linux-gnu/libc.so.6')",
                 "not allowed in the SQL API: function load_extension");
  EXPECT_REFUSED(*store_, "SELECT fts3_tokenizer('simple')",
                 "not allowed in the SQL API: function fts3_tokenizer");
  EXPECT_REFUSED(*store_, "SELECT sqlite_compileoption_get(0)", "not allowed in the SQL API");
  EXPECT_FALSE(store_->query("SELECT readfile('/etc/passwd')", {}));
  EXPECT_FALSE(store_->query("SELECT writefile('/tmp/x', 'y')", {}));
  // Ordinary scalar, aggregate, window, date and JSON functions still work.
  auto r = store_->query(
      "SELECT count(*) OVER (), row_number() OVER (ORDER BY seq), upper(comm), "
      "json_extract('{\"a\": 2}', '$.a'), '{\"b\": 3}' ->> '$.b', datetime(0, 'unixepoch'), "
      "printf('%05d', pid), coalesce(NULL, 1), abs(-4), round(2.5), hex(zeroblob(2)), "
      "CURRENT_TIMESTAMP IS NOT NULL, (SELECT group_concat(value) FROM json_each('[1,2]')) "
      "FROM cuda_events LIMIT 1",
      {});
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->rows.at(0).at(2), event::Value(std::string("DEMO")));
  EXPECT_EQ(r->rows.at(0).at(3), event::Value(int64_t{2}));
  EXPECT_EQ(r->rows.at(0).at(5), event::Value(std::string("1970-01-01 00:00:00")));
  EXPECT_EQ(r->rows.at(0).at(12), event::Value(std::string("1,2")));
  // Floats out of int64's range come back as text.
  r = store_->query("SELECT 1e999, -1e300, 2.0", {});
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->rows.at(0).at(0), event::Value(std::string("inf")));
  EXPECT_EQ(r->rows.at(0).at(2), event::Value(int64_t{2}));
}

TEST_F(SqliteSafety, OnlyTheListedTablesAreReadable) {
  // A table the store does not list (the auth tables to come): refused, even counted.
  raw(path_,
      "CREATE TABLE users (name TEXT, password_hash TEXT); INSERT INTO users VALUES "
      "('admin', 'argon2id$secret')");
  EXPECT_REFUSED(*store_, "SELECT * FROM users", "table users is not readable through the SQL API");
  EXPECT_REFUSED(*store_, "SELECT count(*) FROM users", "table users is not readable");
  EXPECT_REFUSED(*store_, "SELECT name FROM cuda_events JOIN users ON 1", "table users");
  EXPECT_REFUSED(*store_, "WITH u AS (SELECT * FROM users) SELECT * FROM u", "table users");
  EXPECT_REFUSED(*store_, "SELECT * FROM main.users", "table users is not readable");
  // count(*) reads no column: SQLite does not say whether `users` is a table or a WITH.
  EXPECT_REFUSED(*store_, "SELECT 1 FROM users LIMIT 1", "table users is not readable");
  EXPECT_REFUSED(*store_,
                 "SELECT (WITH users AS (SELECT 1) SELECT count(*) FROM users), (SELECT count(*) "
                 "FROM users)",
                 "table users is not readable");
  // The schema names and defines every table: not readable either, by any of its names.
  for (const char* sql :
       {"SELECT * FROM sqlite_master", "SELECT sql FROM sqlite_schema WHERE name = 'users'",
        "SELECT count(*) FROM sqlite_master", "SELECT * FROM main.sqlite_schema",
        "SELECT rowid FROM sqlite_master", "SELECT * FROM temp.sqlite_master",
        "SELECT * FROM sqlite_temp_master", "SELECT name FROM pragma_table_list"})
    EXPECT_REFUSED(*store_, sql, "not readable through the SQL API");
  // Nor are the columns of a table beyond the list.
  EXPECT_REFUSED(*store_, "SELECT name FROM pragma_table_info('users')",
                 "table users is not readable");
  EXPECT_REFUSED(*store_, "PRAGMA table_info(users)", "table users is not readable");
  EXPECT_REFUSED(*store_, "SELECT * FROM pragma_index_list('users')", "table users");
  EXPECT_REFUSED(*store_, "SELECT * FROM pragma_table_info('cuda_events', 'temp')",
                 "database temp is not readable");
  // Page-level readers would read any table.
  EXPECT_REFUSED(*store_, "SELECT * FROM dbstat", "not readable");
  EXPECT_REFUSED(*store_, "SELECT count(*) FROM dbstat", "not readable");
  EXPECT_FALSE(store_->query("SELECT data FROM sqlite_dbpage", {}));  // when built in
  // The columns of a readable table, and a WITH read without its columns, still work.
  auto cols = store_->query("SELECT name FROM pragma_table_info('cuda_events')", {});
  ASSERT_TRUE(cols) << cols.error();
  EXPECT_EQ(cols->rows.at(0).at(0), event::Value(std::string("ts_ns")));
  EXPECT_TRUE(store_->query("PRAGMA table_info(cuda_events)", {}));
  auto n = store_->query("WITH w AS (SELECT 1 UNION ALL SELECT 2) SELECT count(*) FROM w", {});
  ASSERT_TRUE(n) << n.error();
  EXPECT_EQ(n->rows.at(0).at(0), event::Value(int64_t{2}));
  for (const auto& t : sql_readable_tables())
    EXPECT_TRUE(store_->query("SELECT count(*) FROM " + t, {})) << t;
}

TEST_F(SqliteSafety, WritesAndSchemaChangesAreRefused) {
  for (const char* sql :
       {"CREATE TEMP TABLE t (x)", "CREATE TABLE t (x)",
        "INSERT INTO cuda_events (ts_ns, node, "
        "seq) VALUES (1, 'x', 1)",
        "DELETE FROM cuda_events", "UPDATE cuda_events SET pid = 1", "DROP TABLE cuda_events",
        "CREATE VIEW v AS SELECT 1", "ANALYZE", "REINDEX", "VACUUM",
        "CREATE VIRTUAL TABLE v USING fts5(x)", "ALTER TABLE cuda_events ADD COLUMN x"})
    EXPECT_FALSE(store_->query(sql, {})) << sql;
  // A write behind a WITH, and a second statement after a query.
  EXPECT_REFUSED(*store_,
                 "WITH x AS (SELECT 1) INSERT INTO cuda_events (ts_ns, node, seq) SELECT 1, "
                 "'x', 1 FROM x",
                 "not allowed in the SQL API: INSERT");
  EXPECT_REFUSED(*store_, "WITH x AS (SELECT 1) DELETE FROM cuda_events WHERE 1 IN x",
                 "not allowed in the SQL API: DELETE");
  EXPECT_REFUSED(*store_, "WITH x AS (SELECT 1) UPDATE cuda_events SET pid = 0",
                 "not allowed in the SQL API: UPDATE");
  for (const char* sql : {"SELECT 1; DROP TABLE cuda_events", "SELECT 1;DROP TABLE cuda_events;",
                          "SELECT count(*) FROM cuda_events; DELETE FROM cuda_events",
                          "SELECT 1; ATTACH 'x.db' AS x"})
    EXPECT_REFUSED(*store_, sql, "one statement at a time");
  // PRAGMA writable_schema would let a later statement rewrite sqlite_master.
  EXPECT_REFUSED(*store_, "PRAGMA writable_schema = ON",
                 "not allowed in the SQL API: PRAGMA writable_schema");
  EXPECT_REFUSED(*store_, "SELECT * FROM pragma_writable_schema", "through the SQL API");
  EXPECT_REFUSED(*store_, "UPDATE sqlite_master SET sql = 'x'", "may not be modified");
  EXPECT_EQ(count(), 100);
  auto t = store_->query("SELECT name FROM pragma_table_info('cuda_events') LIMIT 1", {});
  ASSERT_TRUE(t) << t.error();
  EXPECT_EQ(t->rows.size(), 1u);  // the table is still there
}

// Ten million rows asked for: the byte budget stops the result, and memory stays near it.
TEST_F(SqliteSafety, TenMillionRowsStopAtTheByteBudget) {
  QueryOptions o;
  o.max_rows = 10000000;
  reset_peak_rss();
  long before = status_mib("VmRSS:");
  auto r = store_->query(
      "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 10000000) "
      "SELECT x, randomblob(64) FROM r",
      o);
  ASSERT_TRUE(r) << r.error();
  long peak = status_mib("VmHWM:");
  std::printf("%zu rows, peak RSS %ld MiB above the start\n", r->rows.size(), peak - before);
  EXPECT_TRUE(r->truncated);
  EXPECT_EQ(r->truncated_by, "bytes");
  EXPECT_EQ(r->rows.size(), o.max_bytes / (2 * kQueryValueOverhead + 64));
  EXPECT_LT(peak - before, 2 * static_cast<long>(o.max_bytes >> 20));
  r->rows.clear();
  EXPECT_EQ(count(), 100);
}

#ifdef SCOPE_WITH_POSTGRES

std::string pg_url() {
  const char* url = std::getenv("SCOPE_TEST_POSTGRES_URL");
  return url ? url : "";
}

#define SCOPE_PG_REQUIRE()                                                               \
  do {                                                                                   \
    if (pg_url().empty()) {                                                              \
      std::printf(                                                                       \
          "skipped: SCOPE_TEST_POSTGRES_URL is not set (source "                         \
          "scripts/services.sh)\n");                                                     \
      GTEST_SKIP() << "SCOPE_TEST_POSTGRES_URL is not set (source scripts/services.sh)"; \
    }                                                                                    \
  } while (0)

// A connection of the test's own, as the server's superuser.
class Admin {
 public:
  explicit Admin(const std::string& url = pg_url()) : c_(PQconnectdb(url.c_str())) {}
  ~Admin() { PQfinish(c_); }
  Admin(const Admin&) = delete;
  Admin& operator=(const Admin&) = delete;
  bool ok() { return PQstatus(c_) == CONNECTION_OK; }
  // Runs `sql`; returns "" or the error.
  std::string exec(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    std::string err = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK
                          ? ""
                          : PQerrorMessage(c_);
    PQclear(r);
    return err;
  }
  std::string text(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    std::string v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0
                        ? PQgetvalue(r, 0, 0)
                        : "error: " + std::string(PQerrorMessage(c_));
    PQclear(r);
    return v;
  }
  int pid() { return PQbackendPID(c_); }

 private:
  PGconn* c_;
};

std::unique_ptr<PostgresStore> open_pg(const std::string& schema, const std::string& url) {
  Admin().exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
  PostgresOptions o;
  o.url = url;
  o.schema = schema;
  auto s = PostgresStore::open(o);
  EXPECT_TRUE(s) << (s ? "" : s.error());
  return s ? std::move(s.value()) : nullptr;
}

class PostgresSafety : public ::testing::Test {
 protected:
  void SetUp() override {
    SCOPE_PG_REQUIRE();
    store_ = open_pg("sql_safety", pg_url());
    ASSERT_TRUE(store_);
    ASSERT_TRUE(store_->write(launches(0, 100)));
  }
  // After an attack: the next query still runs, as the reader role, read-only, with a timeout,
  // and is still confined to the listed tables.
  void expect_confined(const std::string& after) {
    SCOPED_TRACE("after: " + after);
    QueryOptions o;
    o.timeout_ms = 4321;
    auto r = store_->query(
        "SELECT current_user::text, session_user = current_user, "
        "current_setting('transaction_read_only'), current_setting('statement_timeout'), "
        "current_setting('work_mem'), count(*) FROM cuda_events",
        o);
    ASSERT_TRUE(r) << r.error();
    const auto& row = r->rows.at(0);
    EXPECT_EQ(row.at(0), event::Value(std::string("sql_safety_reader")));
    EXPECT_EQ(row.at(1), event::Value(int64_t{0}));
    EXPECT_EQ(row.at(2), event::Value(std::string("on")));
    // What the store set for this request (4321 ms, less what the checks before took).
    const auto* timeout = std::get_if<std::string>(&row.at(3));
    ASSERT_TRUE(timeout);
    EXPECT_NE(*timeout, "0");
    EXPECT_NE(row.at(4), event::Value(std::string("4GB")));
    EXPECT_EQ(row.at(5), event::Value(int64_t{100}));
    EXPECT_REFUSED(*store_, "SELECT rolpassword FROM pg_authid", "not readable");
    EXPECT_REFUSED(*store_, "SELECT pg_read_file('/etc/hostname')", "not allowed in the SQL API");
  }
  std::unique_ptr<PostgresStore> store_;
};

TEST_F(PostgresSafety, FileAndAdminFunctionsAreRefusedForASuperuserLogin) {
  ASSERT_EQ(Admin().text("SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user"),
            "true");
  Admin other;
  ASSERT_TRUE(other.ok());
  for (const std::string& sql :
       {std::string("SELECT pg_read_file('/etc/passwd')"),
        std::string("SELECT pg_read_binary_file('/etc/passwd')"),
        std::string("SELECT * FROM pg_ls_dir('.')"), std::string("SELECT pg_reload_conf()"),
        std::string("SELECT lo_import('/etc/passwd')"),
        std::string("SELECT pg_terminate_backend(") + std::to_string(other.pid()) + ")",
        std::string("SELECT pg_cancel_backend(") + std::to_string(other.pid()) + ")",
        std::string("SELECT current_setting('data_directory')")})
    EXPECT_REFUSED(*store_, sql, "not allowed in the SQL API");
  EXPECT_EQ(other.text("SELECT 1"), "1");  // not terminated
  // COPY TO PROGRAM runs a shell command as the server's user: not a query, and not even
  // through a function that runs SQL of its own.
  std::string flag = std::filesystem::temp_directory_path() / "scope-sqlsafe-copy-ran";
  std::filesystem::remove(flag);
  EXPECT_REFUSED(*store_, "COPY (SELECT 1) TO PROGRAM 'touch " + flag + "'", "read-only");
  EXPECT_REFUSED(*store_, "COPY cuda_events TO PROGRAM 'touch " + flag + "'", "read-only");
  EXPECT_FALSE(store_->query("(COPY (SELECT 1) TO PROGRAM 'touch " + flag + "')", {}));
  EXPECT_FALSE(store_->query(
      "SELECT query_to_xml('COPY (SELECT 1) TO PROGRAM ''touch " + flag + "''', true, true, '')",
      {}));
  EXPECT_FALSE(std::filesystem::exists(flag));
  expect_confined("COPY TO PROGRAM");
}

TEST_F(PostgresSafety, DblinkCannotConnectBackAsTheLogin) {
  Admin a;
  ASSERT_TRUE(a.ok());
  if (a.text("SELECT count(*) FROM pg_available_extensions WHERE name = 'dblink'") != "1") {
    std::printf("skipped: the server has no dblink extension\n");
    GTEST_SKIP() << "the server has no dblink extension";
  }
  // Installed by the test where the reader can reach it (schema public), as an operator might.
  bool created = a.text("SELECT count(*) FROM pg_extension WHERE extname = 'dblink'") == "0";
  if (created) {
    ASSERT_EQ(a.exec("CREATE EXTENSION dblink SCHEMA public"), "");
  }
  std::string schema = a.text(
      "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
      "WHERE e.extname = 'dblink'");
  // The login's own connection string, password-less (the test server trusts loopback).
  std::string conn = a.text(
      "SELECT format('host=%s port=%s dbname=%s user=%s', "
      "coalesce(host(inet_server_addr()), 'localhost'), inet_server_port(), current_database(), "
      "current_user)");
  for (const std::string& sql : {"SELECT * FROM " + schema + ".dblink('" + conn +
                                     "', 'SELECT rolpassword::text FROM pg_authid') AS t(p text)",
                                 "SELECT " + schema + ".dblink_exec('" + conn +
                                     "', 'CREATE TABLE sql_safety.pwned (x int)')",
                                 "SELECT " + schema + ".dblink_connect('x', '" + conn + "')",
                                 "SELECT " + schema + ".dblink_connect_u('x', '" + conn + "')"}) {
    EXPECT_REFUSED(*store_, sql, "not allowed in the SQL API");
    expect_confined(sql);
  }
  EXPECT_EQ(a.text("SELECT count(*) FROM pg_tables WHERE tablename = 'pwned'"), "0");
  if (created) a.exec("DROP EXTENSION dblink");
}

TEST_F(PostgresSafety, TheLoginRoleCannotBeTakenBack) {
  // SET ROLE alone would not hold: the session's own user may always take itself back.
  EXPECT_REFUSED(*store_,
                 "SELECT set_config('role', session_user, true), pg_read_file('/etc/passwd')",
                 "not allowed in the SQL API");
  EXPECT_REFUSED(*store_, "SELECT set_config('session_authorization', session_user, true)",
                 "not allowed in the SQL API");
  EXPECT_REFUSED(*store_,
                 "SELECT query_to_xml('SELECT set_config(''role'', session_user, true), "
                 "pg_read_file(''/etc/passwd'')', true, true, '')",
                 "not allowed in the SQL API");
  // Session-wide (is_local false), back to the login (RESET ROLE's value), and the statements.
  for (const char* sql : {"SELECT set_config('role', session_user, false)",
                          "SELECT set_config('role', 'none', false)",
                          "SELECT set_config('role', 'none', true), pg_read_file('/etc/hostname')",
                          "SELECT set_config('session_authorization', 'default', false)"}) {
    EXPECT_REFUSED(*store_, sql, "not allowed in the SQL API");
    expect_confined(sql);
  }
  for (const char* sql : {"SET ROLE postgres", "SET ROLE NONE", "RESET ROLE", "RESET ALL",
                          "SET SESSION AUTHORIZATION DEFAULT", "SET LOCAL ROLE postgres",
                          "SET statement_timeout = 0", "DISCARD ALL", "COMMIT"}) {
    EXPECT_REFUSED(*store_, sql, "read-only: the store accepts queries only");
    expect_confined(sql);
  }
  for (const char* sql :
       {"SELECT 1; RESET ROLE", "SELECT 1; SET ROLE postgres", "SELECT 1; COMMIT; RESET ROLE",
        "SELECT 1; SET SESSION AUTHORIZATION DEFAULT"}) {
    EXPECT_REFUSED(*store_, sql, "one statement at a time");
    expect_confined(sql);
  }
  auto who = store_->query("SELECT current_user::text, session_user::text", {});
  ASSERT_TRUE(who) << who.error();
  EXPECT_EQ(who->rows.at(0).at(0), event::Value(std::string("sql_safety_reader")));
}

TEST_F(PostgresSafety, OnlyTheListedTablesAreReadable) {
  Admin a;
  ASSERT_EQ(a.exec("CREATE TABLE sql_safety.users (name TEXT, password_hash TEXT); INSERT INTO "
                   "sql_safety.users VALUES ('admin', 'argon2id$secret')"),
            "");
  EXPECT_REFUSED(*store_, "SELECT * FROM users", "table users is not readable through the SQL API");
  EXPECT_REFUSED(*store_, "SELECT count(*) FROM sql_safety.users", "table users is not readable");
  EXPECT_REFUSED(*store_, "SELECT * FROM pg_authid", "table pg_authid is not readable");
  EXPECT_REFUSED(*store_, "SELECT passwd FROM pg_shadow", "view pg_shadow is not readable");
  EXPECT_REFUSED(*store_, "SELECT rolpassword FROM pg_catalog.pg_authid",
                 "table pg_authid is not readable");
  EXPECT_REFUSED(*store_, "WITH u AS (SELECT * FROM users) SELECT count(*) FROM cuda_events, u",
                 "table users is not readable");
  EXPECT_REFUSED(*store_, "SELECT * FROM cuda_events_default", "is not readable");
  for (const auto& t : sql_readable_tables())
    EXPECT_TRUE(store_->query("SELECT count(*) FROM " + t, {})) << t;
  auto cols = store_->query(
      "SELECT column_name::text FROM information_schema.columns WHERE table_schema = "
      "'sql_safety' AND table_name = 'cuda_events' ORDER BY ordinal_position",
      {});
  ASSERT_TRUE(cols) << cols.error();
  EXPECT_EQ(cols->rows.at(0).at(0), event::Value(std::string("ts_ns")));
}

TEST_F(PostgresSafety, WritesAndSeveralStatementsAreRefused) {
  for (const char* sql : {"DELETE FROM cuda_events", "CREATE TABLE x (y int)",
                          "WITH d AS (DELETE FROM cuda_events RETURNING 1) SELECT * FROM d",
                          "SELECT nextval('x')", "SELECT 1; DELETE FROM cuda_events",
                          "SELECT 1; SET ROLE postgres", "SET ROLE postgres", "RESET ROLE"}) {
    EXPECT_FALSE(store_->query(sql, {})) << sql;
    expect_confined(sql);
  }
  EXPECT_REFUSED(*store_, "WITH d AS (DELETE FROM cuda_events RETURNING 1) SELECT * FROM d",
                 "read-only");
  EXPECT_REFUSED(*store_,
                 "WITH d AS (INSERT INTO scope_meta VALUES ('k', 'v') RETURNING 1) SELECT * FROM d",
                 "read-only");
  EXPECT_REFUSED(*store_, "SELECT * FROM cuda_events FOR UPDATE", "read-only");
  EXPECT_REFUSED(*store_, "SELECT 1; SELECT 2", "one statement at a time");
  EXPECT_REFUSED(*store_, "SELECT 1; DROP TABLE cuda_events", "one statement at a time");
  EXPECT_REFUSED(*store_, "SELECT 1 /* ; */ ; DROP TABLE cuda_events --",
                 "one statement at a time");
  auto n = store_->query("SELECT count(*) FROM cuda_events", {});
  ASSERT_TRUE(n) << n.error();
  EXPECT_EQ(n->rows.at(0).at(0), event::Value(int64_t{100}));
}

TEST_F(PostgresSafety, NoSessionStateOutlivesARequest) {
  auto r = store_->query("SELECT pg_advisory_lock(1), pg_advisory_lock(x'73636f7065'::bigint)", {});
  ASSERT_TRUE(r) << r.error();
  Admin other;
  EXPECT_EQ(other.text("SELECT pg_try_advisory_lock(1)::text"), "true");
  EXPECT_EQ(other.text("SELECT pg_try_advisory_lock(x'73636f7065'::bigint)::text"), "true");
  other.exec("SELECT pg_advisory_unlock_all()");
  // The migration lock is free: another server opens the same schema.
  PostgresOptions o;
  o.url = pg_url();
  o.schema = "sql_safety";
  EXPECT_TRUE(PostgresStore::open(o));

  ASSERT_TRUE(
      store_->query("SELECT set_config('statement_timeout', '0', false), "
                    "set_config('search_path', 'pg_catalog', false), "
                    "set_config('work_mem', '4GB', false)",
                    {}));
  QueryOptions q;
  q.timeout_ms = 1234;
  auto s = store_->query("SELECT current_setting('work_mem'), count(*) FROM cuda_events", q);
  ASSERT_TRUE(s) << s.error();
  EXPECT_NE(s->rows.at(0).at(0), event::Value(std::string("4GB")));
  EXPECT_EQ(s->rows.at(0).at(1), event::Value(int64_t{100}));
  // A query that turns its own timeout off is still cancelled.
  q.timeout_ms = 300;
  auto start = Clock::now();
  std::string err =
      refusal(*store_, "SELECT set_config('statement_timeout', '0', false), pg_sleep(5)", q);
  EXPECT_NE(err.find("cancelled after 300 ms"), std::string::npos) << err;
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
}

TEST_F(PostgresSafety, ASlowQueryIsCancelledInTime) {
  QueryOptions o;
  o.timeout_ms = 300;
  for (const char* sql :
       {"SELECT pg_sleep(100)", "SELECT count(*) FROM cuda_events, pg_sleep(100)",
        "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r"}) {
    auto start = Clock::now();
    auto r = store_->query(sql, o);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    std::printf("cancelled after %lld ms\n", static_cast<long long>(took.count()));
    ASSERT_FALSE(r) << sql;
    EXPECT_NE(r.error().find("cancelled after 300 ms"), std::string::npos) << r.error();
    EXPECT_LT(took, std::chrono::milliseconds(300 + 700));
  }
  EXPECT_TRUE(store_->query("SELECT 1", {}));
}

TEST_F(PostgresSafety, RowsComeInChunksWithinTheLimits) {
  QueryOptions o;
  o.max_rows = 2500;  // three chunks
  auto r = store_->query("SELECT g, g::text AS t FROM generate_series(1, 5000) g", o);
  ASSERT_TRUE(r) << r.error();
  ASSERT_EQ(r->rows.size(), 2500u);
  for (size_t i = 0; i < r->rows.size(); ++i)
    ASSERT_EQ(r->rows[i][0], event::Value(static_cast<int64_t>(i + 1)));
  EXPECT_EQ(r->truncated_by, "rows");
  EXPECT_EQ(r->columns, (std::vector<std::string>{"g", "t"}));

  o.max_rows = 10000;
  o.max_bytes = 10 * (kQueryValueOverhead + 4);
  r = store_->query("SELECT 'abcd' FROM generate_series(1, 100)", o);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->rows.size(), 10u);
  EXPECT_EQ(r->truncated_by, "bytes");

  // 100 MB a row: the server cuts it; what reaches scope is the marker row only.
  reset_peak_rss();
  long before = status_mib("VmRSS:");
  r = store_->query("SELECT repeat('x', 100000000) FROM generate_series(1, 5)", {});
  ASSERT_TRUE(r) << r.error();
  long peak = status_mib("VmHWM:");
  std::printf("peak RSS %ld MiB above the start\n", peak - before);
  EXPECT_EQ(r->rows.size(), 0u);
  EXPECT_EQ(r->truncated_by, "bytes");
  EXPECT_LT(peak - before, 100);
  r = store_->query("SELECT repeat('x', 1000000) FROM generate_series(1, 500)", {});
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->rows.size(), (64u << 20) / (1000000 + kQueryValueOverhead));
  EXPECT_EQ(r->truncated_by, "bytes");
  // Types come back as before: integers, booleans as 0/1, the rest as text.
  r = store_->query(
      "SELECT 1::int, 2::bigint, sum(3::bigint), true, 1.5::float8, NULL::text, "
      "'a'::text",
      {});
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->rows.at(0),
            (std::vector<event::Value>{int64_t{1}, int64_t{2}, int64_t{3}, int64_t{1},
                                       std::string("1.5"), std::monostate{}, std::string("a")}));
}

// A query of ten million rows. PostgreSQL computes a function's result before the first FETCH
// (the query runs inside one, see postgres_store.h), so the row limit and the byte cut inside
// the query are what stop it: the recursive WITH stops at max_rows + 1, the rows past the byte
// budget are not kept, and scope's memory stays near the budget.
TEST_F(PostgresSafety, TenMillionRowsStopAtTheLimits) {
  const std::string ten_million =
      "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 10000000) ";
  auto start = Clock::now();
  auto r = store_->query(ten_million + "SELECT x FROM r", {});
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  ASSERT_TRUE(r) << r.error();
  std::printf("%zu rows in %lld ms\n", r->rows.size(), static_cast<long long>(took.count()));
  EXPECT_EQ(r->rows.size(), QueryOptions{}.max_rows);
  EXPECT_EQ(r->truncated_by, "rows");
  EXPECT_LT(took, std::chrono::seconds(3));

  // 1 KiB a row and as many rows as the HTTP API lets a query ask for (100000): ~100 MiB.
  QueryOptions o;
  o.max_rows = 100000;
  reset_peak_rss();
  long before = status_mib("VmRSS:");
  start = Clock::now();
  r = store_->query(ten_million + "SELECT x, repeat(md5(x::text), 32) FROM r", o);
  took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  ASSERT_TRUE(r) << r.error();
  long peak = status_mib("VmHWM:");
  std::printf("%zu rows, peak RSS %ld MiB above the start, %lld ms\n", r->rows.size(),
              peak - before, static_cast<long long>(took.count()));
  EXPECT_TRUE(r->truncated);
  EXPECT_EQ(r->truncated_by, "bytes");
  // Row x costs two values: the digits of x and 1024 hex digits.
  size_t bytes = 0, rows = 0;
  for (size_t x = 1;; ++x) {
    size_t cost = 2 * kQueryValueOverhead + std::to_string(x).size() + 1024;
    if (bytes + cost > o.max_bytes) break;
    bytes += cost;
    ++rows;
  }
  EXPECT_EQ(r->rows.size(), rows);
  EXPECT_EQ(r->rows.back().at(0), event::Value(static_cast<int64_t>(rows)));
  EXPECT_LT(peak - before, 2 * static_cast<long>(o.max_bytes >> 20));
  r->rows.clear();
  expect_confined("ten million rows");
}

// A fresh login role `login` (with `options`, e.g. "CREATEROLE") that may create schemas, with
// no `schema` or reader role left from an earlier run: the URL to log in as it.
std::string fresh_login(Admin& admin, const std::string& login, const std::string& schema,
                        const std::string& options) {
  for (const std::string& sql :
       {"DROP SCHEMA IF EXISTS " + schema + " CASCADE", "DROP OWNED BY " + schema + "_reader",
        "DROP ROLE IF EXISTS " + schema + "_reader", "DROP OWNED BY " + login,
        "DROP ROLE IF EXISTS " + login})
    admin.exec(sql);
  EXPECT_EQ(admin.exec("CREATE ROLE " + login + " LOGIN " + options), "");
  EXPECT_EQ(admin.exec("GRANT CREATE ON DATABASE " + admin.text("SELECT current_database()") +
                       " TO " + login),
            "");
  return pg_url() + (pg_url().find('?') == std::string::npos ? "?" : "&") + "user=" + login;
}

// A login role that may not create roles: the store opens and ingests, and query() says what
// an operator must run; once it has run, queries work without a restart.
TEST(PostgresSafetyRoles, ALoginWithoutCreateRoleGetsTheSqlToRun) {
  SCOPE_PG_REQUIRE();
  Admin admin;
  std::string url = fresh_login(admin, "sqlsafe_login", "sqlsafe_nocr", "");
  ASSERT_FALSE(HasFailure());
  PostgresOptions o;
  o.url = url;
  o.schema = "sqlsafe_nocr";
  auto s = PostgresStore::open(o);
  ASSERT_TRUE(s) << s.error();
  auto w = (*s)->write(launches(0, 10));
  ASSERT_TRUE(w) << w.error();
  EXPECT_EQ(w->stored, 10u);
  auto r = (*s)->query("SELECT count(*) FROM cuda_events", {});
  ASSERT_FALSE(r);
  const std::string sql =
      "CREATE ROLE sqlsafe_nocr_reader NOLOGIN; GRANT sqlsafe_nocr_reader TO "
      "sqlsafe_login;";
  ASSERT_NE(r.error().find(sql), std::string::npos) << r.error();
  std::printf("%s\n", r.error().c_str());
  ASSERT_EQ(admin.exec(sql), "");
  r = (*s)->query("SELECT count(*) FROM cuda_events", {});
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->rows.at(0).at(0), event::Value(int64_t{10}));
  EXPECT_REFUSED(**s, "SELECT set_config('role', 'sqlsafe_login', true)",
                 "not allowed in the SQL API");
  s->reset();
  admin.exec("DROP SCHEMA sqlsafe_nocr CASCADE");
  admin.exec("DROP OWNED BY sqlsafe_login");
  admin.exec("DROP ROLE sqlsafe_login");
}

// A login role with CREATEROLE (not a superuser) sets the reader role up by itself, and its
// own tables beyond the list stay out of reach of queries.
TEST(PostgresSafetyRoles, ALoginWithCreateRoleSetsItselfUp) {
  SCOPE_PG_REQUIRE();
  Admin admin;
  PostgresOptions o;
  o.url = fresh_login(admin, "sqlsafe_crlogin", "sqlsafe_cr", "CREATEROLE");
  ASSERT_FALSE(HasFailure());
  o.schema = "sqlsafe_cr";
  auto s = PostgresStore::open(o);
  ASSERT_TRUE(s) << s.error();
  ASSERT_TRUE((*s)->write(launches(0, 10)));
  Admin login(o.url);
  ASSERT_EQ(login.exec("CREATE TABLE sqlsafe_cr.refresh_tokens (token TEXT)"), "");
  auto r = (*s)->query("SELECT count(*) FROM cuda_events", {});
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->rows.at(0).at(0), event::Value(int64_t{10}));
  EXPECT_REFUSED(**s, "SELECT * FROM refresh_tokens", "table refresh_tokens is not readable");
  EXPECT_REFUSED(**s, "SELECT set_config('role', 'sqlsafe_crlogin', true)",
                 "not allowed in the SQL API");
  s->reset();
  admin.exec("DROP SCHEMA sqlsafe_cr CASCADE");
  admin.exec("DROP OWNED BY sqlsafe_crlogin");
  admin.exec("DROP ROLE sqlsafe_crlogin");
}

#endif  // SCOPE_WITH_POSTGRES

}  // namespace
}  // namespace scope::store
