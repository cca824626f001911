// The syscalls family without privileges: the generated table against the
// kernel header it came from, aggregation, sorting, and the strace -c tables.
#include "families/syscalls_family.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <string>

#include "bpf/shared/syscalls.h"

namespace sc = scope::families::syscalls;

namespace {

sc::Row row(uint32_t tgid, uint32_t tid, uint32_t nr, const char* comm, uint64_t count,
            uint64_t errors, uint64_t total_ns, uint64_t max_ns) {
  sc::Row r;
  r.tgid = tgid;
  r.tid = tid;
  r.nr = nr;
  r.comm = comm;
  r.count = count;
  r.errors = errors;
  r.total_ns = total_ns;
  r.max_ns = max_ns;
  return r;
}

}  // namespace

// The committed table (src/families/syscall_table_x86_64.inc) is exactly what
// src/families/gen_syscall_table.sh makes of the header: drift fails here.
TEST(SyscallsTable, MatchesKernelHeader) {
  const char* header = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h";
  std::ifstream in(header);
  ASSERT_TRUE(in) << "cannot read " << header << " (linux-libc-dev)";
  std::map<uint32_t, std::string> expected;
  std::regex def(R"(^#define\s+__NR_([A-Za-z0-9_]+)\s+([0-9]+)\s*$)");
  std::string line;
  std::smatch m;
  while (std::getline(in, line))
    if (std::regex_match(line, m, def))
      expected.emplace(static_cast<uint32_t>(std::stoul(m[2].str())), m[1].str());
  ASSERT_GT(expected.size(), 300u);

  std::map<uint32_t, std::string> table;
  uint32_t prev = 0;
  bool first = true;
  for (const auto& s : sc::syscall_table()) {
    EXPECT_TRUE(first || s.nr > prev) << "table not sorted or duplicated at " << s.nr;
    first = false;
    prev = s.nr;
    table.emplace(s.nr, s.name);
  }
  EXPECT_EQ(table, expected) << "rerun src/families/gen_syscall_table.sh > "
                                "src/families/syscall_table_x86_64.inc";
}

TEST(SyscallsTable, Names) {
  EXPECT_EQ(sc::syscall_name(0), "read");
  EXPECT_EQ(sc::syscall_name(1), "write");
  EXPECT_EQ(sc::syscall_name(39), "getpid");
  EXPECT_EQ(sc::syscall_name(110), "getppid");
  EXPECT_EQ(sc::syscall_name(59), "execve");
  EXPECT_EQ(sc::syscall_name(257), "openat");
  EXPECT_EQ(sc::syscall_name(400), "syscall_400");  // the unused 335..423 gap
  EXPECT_EQ(sc::syscall_name(100000), "syscall_100000");
  EXPECT_EQ(sc::syscall_name(SYSCALL_NR_IA32 | 5), "ia32:5");
  EXPECT_EQ(sc::syscall_name(0xffffffffu), "ia32:2147483647");
}

TEST(SyscallsAggregate, BySyscallSumsThreadsAndSortsByTime) {
  std::vector<sc::Row> rows = {
      row(100, 100, 1, "app", 10, 5, 1000, 300),     // write
      row(100, 101, 1, "worker", 20, 0, 4000, 900),  // write
      row(200, 200, 1, "other", 1, 1, 50, 50),       // write
      row(100, 100, 110, "app", 1000, 0, 3000, 20),  // getppid
      row(200, 200, 0, "other", 7, 0, 9000, 8000),   // read
  };
  auto t = sc::by_syscall(rows);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].name, "read");
  EXPECT_EQ(t[1].name, "write");
  EXPECT_EQ(t[2].name, "getppid");
  EXPECT_EQ(t[1].count, 31u);
  EXPECT_EQ(t[1].errors, 6u);
  EXPECT_EQ(t[1].total_ns, 5050u);
  EXPECT_EQ(t[1].max_ns, 900u);
  ASSERT_EQ(t[1].top_threads.size(), 3u);
  EXPECT_EQ(t[1].top_threads[0].tid, 101u);
  EXPECT_EQ(t[1].top_threads[0].comm, "worker");
  EXPECT_EQ(t[1].top_threads[1].tid, 100u);
  EXPECT_EQ(t[1].top_threads[2].pid, 200u);
  EXPECT_EQ(t[2].count, 1000u);
}

