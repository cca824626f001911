// The query API's parameters (server/queries.h): windows, filters, limits and cursors, and
// what is refused.
#include <gtest/gtest.h>

#include <string>

#include "server/queries.h"

namespace scope::server {
namespace {

constexpr int64_t kS = 1'000'000'000;
constexpr int64_t kNow = 1'800'000'000 * kS;

QueryParams ok(const std::map<std::string, std::string>& q, const QueryRules& rules = {}) {
  auto r = parse_query_params(q, kNow, rules);
  if (const auto* e = std::get_if<std::string>(&r)) {
    ADD_FAILURE() << *e;
    return {};
  }
  return std::get<QueryParams>(r);
}

std::string refused(const std::map<std::string, std::string>& q, const QueryRules& rules = {}) {
  auto r = parse_query_params(q, kNow, rules);
  if (const auto* e = std::get_if<std::string>(&r)) return *e;
  ADD_FAILURE() << "accepted";
  return "";
}

TEST(QueryParams, DefaultsAreTheLastHourAndTheEndpointsLimit) {
  QueryParams p = ok({}, {.default_limit = 7});
  EXPECT_EQ(p.to_ns, kNow);
  EXPECT_EQ(p.from_ns, kNow - 3600 * kS);
  EXPECT_EQ(p.limit, 7u);
  EXPECT_TRUE(p.node.empty());
  EXPECT_EQ(p.pid, 0);
  EXPECT_TRUE(p.comm.empty());
  EXPECT_FALSE(p.cursor);
}

TEST(QueryParams, TimesAreUnixNsOrDurationsBeforeNow) {
  QueryParams p = ok({{"from", "5m"}, {"to", "now"}});
  EXPECT_EQ(p.from_ns, kNow - 300 * kS);
  EXPECT_EQ(p.to_ns, kNow);
  p = ok({{"from", "1000"}, {"to", "2000"}});
  EXPECT_EQ(p.from_ns, 1000);
  EXPECT_EQ(p.to_ns, 2000);
  p = ok({{"from", "2d"}, {"to", "1h"}});
  EXPECT_EQ(p.from_ns, kNow - 2 * 86400 * kS);
  EXPECT_EQ(p.to_ns, kNow - 3600 * kS);
  EXPECT_EQ(ok({{"from", "30s"}}).from_ns, kNow - 30 * kS);
}

TEST(QueryParams, BadTimesAndWindowsAreRefused) {
  for (const char* bad : {"", "-5", "5x", "m", "1.5h", "0x10", "now", "5 m", "99999999999999999999",
                          "0m", "1'; DROP TABLE cuda_events; --"})
    EXPECT_NE(refused({{"from", bad}}).find("\"from\""), std::string::npos) << bad;
  EXPECT_EQ(refused({{"from", "2000"}, {"to", "1000"}}), "\"from\" must be before \"to\"");
  EXPECT_EQ(refused({{"from", "1000"}, {"to", "1000"}}), "\"from\" must be before \"to\"");
  EXPECT_EQ(refused({{"from", "40d"}}), "the window may be at most 31 days");
}

TEST(QueryParams, FiltersAreCheckedNotEscaped) {
  QueryParams p = ok({{"node", "gpu-01.lab_a"}, {"pid", "4242"}, {"comm", "it's \"x\"; --"}});
  EXPECT_EQ(p.node, "gpu-01.lab_a");
  EXPECT_EQ(p.pid, 4242);
  EXPECT_EQ(p.comm, "it's \"x\"; --");  // bound as a parameter, so any printable text is safe
  EXPECT_NE(refused({{"node", "a b"}}).find("\"node\""), std::string::npos);
  EXPECT_NE(refused({{"node", "x'--"}}).find("\"node\""), std::string::npos);
  EXPECT_NE(refused({{"node", std::string(65, 'a')}}).find("\"node\""), std::string::npos);
  for (const char* bad : {"0", "-1", "4294967296", "12a", ""})
    EXPECT_NE(refused({{"pid", bad}}).find("\"pid\""), std::string::npos) << bad;
  EXPECT_NE(refused({{"comm", "sixteen-bytes-xx"}}).find("\"comm\""), std::string::npos);
  EXPECT_NE(refused({{"comm", std::string("a\nb")}}).find("\"comm\""), std::string::npos);
  EXPECT_NE(refused({{"comm", ""}}).find("\"comm\""), std::string::npos);
}

TEST(QueryParams, LimitsStayWithinTheEndpoints) {
  QueryRules rules{.default_limit = 10, .max_limit = 100};
  EXPECT_EQ(ok({{"limit", "100"}}, rules).limit, 100u);
  EXPECT_EQ(refused({{"limit", "101"}}, rules), "\"limit\" must be between 1 and 100");
  EXPECT_EQ(refused({{"limit", "0"}}, rules), "\"limit\" must be between 1 and 100");
  EXPECT_EQ(refused({{"limit", "99999999999999999999999"}}, rules),
            "\"limit\" must be between 1 and 100");
  EXPECT_EQ(refused({{"limit", "5"}}, {.default_limit = 0, .max_limit = 0}),
            "unknown parameter \"limit\"");
}

TEST(QueryParams, UnknownParametersAreRefused) {
  EXPECT_EQ(refused({{"sql", "SELECT 1"}}), "unknown parameter \"sql\"");
  EXPECT_EQ(refused({{"cursor", "1-2-61"}}), "unknown parameter \"cursor\"");  // not a list
  EXPECT_EQ(refused({{"sort", "count"}}), "unknown parameter \"sort\"");
  EXPECT_EQ(refused({{"kernel", "k"}}), "unknown parameter \"kernel\"");
}

TEST(QueryParams, SortAndExtrasAreTheEndpointsOwn) {
  QueryRules rules{.sorts = {"count", "time", "errors"}, .extra = {"kernel"}};
  EXPECT_EQ(ok({}, rules).sort, "count");
  EXPECT_EQ(ok({{"sort", "errors"}}, rules).sort, "errors");
  EXPECT_EQ(refused({{"sort", "name"}}, rules), "\"sort\" must be one of count, time, errors");
  EXPECT_EQ(ok({{"kernel", "void k<float>(int*)"}}, rules).extra.at("kernel"),
            "void k<float>(int*)");
}

TEST(EventKey, RoundTripsAndRefusesAnythingElse) {
  EventKey key{1'700'000'000'123'456'789, 42, "gpu-01"};
  std::string text = encode_event_key(key);
  EXPECT_EQ(text, "1700000000123456789-42-6770752d3031");
  EXPECT_EQ(decode_event_key(text), key);
  QueryParams p = ok({{"cursor", text}}, {.cursor = true});
  ASSERT_TRUE(p.cursor);
  EXPECT_EQ(*p.cursor, key);
  for (const char* bad : {"", "-", "1-2", "1-2-", "x-2-61", "1-x-61", "1-2-6", "1-2-6G", "1-2-2720",
                          "-1-2-61", "1-2-61-62", "1-2-4142'"})
    EXPECT_FALSE(decode_event_key(bad)) << bad;
  EXPECT_NE(refused({{"cursor", "nope"}}, {.cursor = true}).find("\"cursor\""), std::string::npos);
}

TEST(SeriesStep, GivesAtMostTheSeriesPointsInRoundSizes) {
  EXPECT_EQ(series_step_ns(300 * kS), 5 * kS);       // 5 minutes: 60 points of 5 s
  EXPECT_EQ(series_step_ns(3600 * kS), 60 * kS);     // an hour: 60 of a minute
  EXPECT_EQ(series_step_ns(86400 * kS), 1800 * kS);  // a day: 48 of 30 minutes
  EXPECT_EQ(series_step_ns(1), kS);
  for (int64_t w : {kS, 7 * kS, 3601 * kS, 31 * 86400 * kS})
    EXPECT_LE((w + series_step_ns(w) - 1) / series_step_ns(w), kSeriesPoints) << w;
}

}  // namespace
}  // namespace scope::server
