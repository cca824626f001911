// The sched family's aggregation, sorting and formatting, from crafted map values.
#include "families/sched_family.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace scope::families::sched {
namespace {

sched_thread rec(uint32_t tgid, const char* comm, uint64_t switches, uint64_t vol, uint64_t invol,
                 uint64_t offcpu, uint64_t runq, uint64_t runq_max, uint64_t waits) {
  sched_thread r{};
  r.tgid = tgid;
  std::strncpy(r.comm, comm, sizeof(r.comm));
  r.switches = switches;
  r.voluntary = vol;
  r.involuntary = invol;
  r.offcpu_ns = offcpu;
  r.runq_ns = runq;
  r.runq_max_ns = runq_max;
  r.runq_waits = waits;
  r.off_ts = 123;  // working state: not part of the counters
  r.wake_ts = 456;
  return r;
}

std::string tables(const std::vector<ThreadStats>& threads, size_t rows = 10) {
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* f = open_memstream(&buf, &len);
  print_tables(f, threads, rows);
  std::fclose(f);
  std::string s(buf, len);
  std::free(buf);
  return s;
}

TEST(SchedFamily, FromRecordKeepsCountersAndTrimsComm) {
  sched_thread r = rec(100, "worker", 10, 7, 3, 5000, 700, 400, 4);
  std::memcpy(r.comm, "0123456789abcdef", 16);  // no terminator: all 16 bytes are the name
  ThreadStats s = from_record(101, r);
  EXPECT_EQ(s.pid, 100u);
  EXPECT_EQ(s.tid, 101u);
  EXPECT_EQ(s.comm, "0123456789abcdef");
  EXPECT_EQ(s.switches, 10u);
  EXPECT_EQ(s.voluntary, 7u);
  EXPECT_EQ(s.involuntary, 3u);
  EXPECT_EQ(s.offcpu_ns, 5000u);
  EXPECT_EQ(s.runq_ns, 700u);
  EXPECT_EQ(s.runq_max_ns, 400u);
  EXPECT_EQ(s.runq_waits, 4u);
  EXPECT_EQ(from_record(5, rec(5, "sh", 0, 0, 0, 0, 0, 0, 0)).comm, "sh");
}

// Past kMaxRetired retired threads, they fold into one "(exited)" row: totals kept, memory bounded,
// and the folded tids are returned so their per-thread state can go.
TEST(SchedFamily, ManyRetiredThreadsFoldIntoOneRow) {
  SchedTable table;
  uint64_t switches = 0;
  std::vector<uint32_t> folded;
  for (uint32_t tid = 1; tid <= SchedTable::kMaxRetired + 1; ++tid) {
    auto f = table.retire(from_record(tid, rec(tid, "t", 2, 1, 1, 10, 5, tid, 1)));
    switches += 2;
    folded.insert(folded.end(), f.begin(), f.end());
  }
  EXPECT_EQ(folded.size(), SchedTable::kMaxRetired + 1);
  table.retire(from_record(5, rec(5, "late", 1, 1, 0, 0, 0, 0, 0)));
  switches += 1;
  auto all = table.threads();
  ASSERT_EQ(all.size(), 2u);
  uint64_t sum = 0;
  for (const auto& t : all) sum += t.switches;
  EXPECT_EQ(sum, switches);
  const auto& exited = all[0].tid == 0 ? all[0] : all[1];
  EXPECT_EQ(exited.comm, "(exited)");
  EXPECT_EQ(exited.pid, 0u);
  EXPECT_EQ(exited.runq_max_ns, SchedTable::kMaxRetired + 1);  // the max of the folded
}

TEST(SchedFamily, RetiredAndLiveCountersOfOneThreadAdd) {
  SchedTable table;
  table.retire(from_record(7, rec(7, "old", 10, 6, 4, 1000, 300, 200, 5)));
  table.retire(from_record(8, rec(7, "other", 1, 1, 0, 50, 0, 0, 0)));
  std::map<uint32_t, ThreadStats> live;
  live[7] = from_record(7, rec(7, "new", 2, 1, 1, 100, 90, 90, 1));
  live[9] = from_record(9, rec(9, "nine", 3, 3, 0, 10, 5, 5, 1));
  table.set_live(live);
  auto all = table.threads();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].tid, 7u);
  EXPECT_EQ(all[0].comm, "new");  // the latest name
  EXPECT_EQ(all[0].switches, 12u);
  EXPECT_EQ(all[0].voluntary, 7u);
  EXPECT_EQ(all[0].involuntary, 5u);
  EXPECT_EQ(all[0].offcpu_ns, 1100u);
  EXPECT_EQ(all[0].runq_ns, 390u);
  EXPECT_EQ(all[0].runq_max_ns, 200u);  // max, not sum
  EXPECT_EQ(all[0].runq_waits, 6u);
  EXPECT_EQ(all[1].tid, 8u);
  EXPECT_EQ(all[1].switches, 1u);
  EXPECT_EQ(all[2].tid, 9u);

  // A new snapshot replaces the old live values; retired ones stay.
  live.clear();
  live[9] = from_record(9, rec(9, "nine", 4, 4, 0, 20, 5, 5, 1));
  table.set_live(live);
  all = table.threads();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].switches, 10u);
  EXPECT_EQ(all[2].switches, 4u);
}