TEST(SyscallsAggregate, TopThreadsKeepsFive) {
  std::vector<sc::Row> rows;
  for (uint32_t i = 0; i < 8; ++i) rows.push_back(row(1, 10 + i, 0, "t", 1, 0, 100 * (i + 1), 1));
  auto t = sc::by_syscall(rows);
  ASSERT_EQ(t.size(), 1u);
  ASSERT_EQ(t[0].top_threads.size(), sc::kTopThreads);
  EXPECT_EQ(t[0].top_threads[0].tid, 17u);
  EXPECT_EQ(t[0].top_threads[4].tid, 13u);
  EXPECT_EQ(t[0].count, 8u);
}

TEST(SyscallsAggregate, ByProcess) {
  std::vector<sc::Row> rows = {
      row(100, 101, 1, "worker", 20, 2, 4000, 900),
      row(100, 100, 1, "app", 10, 5, 1000, 300),
      row(100, 100, 0, "app", 1, 0, 10, 10),
      row(200, 200, 1, "other", 1, 1, 50, 50),
  };
  auto p = sc::by_process(rows);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].pid, 100u);
  EXPECT_EQ(p[0].comm, "app");  // the main thread's name, not a worker's
  EXPECT_EQ(p[0].threads, 2u);
  EXPECT_EQ(p[0].count, 31u);
  EXPECT_EQ(p[0].errors, 7u);
  EXPECT_EQ(p[0].total_ns, 5010u);
  EXPECT_EQ(p[1].pid, 200u);
}

// The kernel keeps a traced thread's hottest counts in its slot until they are evicted or the
// thread exits: a read adds them to the rows from `stats`, and only the owned, used entries.
TEST(SyscallsAggregate, AddSlotCounts) {
  std::vector<sc::Row> rows = {row(10, 11, 39, "a", 5, 0, 700, 300),
                               row(10, 11, 1, "a", 2, 1, 50, 30)};
  std::vector<syscall_slot> slots(3);
  // Thread 11: getppid (39) +100 (2 timed) in entry 2; write (1) +7, 3 errors in entry 0.
  slots[0].owner = uint64_t{10} << 32 | 11;
  slots[0].used = 0b101;
  slots[0].nr[2] = 39;
  slots[0].entry[2].count = 100;
  slots[0].entry[2].timed = 2;
  slots[0].entry[2].total_ns = 40;
  slots[0].entry[2].max_ns = 900;  // above the 300 `stats` has
  slots[0].nr[0] = 1;
  slots[0].entry[0].count = 7;
  slots[0].entry[0].errors = 3;
  slots[0].nr[1] = 3;  // not used: left out
  slots[0].entry[1].count = 1000;
  // Thread 12, whose row `stats` lacked when it was read: a new row.
  slots[1].owner = uint64_t{10} << 32 | 12;
  slots[1].used = 0b1;
  slots[1].nr[0] = syscall_slot_nr(39 | SYSCALL_NR_IA32);
  slots[1].entry[0].count = 4;
  // A free slot with stale entries: left out.
  slots[2].used = 0b1;
  slots[2].entry[0].count = 9;
  sc::add_slot_counts(rows, slots);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].count, 105u);
  EXPECT_EQ(rows[0].errors, 0u);
  EXPECT_EQ(rows[0].total_ns, 740u);
  EXPECT_EQ(rows[0].max_ns, 900u);
  EXPECT_EQ(rows[1].count, 9u);
  EXPECT_EQ(rows[1].errors, 4u);
  EXPECT_EQ(rows[1].max_ns, 30u);
  EXPECT_EQ(rows[2].tgid, 10u);
  EXPECT_EQ(rows[2].tid, 12u);
  EXPECT_EQ(rows[2].nr, 39u | SYSCALL_NR_IA32);
  EXPECT_EQ(rows[2].count, 4u);
  EXPECT_TRUE(rows[2].comm.empty());
}

// A read that misses counts in transit from a slot to `stats` must not make them go down.
TEST(SyscallsAggregate, MonotonicCounts) {
  sc::MonotonicCounts m;
  std::vector<sc::Row> rows = {row(10, 11, 39, "a", 100, 3, 700, 300)};
  m.apply(rows);
  EXPECT_EQ(rows[0].count, 100u);
  rows = {row(10, 11, 39, "a", 96, 2, 800, 300), row(10, 12, 39, "b", 5, 0, 0, 0)};
  m.apply(rows);
  EXPECT_EQ(rows[0].count, 100u);
  EXPECT_EQ(rows[0].errors, 3u);
  EXPECT_EQ(rows[0].total_ns, 800u);  // from `stats` alone: never in a slot
  EXPECT_EQ(rows[1].count, 5u);
  rows = {row(10, 11, 39, "a", 130, 4, 900, 300)};
  m.apply(rows);
  EXPECT_EQ(rows[0].count, 130u);
  EXPECT_EQ(rows[0].errors, 4u);
  // Timing moves with the counts (a slot entry's time on its way to `stats`): it holds too.
  rows = {row(10, 11, 39, "a", 131, 4, 850, 300)};
  m.apply(rows);
  EXPECT_EQ(rows[0].count, 131u);
  EXPECT_EQ(rows[0].total_ns, 900u);
}

