// What only the PostgreSQL store does (the shared behaviour is in the store
// suite): migrations recorded, day partitions created ahead and dropped by
// retention, a restarted server survived.
#ifdef SCOPE_WITH_POSTGRES
#include "store/postgres/postgres_store.h"

#include "families/cuda_output.h"
#include "fleet_helpers.h"

namespace scope::fleettest {
namespace {

constexpr int64_t kDay = 86400LL * 1000000000LL;

int64_t today() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
             .count() /
         kDay;
}

event::Batch launches(uint64_t first_seq, size_t n, int64_t ts0) {
  event::Batch b;
  b.node = "n1";
  b.boot_id = "boot";
  b.first_seq = first_seq;
  for (size_t i = 0; i < n; ++i) {
    CudaEvent e;
    e.ts_ns = static_cast<uint64_t>(ts0) + i;
    e.pid = 7;
    e.comm = "demo\t\\x";  // COPY's escapes
    e.call = CALL_cuLaunchKernel;
    e.op = CUDA_OP_LAUNCH;
    e.kernel = "k\n\xff";  // a newline and invalid UTF-8
    b.events.push_back(cuda_row(e));
  }
  return b;
}

std::unique_ptr<store::PostgresStore> open_store(const std::string& schema, bool fresh = true) {
  if (fresh) Pg("").exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
  store::PostgresOptions o;
  o.url = pg_url();
  o.schema = schema;
  o.retention_chunk_rows = 10;
  auto s = store::PostgresStore::open(o);
  EXPECT_TRUE(s) << (s ? "" : s.error());
  return s ? std::move(s.value()) : nullptr;
}

TEST(PostgresStore, RecordsItsSchemaVersionAndReopens) {
  SCOPE_FLEET_REQUIRE();
  auto s = open_store("pgs_meta");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->partitioning(), "native");  // Debian has no timescaledb
  auto w0 = s->write(launches(0, 10, today() * kDay));
  ASSERT_TRUE(w0) << (w0 ? "" : w0.error());
  s.reset();
  auto again = open_store("pgs_meta", false);
  ASSERT_TRUE(again);
  Pg pg("pgs_meta");
  EXPECT_EQ(pg.scalar("SELECT value::int FROM scope_meta WHERE key = 'schema_version'"),
            store::PostgresStore::kSchemaVersion);
  EXPECT_EQ(pg.scalar("SELECT count(*) FROM cuda_events"), 10);
  // Escapes and invalid bytes survive COPY as text (invalid bytes as '?').
  auto r = again->query("SELECT comm, kernel FROM cuda_events LIMIT 1", {});
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(std::get<std::string>(r->rows[0][0]), "demo\t\\x");
  EXPECT_EQ(std::get<std::string>(r->rows[0][1]), "k\n?");
  // A newer schema than this build refuses to open.
  pg.exec("UPDATE scope_meta SET value = '99' WHERE key = 'schema_version'");
  store::PostgresOptions o;
  o.url = pg_url();
  o.schema = "pgs_meta";
  auto newer = store::PostgresStore::open(o);
  ASSERT_FALSE(newer);
  EXPECT_NE(newer.error().find("newer"), std::string::npos) << newer.error();
}

