// An event's JSON read back into its row (event/row.h row_from_json): the inverse of row_json
// for every column of every family.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "event/row.h"

namespace scope::event {
namespace {

TEST(RowJson, EveryColumnOfEveryFamilyReadsBack) {
  for (const auto& s : schemas()) {
    EventRow row = make_row(s, 1'790'000'000'123'456'789, 4242, 4243, "python3");
    int64_t n = 1;
    for (size_t i = 0; i < s.columns.size(); ++i) {
      const Column& c = s.columns[i];
      if (c.type == ColumnType::kText)
        row.values[i] = c.show == Show::kJson ? std::string("[1,2,3]") : "v\"" + std::to_string(i);
      else if (c.show == Show::kBool)
        row.values[i] = int64_t{1};
      else if (c.show == Show::kHex)
        row.values[i] = int64_t{0x7f0012345678};
      else
        row.values[i] = -(n++);  // negative values (errnos) too
    }
    if (s.family == "exec") row.values[s.column("call")] = std::string("execve");
    auto back = row_from_json(row_json(row));
    ASSERT_TRUE(back) << s.family;
    EXPECT_EQ(*back, row) << s.family << ": " << row_json(row).dump();
    // NULL columns stay NULL; keys that are no column are left out.
    EventRow sparse = make_row(s, 5, 1, 2, "x");
    auto j = row_json(sparse);
    j["cmdline"] = "python3 serve.py";
    auto sparse_back = row_from_json(j);
    ASSERT_TRUE(sparse_back);
    EXPECT_EQ(*sparse_back, sparse) << s.family;
  }
  // An exit reads back into exec_events.
  EventRow exit = make_row(*schema_for("exec"), 9, 1, 1, "sh");
  set_column(exit, "call", std::string("exit"));
  set_column(exit, "exit_code", int64_t{3});
  EXPECT_EQ(row_json(exit)["event"], "exit");
  EXPECT_EQ(*row_from_json(row_json(exit)), exit);
  EXPECT_FALSE(row_from_json(nlohmann::json{{"event", "summary"}}));
  EXPECT_FALSE(row_from_json(nlohmann::json::array()));
  EXPECT_FALSE(row_from_json(nlohmann::json{{"event", "cuda"}}));  // no time
}

}  // namespace
}  // namespace scope::event
