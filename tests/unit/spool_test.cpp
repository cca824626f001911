// The agent's on-disk spool: order, restart, bounds, damage.
#include "agent/spool.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace scope::agent {
namespace {

std::string temp_dir() {
  std::string dir = std::filesystem::temp_directory_path() / "scope-spool-XXXXXX";
  return mkdtemp(dir.data());
}

std::string record(int i, size_t size = 100) {
  std::string s = "batch-" + std::to_string(i) + "-";
  s.resize(size, static_cast<char>('a' + i % 26));
  return s;
}

std::unique_ptr<Spool> open_spool(const std::string& dir, uint64_t max_bytes = 1 << 20,
                                  uint64_t segment = 4096) {
  SpoolOptions o;
  o.dir = dir;
  o.max_bytes = max_bytes;
  o.segment_bytes = segment;
  auto s = Spool::open(o);
  EXPECT_TRUE(s) << (s ? "" : s.error());
  return s ? std::move(s.value()) : nullptr;
}

// Reads everything left, in order.
std::vector<std::string> drain(Spool& s) {
  std::vector<std::string> out;
  while (true) {
    auto r = s.peek();
    EXPECT_TRUE(r) << (r ? "" : r.error());
    if (!r || !r->has_value()) break;
    out.push_back((*r)->data);
    EXPECT_TRUE(s.pop());
  }
  return out;
}

TEST(Spool, ReplaysInOrderAcrossSegments) {
  auto s = open_spool(temp_dir());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(s->append(record(i), 10));
  EXPECT_EQ(s->stats().pending_batches, 100u);
  EXPECT_EQ(s->stats().pending_events, 1000u);
  auto got = drain(*s);
  ASSERT_EQ(got.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(got[i], record(i));
  EXPECT_TRUE(s->empty());
  EXPECT_EQ(s->stats().replayed_events, 1000u);
  EXPECT_EQ(s->stats().dropped_batches, 0u);
}

TEST(Spool, SurvivesARestartAndContinuesWhereReplayStopped) {
  std::string dir = temp_dir();
  {
    auto s = open_spool(dir);
    for (int i = 0; i < 60; ++i) ASSERT_TRUE(s->append(record(i), 1));
    for (int i = 0; i < 25; ++i) {
      auto r = s->peek();
      ASSERT_TRUE(r && r->has_value());
      ASSERT_TRUE(s->pop());
    }
  }
  auto s = open_spool(dir);
  EXPECT_EQ(s->stats().pending_batches, 35u);
  for (int i = 60; i < 70; ++i) ASSERT_TRUE(s->append(record(i), 1));
  auto got = drain(*s);
  ASSERT_EQ(got.size(), 45u);
  for (int i = 0; i < 45; ++i) EXPECT_EQ(got[i], record(25 + i));
}

TEST(Spool, WhenFullDropsTheOldestAndCountsThem) {
  // 16 KiB, 4 KiB segments: ~130 records of 120 bytes fit.
  auto s = open_spool(temp_dir(), 16 << 10, 4 << 10);
  const int n = 1000;
  for (int i = 0; i < n; ++i) ASSERT_TRUE(s->append(record(i), 7));
  auto st = s->stats();
  EXPECT_GT(st.dropped_batches, 0u);
  EXPECT_LE(st.bytes, 16u << 10);
  EXPECT_EQ(st.dropped_batches + st.pending_batches, static_cast<uint64_t>(n));
  EXPECT_EQ(st.dropped_events, st.dropped_batches * 7);
  auto got = drain(*s);
  ASSERT_EQ(got.size(), st.pending_batches);
  // What is left is the newest, in order.
  EXPECT_EQ(got.back(), record(n - 1));
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_EQ(got[i], record(n - got.size() + static_cast<int>(i)));
}

TEST(Spool, ATornTailIsCutOffAndCounted) {
  std::string dir = temp_dir();
  {
    auto s = open_spool(dir);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(s->append(record(i), 1));
  }
  // A crash in the middle of an append: half a record at the end.
  std::string seg;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".seg") seg = e.path();
  ASSERT_FALSE(seg.empty());
  {
    std::ofstream out(seg, std::ios::app | std::ios::binary);
    out.write("SPR1\x40\x00\x00", 7);
  }
  auto s = open_spool(dir);
  EXPECT_EQ(s->stats().corrupt_records, 1u);
  ASSERT_TRUE(s->append(record(5), 1));
  auto got = drain(*s);
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[5], record(5));
}

TEST(Spool, AFlippedByteFailsTheChecksumAndIsCounted) {
  std::string dir = temp_dir();
  {
    auto s = open_spool(dir);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(s->append(record(i), 4));
  }
  std::string seg;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".seg") seg = e.path();
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(120 + 20 + 30);  // inside the second record's payload
    f.put('#');
  }
  auto s = open_spool(dir);
  auto st = s->stats();
  EXPECT_EQ(st.corrupt_records, 1u);
  auto got = drain(*s);
  ASSERT_EQ(got.size(), 1u);  // the records from the damaged one on are gone, and counted
  EXPECT_EQ(got[0], record(0));
}

TEST(Spool, Crc32cKnownValue) {
  // RFC 3720's test vector: 32 bytes of zeros.
  std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(0, zeros.data(), zeros.size()), 0x8a9136aau);
  EXPECT_EQ(crc32c(0, "123456789", 9), 0xe3069283u);
}

}  // namespace
}  // namespace scope::agent