TEST(SchedFamily, SummarySortsByRunqPlusOffcpuAndKeepsFifty) {
  std::vector<ThreadStats> threads;
  for (uint32_t i = 1; i <= 60; ++i)
    threads.push_back(from_record(i, rec(1, "t", i, i, 0, i * 10, i, i, 1)));
  // Equal totals: the lower tid first.
  threads.push_back(from_record(1000, rec(2, "b", 1, 1, 0, 0, 650, 650, 1)));
  threads.push_back(from_record(999, rec(2, "a", 1, 1, 0, 650, 0, 0, 0)));
  nlohmann::json j = summary_json(threads);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 50u);
  EXPECT_EQ(j[0]["tid"], 60);  // 600 + 60 > 650 (both b and a) > 590 + 59
  EXPECT_EQ(j[1]["tid"], 999);
  EXPECT_EQ(j[2]["tid"], 1000);
  EXPECT_EQ(j[3]["tid"], 59);
  for (size_t i = 1; i < j.size(); ++i)
    EXPECT_GE(j[i - 1]["offcpu_ns"].get<uint64_t>() + j[i - 1]["runq_ns"].get<uint64_t>(),
              j[i]["offcpu_ns"].get<uint64_t>() + j[i]["runq_ns"].get<uint64_t>());
  const auto& e = j[0];
  EXPECT_EQ(e["pid"], 1);
  EXPECT_EQ(e["comm"], "t");
  EXPECT_EQ(e["switches"], 60);
  EXPECT_EQ(e["voluntary"], 60);
  EXPECT_EQ(e["involuntary"], 0);
  EXPECT_EQ(e["offcpu_ns"], 600);
  EXPECT_EQ(e["runq_ns"], 60);
  EXPECT_EQ(e["runq_max_ns"], 60);
  EXPECT_EQ(e.size(), 9u);  // exactly the documented fields
  EXPECT_EQ(summary_json({}).dump(), "[]");
}

TEST(SchedFamily, RankingsLeaveOutThreadsWithNothingToShow) {
  std::vector<ThreadStats> threads = {
      from_record(1, rec(1, "idle", 1, 1, 0, 0, 0, 0, 0)),
      from_record(2, rec(1, "busy", 9, 0, 9, 900, 800, 300, 9)),
      from_record(3, rec(1, "sleepy", 2, 2, 0, 5000, 10, 10, 1)),
  };
  auto runq = top_by_runq(threads, 10);
  ASSERT_EQ(runq.size(), 2u);
  EXPECT_EQ(runq[0].comm, "busy");
  EXPECT_EQ(runq[1].comm, "sleepy");
  auto off = top_by_offcpu(threads, 1);
  ASSERT_EQ(off.size(), 1u);
  EXPECT_EQ(off[0].comm, "sleepy");
}

TEST(SchedFamily, FormatsDurations) {
  EXPECT_EQ(format_duration(0), "0");
  EXPECT_EQ(format_duration(999), "999 ns");
  EXPECT_EQ(format_duration(1500), "1.5 us");
  EXPECT_EQ(format_duration(2340000), "2.34 ms");
  EXPECT_EQ(format_duration(2500000000ull), "2.50 s");
}

TEST(SchedFamily, HumanTables) {
  std::vector<ThreadStats> threads = {
      from_record(11, rec(10, "busy", 9, 0, 9, 900000, 800000, 300000, 8)),
      from_record(12, rec(10, "sleepy", 2, 2, 0, 200000000, 0, 0, 0)),
  };
  std::string s = tables(threads);
  EXPECT_NE(s.find("sched: 2 threads, 11 context switches (2 voluntary, 9 involuntary), "
                   "run-queue wait 800.0 us, off-CPU 200.90 ms"),
            std::string::npos)
      << s;
  auto hungry = s.find("hungriest threads (run-queue latency)");
  auto off = s.find("most off-CPU threads");
  ASSERT_NE(hungry, std::string::npos) << s;
  ASSERT_NE(off, std::string::npos) << s;
  EXPECT_LT(hungry, off);
  // The busy thread: 800 us over 8 waits = 100 us average, 300 us max, 9 involuntary.
  EXPECT_NE(s.find("      10       11  busy                 800.0 us        8     100.0 us"
                   "     300.0 us        9"),
            std::string::npos)
      << s;
  // The sleeper is not hungry; it leads the off-CPU table.
  std::string hungry_part = s.substr(hungry, off - hungry);
  EXPECT_EQ(hungry_part.find("sleepy"), std::string::npos) << s;
  std::string off_part = s.substr(off);
  EXPECT_LT(off_part.find("sleepy"), off_part.find("busy")) << s;
  EXPECT_NE(off_part.find("200.00 ms"), std::string::npos) << s;

  std::string empty = tables({});
  EXPECT_NE(empty.find("sched: 0 threads"), std::string::npos);
  EXPECT_EQ(empty.find("hungriest"), std::string::npos);
}

}  // namespace
}  // namespace scope::families::sched