TEST(PostgresStore, DayPartitionsCreatedAheadAndDroppedByRetention) {
  SCOPE_FLEET_REQUIRE();
  auto s = open_store("pgs_parts");
  ASSERT_TRUE(s);
  Pg pg("pgs_parts");
  int64_t d = today();
  auto partitions = [&] {
    return pg.scalar(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'pgs_parts.cuda_events'::regclass");
  };
  // today, tomorrow and the day after, plus DEFAULT
  EXPECT_EQ(partitions(), 4);
  ASSERT_TRUE(s->write(launches(0, 100, (d - 3) * kDay)));
  ASSERT_TRUE(s->write(launches(100, 50, (d - 2) * kDay + 5)));
  ASSERT_TRUE(s->write(launches(150, 20, d * kDay)));
  EXPECT_EQ(partitions(), 6);
  EXPECT_EQ(pg.scalar("SELECT count(*) FROM cuda_events_d" + std::to_string(d - 3)), 100);
  EXPECT_EQ(pg.scalar("SELECT count(*) FROM cuda_events_default"), 0);
  // Cutoff inside day d-2: d-3 is dropped whole, d-2 loses its first 3 rows.
  auto deleted = s->apply_retention((d - 2) * kDay + 8);
  ASSERT_TRUE(deleted) << deleted.error();
  EXPECT_EQ(*deleted, 103u);
  EXPECT_EQ(partitions(), 5);
  EXPECT_EQ(pg.scalar("SELECT count(*) FROM cuda_events"), 67);
  EXPECT_EQ(pg.scalar("SELECT min(ts_ns) FROM cuda_events"), (d - 2) * kDay + 8);
  // A day the store dropped comes back when data for it arrives again.
  ASSERT_TRUE(s->write(launches(1000, 5, (d - 3) * kDay)));
  EXPECT_EQ(pg.scalar("SELECT count(*) FROM cuda_events_d" + std::to_string(d - 3)), 5);
}

TEST(PostgresStore, SurvivesAPostgresRestart) {
  SCOPE_FLEET_REQUIRE(true);
  auto s = open_store("pgs_restart");
  ASSERT_TRUE(s);
  int64_t ts = today() * kDay;
  ASSERT_TRUE(s->write(launches(0, 10, ts)));
  services("stop-postgres");
  auto down = s->write(launches(10, 10, ts));
  EXPECT_FALSE(down);
  EXPECT_FALSE(s->query("SELECT 1", {}));
  services("start-postgres");
  // The failed batch is retried by the caller; the store reconnects by itself.
  auto up = s->write(launches(10, 10, ts));
  ASSERT_TRUE(up) << up.error();
  EXPECT_EQ(up->stored, 10u);
  auto q = s->query("SELECT count(*) FROM cuda_events", {});
  ASSERT_TRUE(q) << q.error();
  EXPECT_EQ(std::get<int64_t>(q->rows[0][0]), 20);
}

// A prompt decode and the generation decode after it on context 7 of pid 9: one request.
event::Batch request(uint64_t first_seq, int64_t ts0) {
  event::Batch b;
  b.node = "n1";
  b.boot_id = "boot";
  b.first_seq = first_seq;
  for (const char* phase : {"prompt", "generation"}) {
    b.events.push_back(event::make_row(*event::schema_for("llama"),
                                       ts0 + static_cast<int64_t>(b.events.size()) * 1000, 9, 9,
                                       "llm"));
    event::set_column(b.events.back(), "op", std::string("decode"));
    event::set_column(b.events.back(), "phase", std::string(phase));
    event::set_column(b.events.back(), "duration_ns", int64_t{500});
    event::set_column(b.events.back(), "ctx", int64_t{7});
  }
  return b;
}

// The requests' statements are prepared on the writer's connection: a new connection (the old
// one's backend ended) prepares them again.
TEST(PostgresStore, RequestStatementsArePreparedAgainOnANewConnection) {
  SCOPE_FLEET_REQUIRE(true);
  auto s = open_store("pgs_prepared");
  ASSERT_TRUE(s);
  int64_t ts = today() * kDay;
  ASSERT_TRUE(s->write(request(0, ts)));
  Pg admin("");
  // The store's connections (the tests run one at a time).
  EXPECT_GE(admin.scalar("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM "
                         "pg_stat_activity WHERE application_name = 'scope' AND pid <> "
                         "pg_backend_pid()) t"),
            1);
  auto w = s->write(request(10, ts + kDay / 2));
  if (!w) w = s->write(request(10, ts + kDay / 2));  // the caller's retry, as ingest does
  ASSERT_TRUE(w) << w.error();
  const char* sql = "SELECT count(*), min(ttft_ns), max(ttft_ns) FROM llama_requests";
  auto q = s->query(sql, {});
  if (!q) q = s->query(sql, {});  // the reader's connection ended too
  ASSERT_TRUE(q) << q.error();
  EXPECT_EQ(q->rows[0], (std::vector<event::Value>{int64_t{2}, int64_t{500}, int64_t{500}}));
}

TEST(PostgresStore, RefusesABadSchemaNameAndAnUnreachableServer) {
  SCOPE_FLEET_REQUIRE();
  store::PostgresOptions o;
  o.url = pg_url();
  o.schema = "x; DROP TABLE y";
  EXPECT_FALSE(store::PostgresStore::open(o));
  o.schema = "public";
  o.url = "postgresql://postgres@127.0.0.1:1/none";
  o.connect_timeout_s = 2;
  auto r = store::PostgresStore::open(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().rfind("cannot connect", 0), 0u) << r.error();
}

}  // namespace
}  // namespace scope::fleettest
#endif
