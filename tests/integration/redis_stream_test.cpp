// The Redis Streams transport against a real redis-server: acknowledgement,
// takeover of a dead consumer's entries, and trimming that keeps what the
// group still needs.
#include "transport/redis_stream.h"

#include "fleet_helpers.h"

namespace scope::fleettest {
namespace {

using transport::ConsumerOptions;
using transport::RedisClient;
using transport::StreamConsumer;
using transport::StreamProducer;

class RedisStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (redis_url().empty()) {
      std::printf("skipped: SCOPE_TEST_REDIS_URL is not set (source scripts/services.sh)\n");
      GTEST_SKIP() << "SCOPE_TEST_REDIS_URL is not set";
    }
    client_ = std::make_unique<RedisClient>(*transport::parse_redis_url(redis_url()));
    stream_ = "scope:test:stream:" + std::to_string(getpid());
    ASSERT_TRUE(client_->command({"DEL", stream_}));
  }
  void TearDown() override {
    if (client_) (void)client_->command({"DEL", stream_});
  }
  ConsumerOptions opts(const std::string& consumer) { return {stream_, "g", consumer}; }
  std::unique_ptr<RedisClient> client_;
  std::string stream_;
};

TEST_F(RedisStreamTest, UnacknowledgedEntriesComeBackToTheSameConsumer) {
  StreamProducer p(*client_, stream_);
  StreamConsumer c(*client_, opts("c1"));
  ASSERT_TRUE(c.ensure_group());
  ASSERT_TRUE(c.ensure_group());  // twice is fine
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(p.add("batch-" + std::to_string(i)));
  auto got = c.read(10, 100);
  ASSERT_TRUE(got) << got.error();
  ASSERT_EQ(got->size(), 5u);
  EXPECT_EQ((*got)[0].data, "batch-0");
  EXPECT_GT((*got)[0].added_ms(), 0);
  ASSERT_TRUE(c.ack({(*got)[0].id, (*got)[1].id}));
  // A restart of c1: its history holds the three it never acknowledged.
  StreamConsumer again(*client_, opts("c1"));
  auto pending = again.read_own_pending(10);
  ASSERT_TRUE(pending) << pending.error();
  ASSERT_EQ(pending->size(), 3u);
  EXPECT_EQ((*pending)[0].data, "batch-2");
  auto none = again.read(10, 50);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(RedisStreamTest, AutoclaimTakesOverADeadConsumersEntries) {
  StreamProducer p(*client_, stream_);
  StreamConsumer dead(*client_, opts("dead"));
  ASSERT_TRUE(dead.ensure_group());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(p.add("b" + std::to_string(i)));
  ASSERT_EQ(dead.read(10, 100)->size(), 4u);
  StreamConsumer live(*client_, opts("live"));
  auto early = live.autoclaim(60000, 10);
  ASSERT_TRUE(early) << early.error();
  EXPECT_TRUE(early->empty()) << "claimed entries that were not idle long enough";
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  auto claimed = live.autoclaim(100, 10);
  ASSERT_TRUE(claimed) << claimed.error();
  ASSERT_EQ(claimed->size(), 4u);
  EXPECT_EQ((*claimed)[3].data, "b3");
  std::vector<std::string> ids;
  for (const auto& e : *claimed) ids.push_back(e.id);
  ASSERT_TRUE(live.ack(ids));
  auto summary = client_->command({"XPENDING", stream_, "g"});
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->elements[0].integer, 0);
}

TEST_F(RedisStreamTest, TrimNeverRemovesWhatTheGroupStillNeeds) {
  StreamProducer p(*client_, stream_);
  StreamConsumer c(*client_, opts("c"));
  ASSERT_TRUE(c.ensure_group());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(p.add("e" + std::to_string(i)));
  auto got = c.read(6, 100);  // 6 delivered, 4 not yet
  ASSERT_EQ(got->size(), 6u);
  // Acknowledge all but the third: it and everything after it must stay.
  std::vector<std::string> ids;
  for (size_t i = 0; i < got->size(); ++i)
    if (i != 2) ids.push_back((*got)[i].id);
  ASSERT_TRUE(c.ack(ids));
  auto trimmed = c.trim();
  ASSERT_TRUE(trimmed) << trimmed.error();
  EXPECT_EQ(*trimmed, 2u);
  EXPECT_EQ(client_->command({"XLEN", stream_})->integer, 8);
  ASSERT_TRUE(c.ack({(*got)[2].id}));
  ASSERT_EQ(*c.trim(), 3u);  // up to the last delivered entry, kept
  EXPECT_EQ(client_->command({"XLEN", stream_})->integer, 5);
  auto rest = c.read(10, 100);
  ASSERT_EQ(rest->size(), 4u);  // the undelivered four are all there
  EXPECT_EQ((*rest)[0].data, "e6");
}

TEST_F(RedisStreamTest, ACallAfterTheServerWentAwayFailsAndThenRecovers) {
  RedisClient unreachable(*transport::parse_redis_url("redis://127.0.0.1:1"), 500);
  auto r = unreachable.command({"PING"});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("127.0.0.1:1"), std::string::npos) << r.error();
  // Backoff: a second call right away does not wait for another connect timeout.
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(unreachable.command({"PING"}));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));
  // The real one answers, and a killed connection is re-established.
  ASSERT_TRUE(client_->command({"PING"}));
  auto id = client_->command({"CLIENT", "ID"});
  ASSERT_TRUE(id);
  RedisClient other(*transport::parse_redis_url(redis_url()));
  ASSERT_TRUE(other.command({"CLIENT", "KILL", "ID", std::to_string(id->integer)}));
  EXPECT_FALSE(client_->command({"PING"}));  // the broken connection is noticed
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_TRUE(client_->command({"PING"}));
}

}  // namespace
}  // namespace scope::fleettest