// Exited threads' rows folded per syscall: totals unchanged, one "(exited)" row (pid 0) each.
TEST(SyscallsAggregate, FoldExited) {
  std::vector<sc::Row> folded;
  sc::fold_exited(folded, {row(10, 11, 39, "a", 5, 1, 700, 300), row(12, 12, 39, "b", 2, 0, 50, 40),
                           row(12, 12, 1, "b", 7, 3, 90, 60)});
  ASSERT_EQ(folded.size(), 2u);
  EXPECT_EQ(folded[0].nr, 39u);
  EXPECT_EQ(folded[0].tgid, 0u);
  EXPECT_EQ(folded[0].tid, 0u);
  EXPECT_EQ(folded[0].comm, "(exited)");
  EXPECT_EQ(folded[0].count, 7u);
  EXPECT_EQ(folded[0].errors, 1u);
  EXPECT_EQ(folded[0].total_ns, 750u);
  EXPECT_EQ(folded[0].max_ns, 300u);
  // A later fold adds to the rows already there.
  sc::fold_exited(folded, {row(13, 14, 1, "c", 1, 0, 10, 100)});
  ASSERT_EQ(folded.size(), 2u);
  EXPECT_EQ(folded[1].nr, 1u);
  EXPECT_EQ(folded[1].count, 8u);
  EXPECT_EQ(folded[1].max_ns, 100u);
  auto totals = sc::by_syscall(folded);
  ASSERT_EQ(totals.size(), 2u);
  EXPECT_EQ(totals[0].name, "getpid");  // 39 on x86_64
  EXPECT_EQ(totals[0].count, 7u);
}

TEST(SyscallsOutput, SummaryJson) {
  sc::Row r = row(7, 8, 1, "w", 3, 1, 600, 400);
  r.timed = 2;
  auto j = sc::summary_json(sc::by_syscall({r}));
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["name"], "write");
  EXPECT_EQ(j[0]["count"], 3);
  EXPECT_EQ(j[0]["errors"], 1);
  EXPECT_EQ(j[0]["total_ns"], 600);
  EXPECT_EQ(j[0]["max_ns"], 400);
  EXPECT_EQ(j[0]["timed"], 2);
  ASSERT_EQ(j[0]["top_threads"].size(), 1u);
  EXPECT_EQ(
      j[0]["top_threads"][0],
      nlohmann::json({{"pid", 7}, {"tid", 8}, {"comm", "w"}, {"count", 3}, {"total_ns", 600}}));
  EXPECT_EQ(sc::summary_json({}), nlohmann::json::array());
}

TEST(SyscallsOutput, StraceTable) {
  auto t = sc::by_syscall({
      row(1, 1, 1, "a", 500, 500, 3'000'000, 100'000),  // write: 3 ms, 6 us/call
      row(1, 1, 110, "a", 1000, 0, 1'000'000, 5'000),   // getppid: 1 ms, 1 us/call
  });
  std::string s = sc::format_syscall_table(t);
  EXPECT_EQ(s,
            "% time     seconds  usecs/call     calls    errors syscall\n"
            "------ ----------- ----------- --------- --------- ----------------\n"
            " 75.00    0.003000           6       500       500 write\n"
            " 25.00    0.001000           1      1000           getppid\n"
            "------ ----------- ----------- --------- --------- ----------------\n"
            "100.00    0.004000           2      1500       500 total\n");
  // Nothing traced: just the header and a zero total.
  EXPECT_NE(sc::format_syscall_table({}).find("100.00    0.000000           0         0"),
            std::string::npos);
}

TEST(SyscallsOutput, ProcessTable) {
  auto p = sc::by_process({row(4242, 4242, 1, "python3", 12, 3, 1'500'000, 1)});
  EXPECT_EQ(sc::format_process_table(p),
            "     PID COMM              THREADS       CALLS    ERRORS     SECONDS\n"
            "    4242 python3                 1          12         3    0.001500\n");
}
