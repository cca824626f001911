#include <gtest/gtest.h>

#include "transport/redis_stream.h"

namespace scope::transport {
namespace {

TEST(RedisUrl, Parses) {
  auto a = parse_redis_url("redis://127.0.0.1:6380");
  ASSERT_TRUE(a) << a.error();
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 6380);
  EXPECT_EQ(a->db, 0);
  auto b = parse_redis_url("redis://:s3cret@redis.internal/2");
  ASSERT_TRUE(b) << b.error();
  EXPECT_EQ(b->host, "redis.internal");
  EXPECT_EQ(b->port, 6379);
  EXPECT_EQ(b->password, "s3cret");
  EXPECT_EQ(b->db, 2);
  auto c = parse_redis_url("redis://scope:pw@[::1]:7000");
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, 7000);
  EXPECT_EQ(c->user, "scope");
  EXPECT_EQ(c->password, "pw");
}

TEST(RedisUrl, RejectsWhatItCannotUse) {
  for (const char* bad : {"127.0.0.1:6379", "http://x", "redis://", "redis://host:0",
                          "redis://host:99999", "redis://host:12ab", "redis://host/x"}) {
    auto r = parse_redis_url(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_NE(r.error().find("Redis URL"), std::string::npos) << r.error();
    }
  }
}

}  // namespace
}  // namespace scope::transport
