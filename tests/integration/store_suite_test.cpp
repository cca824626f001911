#include "store_suite.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "event/row.h"
#ifdef SCOPE_WITH_POSTGRES
#include "store/postgres/postgres_store.h"
#endif
#include "families/cuda_output.h"
#include "families/open_family.h"
#include "store/sqlite/sqlite_store.h"

namespace scope::store::testing {
namespace {

event::Batch launches(const std::string& node, uint64_t first_seq, size_t n, int64_t ts0) {
  event::Batch b;
  b.node = node;
  b.boot_id = "boot-1";
  b.first_seq = first_seq;
  for (size_t i = 0; i < n; ++i) {
    CudaEvent e;
    e.ts_ns = static_cast<uint64_t>(ts0) + i;
    e.pid = 100 + static_cast<uint32_t>(i % 3);
    e.tid = e.pid;
    e.comm = "demo";
    e.call = CALL_cuLaunchKernel;
    e.op = CUDA_OP_LAUNCH;
    e.kernel = i % 2 ? "kernel_a" : "kernel_b";
    e.grid = {1, 2, 3};
    b.events.push_back(cuda_row(e));
  }
  return b;
}

int64_t scalar(Store& s, const std::string& sql) {
  auto r = s.query(sql, {});
  EXPECT_TRUE(r) << (r ? "" : r.error());
  if (!r || r->rows.empty() || r->rows[0].empty()) return -1;
  const auto* v = std::get_if<int64_t>(&r->rows[0][0]);
  return v ? *v : -1;
}

class StoreSuite : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    if (auto why = GetParam().skip_reason(); !why.empty()) {
      std::printf("skipped: %s\n", why.c_str());
      GTEST_SKIP() << why;
    }
    auto s = GetParam().make();
    ASSERT_TRUE(s) << s.error();
    store_ = std::move(s.value());
  }
  std::unique_ptr<Store> store_;
};

TEST_P(StoreSuite, StoresEveryEventOnceAndIgnoresARedeliveredBatch) {
  auto b = launches("n1", 0, 500, 1000);
  auto w = store_->write(b);
  ASSERT_TRUE(w) << w.error();
  EXPECT_EQ(w->stored, 500u);
  EXPECT_FALSE(w->duplicate);
  auto again = store_->write(b);
  ASSERT_TRUE(again) << again.error();
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->stored, 0u);
  EXPECT_EQ(scalar(*store_, "SELECT count(*) FROM cuda_events"), 500);
  EXPECT_EQ(scalar(*store_, "SELECT count(DISTINCT seq) FROM cuda_events"), 500);
  EXPECT_EQ(scalar(*store_, "SELECT max(seq) FROM cuda_events"), 499);
  // Another node with the same sequence numbers is another batch.
  ASSERT_TRUE(store_->write(launches("n2", 0, 10, 2000)));
  EXPECT_EQ(scalar(*store_, "SELECT count(*) FROM cuda_events WHERE node = 'n2'"), 10);
}

