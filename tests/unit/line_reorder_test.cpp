#include "session/line_reorder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace scope::session {
namespace {

std::vector<std::string> take(LineReorder& r, uint64_t now) {
  std::vector<std::string> out;
  r.release(now, [&](const std::string& l) { out.push_back(l); });
  return out;
}

// Lines come out in their events' time order once older than the window, whatever order the
// ring buffers gave them in; equal times keep their arrival order.
TEST(LineReorder, ReleasesInTimeOrderPastTheWindow) {
  LineReorder r(50);
  r.add(1000, "open b");
  r.add(990, "exec a");
  r.add(1000, "open c");
  r.add(1040, "exit d");
  EXPECT_TRUE(take(r, 1000).empty());  // all within 50 of now
  EXPECT_EQ(take(r, 1050), (std::vector<std::string>{"exec a", "open b", "open c"}));
  EXPECT_EQ(r.held(), 1u);
  r.add(1020, "late but still in time");
  EXPECT_EQ(take(r, 1100), (std::vector<std::string>{"late but still in time", "exit d"}));
}

// A line without a time follows the latest one seen; the end releases everything.
TEST(LineReorder, UntimedLinesAndTheEnd) {
  LineReorder r(50);
  r.add(500, "a");
  r.add(0, "untimed");
  r.add(400, "earlier");
  std::vector<std::string> out;
  r.release_all([&](const std::string& l) { out.push_back(l); });
  EXPECT_EQ(out, (std::vector<std::string>{"earlier", "a", "untimed"}));
  EXPECT_EQ(r.held(), 0u);
}

}  // namespace
}  // namespace scope::session