TEST_P(StoreSuite, KeepsTheKernelRollupInStepWithTheEvents) {
  ASSERT_TRUE(store_->write(launches("n1", 0, 300, 1000)));
  ASSERT_TRUE(store_->write(launches("n1", 0, 300, 1000)));  // redelivered: not counted twice
  // 120 s later: another minute.
  ASSERT_TRUE(store_->write(launches("n1", 300, 100, 1000 + 120'000'000'000)));
  EXPECT_EQ(scalar(*store_, "SELECT sum(launches) FROM cuda_kernel_minutes"), 400);
  EXPECT_EQ(scalar(*store_, "SELECT count(DISTINCT minute_ns) FROM cuda_kernel_minutes"), 2);
  EXPECT_EQ(scalar(*store_,
                   "SELECT sum(launches) FROM cuda_kernel_minutes WHERE kernel = "
                   "'kernel_a'"),
            scalar(*store_, "SELECT count(*) FROM cuda_events WHERE kernel = 'kernel_a'"));
}

// 40 events of each family a slot rollup reads (store/rollup.h), 250 ms apart from `ts0`: two
// 5-second slots.
event::Batch slotted(uint64_t first_seq, int64_t ts0) {
  event::Batch b;
  b.node = "n1";
  b.boot_id = "boot-1";
  b.first_seq = first_seq;
  using event::set_column;
  for (int64_t i = 0; i < 40; ++i) {
    int64_t ts = ts0 + i * 250'000'000;
    auto pid = static_cast<uint32_t>(100 + i % 2);
    auto row = [&](const char* family) {
      return event::make_row(*event::schema_for(family), ts, pid, pid, "demo");
    };
    auto launch = row("cuda");
    set_column(launch, "op", std::string("launch"));
    if (i % 3) set_column(launch, "kernel", std::string(i % 2 ? "k_a" : "k_b"));
    if (i % 2) set_column(launch, "duration_ns", 10 * i);
    b.events.push_back(launch);
    auto copy = row("cuda");
    set_column(copy, "op", std::string("memcpy"));
    if (i % 4) set_column(copy, "kind", std::string(i % 2 ? "htod" : "dtoh"));
    set_column(copy, "bytes", 4096 * i);
    if (i % 5) set_column(copy, "duration_ns", 1000 + i);
    b.events.push_back(copy);
    auto sync = row("cuda");
    set_column(sync, "op", std::string("sync"));
    int64_t d = 1;
    for (int64_t k = 0; k < i % 10; ++k) d *= 10;
    set_column(sync, "duration_ns", d);
    b.events.push_back(sync);
    auto sys = row("syscalls");
    set_column(sys, "name", std::string(i % 2 ? "read" : "write"));
    set_column(sys, "count", i);
    set_column(sys, "errors", i % 3);
    set_column(sys, "total_ns", 100 * i);
    b.events.push_back(sys);
    auto sched = row("sched");
    set_column(sched, "switches", i);
    set_column(sched, "offcpu_ns", 10 * i);
    b.events.push_back(sched);
    auto decode = row("llama");
    set_column(decode, "op", std::string("decode"));
    set_column(decode, "phase", std::string(i % 2 ? "prompt" : "generation"));
    set_column(decode, "tokens", i);
    set_column(decode, "duration_ns", int64_t{1000});
    b.events.push_back(decode);
  }
  return b;
}

TEST_P(StoreSuite, KeepsTheSlotRollupsInStepWithTheEvents) {
  constexpr int64_t kT = 1'700'000'040'000'000'000;  // a whole slot
  ASSERT_TRUE(store_->write(slotted(0, kT)));
  auto again = store_->write(slotted(0, kT));  // redelivered: not counted twice
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->duplicate);
  auto same = [&](const std::string& rollup, const std::string& raw) {
    EXPECT_EQ(scalar(*store_, rollup), scalar(*store_, raw)) << rollup;
  };
  auto check = [&] {
    same("SELECT sum(launches) FROM cuda_launch_slots WHERE kernel = ''",
         "SELECT count(*) FROM cuda_events WHERE op = 'launch' AND kernel IS NULL");
    same("SELECT sum(total_ns) FROM cuda_launch_slots WHERE kernel = 'k_a'",
         "SELECT sum(duration_ns) FROM cuda_events WHERE op = 'launch' AND kernel = 'k_a'");
    same("SELECT sum(copies) FROM cuda_copy_slots",
         "SELECT count(*) FROM cuda_events WHERE op = 'memcpy'");
    same("SELECT sum(bytes) FROM cuda_copy_slots WHERE kind = 'default'",
         "SELECT sum(bytes) FROM cuda_events WHERE op = 'memcpy' AND kind IS NULL");
    same("SELECT sum(duration_ns) FROM cuda_copy_slots",
         "SELECT sum(duration_ns) FROM cuda_events WHERE op = 'memcpy'");
    same("SELECT sum(syncs) FROM cuda_sync_slots WHERE bucket = 7",
         "SELECT count(*) FROM cuda_events WHERE op = 'sync' AND duration_ns >= 1000000000");
    same("SELECT max(max_ns) FROM cuda_sync_slots",
         "SELECT max(duration_ns) FROM cuda_events WHERE op = 'sync'");
    same("SELECT sum(total_ns) FROM cuda_sync_slots",
         "SELECT sum(duration_ns) FROM cuda_events WHERE op = 'sync'");
    same("SELECT sum(count) FROM syscall_slots WHERE name = 'read'",
         "SELECT sum(count) FROM syscalls_events WHERE name = 'read'");
    same("SELECT sum(errors) FROM syscall_slots", "SELECT sum(errors) FROM syscalls_events");
    same("SELECT sum(offcpu_ns) FROM sched_slots WHERE pid = 101",
         "SELECT sum(offcpu_ns) FROM sched_events WHERE pid = 101");
    same("SELECT count(*) FROM sched_slots WHERE voluntary IS NOT NULL", "SELECT 0");
    same("SELECT sum(tokens) FROM llama_token_slots WHERE phase = 'prompt'",
         "SELECT sum(tokens) FROM llama_events WHERE phase = 'prompt'");
  };
  check();
  EXPECT_EQ(scalar(*store_, "SELECT count(DISTINCT slot_ns) FROM syscall_slots"), 2);
  EXPECT_EQ(scalar(*store_, "SELECT min(slot_ns) FROM syscall_slots"), kT);
  // Another batch in the second slot: a row of its own, summed by the queries.
  ASSERT_TRUE(store_->write(slotted(40, kT + 5'000'000'000)));
  check();
  // Retention drops the whole slots before the cutoff with the events.
  auto d = store_->apply_retention(kT + 5'000'000'000);
  ASSERT_TRUE(d) << d.error();
  check();
  EXPECT_EQ(scalar(*store_, "SELECT min(slot_ns) FROM syscall_slots"), kT + 5'000'000'000);
  EXPECT_EQ(scalar(*store_, "SELECT count(*) FROM cuda_sync_slots WHERE slot_ns < " +
                                std::to_string(kT + 5'000'000'000)),
            0);
}

// host/opens' rollups: merged across batches (a redelivered one not counted twice), and retention
// drops the buckets of each width that end before the cutoff's.
TEST_P(StoreSuite, MergesTheOpenRollupsAndDropsTheirOldBuckets) {
  constexpr int64_t kT = 1'700'000'040'000'000'000;  // a whole minute, 40 s into 10 minutes
  auto opens = [&](uint64_t first_seq, int64_t ts0) {
    event::Batch b;
    b.node = "n1";
    b.boot_id = "boot-1";
    b.first_seq = first_seq;
    for (int64_t i = 0; i < 20; ++i) {
      auto e = event::make_row(*event::schema_for("open"), ts0 + i * 500'000'000, 7, 7, "cat");
      event::set_column(e, "path", std::string(i % 2 ? "/a" : "/b"));
      event::set_column(e, "ret", int64_t{i % 4 ? 3 : -2});
      b.events.push_back(std::move(e));
    }
    return b;
  };
  ASSERT_TRUE(store_->write(opens(0, kT)));  // 10 s: two 5 s slots
  auto again = store_->write(opens(0, kT));
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->duplicate);
  ASSERT_TRUE(store_->write(opens(20, kT + 10'000'000'000)));
  auto count = [&](const std::string& sql) { return scalar(*store_, sql); };
  for (const char* t : {"open_comm_buckets", "open_path_buckets", "open_proc_path_buckets"}) {
    std::string table(t);
    EXPECT_EQ(count("SELECT sum(opens) FROM " + table + " WHERE width_ns = 60000000000"), 40);
    EXPECT_EQ(count("SELECT sum(errors) FROM " + table + " WHERE width_ns = 5000000000"), 10);
    EXPECT_EQ(count("SELECT count(*) FROM " + table + " WHERE width_ns = 5000000000"),
              table == "open_comm_buckets" ? 4 : 8);
    EXPECT_EQ(count("SELECT count(*) FROM " + table + " WHERE width_ns = 600000000000"),
              table == "open_comm_buckets" ? 1 : 2);
  }
  ASSERT_TRUE(store_->apply_retention(kT + 12'000'000'000));
  EXPECT_EQ(count("SELECT min(bucket_ns) FROM open_path_buckets WHERE width_ns = 5000000000"),
            kT + 10'000'000'000);
  EXPECT_EQ(count("SELECT sum(opens) FROM open_path_buckets WHERE width_ns = 20000000000"), 40);
  EXPECT_EQ(count("SELECT sum(opens) FROM open_comm_buckets WHERE width_ns = 60000000000"), 40);
}

TEST_P(StoreSuite, ColumnsFollowTheVocabulary) {
  event::Batch b = launches("n1", 0, 0, 0);
  CudaEvent alloc;
  alloc.ts_ns = 5;
  alloc.pid = 9;
  alloc.comm = "demo";
  alloc.call = CALL_cudaMalloc;
  alloc.op = CUDA_OP_ALLOC;
  alloc.ptr = 0x7f0000001000;
  alloc.bytes = 4096;
  alloc.ret = 0;
  alloc.duration_ns = 1234;
  b.events.push_back(cuda_row(alloc));
  families::OpenEvent open;
  open.ts_ns = 6;
  open.pid = open.tid = 9;
  open.comm = "demo";
  open.call = "openat";
  open.path = "/etc/hosts";
  open.ret = -2;
  b.events.push_back(families::open_row(open));
  ASSERT_TRUE(store_->write(b));
  auto r = store_->query(
      "SELECT call, op, ptr, bytes, duration_ns, ret, kernel FROM cuda_events WHERE pid = 9", {});
  ASSERT_TRUE(r) << r.error();
  ASSERT_EQ(r->rows.size(), 1u);
  EXPECT_EQ(std::get<std::string>(r->rows[0][0]), "cudaMalloc");
  EXPECT_EQ(std::get<std::string>(r->rows[0][1]), "alloc");
  EXPECT_EQ(std::get<int64_t>(r->rows[0][2]), 0x7f0000001000);
  EXPECT_EQ(std::get<int64_t>(r->rows[0][3]), 4096);
  EXPECT_EQ(std::get<int64_t>(r->rows[0][4]), 1234);
  EXPECT_EQ(std::get<int64_t>(r->rows[0][5]), 0);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(r->rows[0][6]));
  EXPECT_EQ(scalar(*store_, "SELECT ret FROM open_events WHERE path = '/etc/hosts'"), -2);
}

TEST_P(StoreSuite, RefusesWritesThroughQuery) {
  ASSERT_TRUE(store_->write(launches("n1", 0, 3, 0)));
  for (const char* sql : {"DELETE FROM cuda_events", "DROP TABLE cuda_events",
                          "INSERT INTO cuda_events (ts_ns, node, seq) VALUES (1, 'x', 1)"}) {
    auto r = store_->query(sql, {});
    EXPECT_FALSE(r) << sql;
  }
  EXPECT_EQ(scalar(*store_, "SELECT count(*) FROM cuda_events"), 3);
  auto bad = store_->query("SELEC nonsense", {});
  ASSERT_FALSE(bad);
  EXPECT_FALSE(bad.error().empty());
}

TEST_P(StoreSuite, LimitsRowsAndMarksTruncation) {
  ASSERT_TRUE(store_->write(launches("n1", 0, 50, 0)));
  QueryOptions o;
  o.max_rows = 10;
  auto r = store_->query("SELECT seq FROM cuda_events ORDER BY seq", o);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->rows.size(), 10u);
  EXPECT_TRUE(r->truncated);
}

TEST_P(StoreSuite, CancelsAQueryPastItsTimeout) {
  ASSERT_TRUE(store_->write(launches("n1", 0, 200, 0)));
  QueryOptions o;
  o.timeout_ms = 200;
  auto start = std::chrono::steady_clock::now();
  auto r = store_->query(
      "SELECT count(*) FROM cuda_events a, cuda_events b, cuda_events c, cuda_events d", o);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(r);
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST_P(StoreSuite, RetentionDeletesOnlyOlderEvents) {
  ASSERT_TRUE(store_->write(launches("n1", 0, 100, 1000)));   // ts 1000..1099
  ASSERT_TRUE(store_->write(launches("n1", 100, 50, 5000)));  // ts 5000..5049
  auto d = store_->apply_retention(5000);
  ASSERT_TRUE(d) << d.error();
  EXPECT_EQ(*d, 100u);
  EXPECT_EQ(scalar(*store_, "SELECT count(*) FROM cuda_events"), 50);
  EXPECT_EQ(scalar(*store_, "SELECT min(ts_ns) FROM cuda_events"), 5000);
}

TEST_P(StoreSuite, ConcurrentWritersAndReaders) {
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t)
    writers.emplace_back([&, t] {
      for (int k = 0; k < 20; ++k)
        ASSERT_TRUE(store_->write(launches("n" + std::to_string(t), k * 100, 100, k)));
    });
  std::thread reader([&] {
    for (int k = 0; k < 20; ++k) ASSERT_TRUE(store_->query("SELECT count(*) FROM cuda_events", {}));
  });
  for (auto& w : writers) w.join();
  reader.join();
  EXPECT_EQ(scalar(*store_, "SELECT count(*) FROM cuda_events"), 4 * 20 * 100);
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreSuite, ::testing::ValuesIn(store_factories()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace scope::store::testing
