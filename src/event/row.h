// One event as the pipeline carries it from a probe family to a store: the
// common columns typed, the family's own columns as values in schema order.
// Each family fills its rows itself (families/*_family.cpp); the JSON of an
// event is made from its row (row_json).
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "event/schema.h"

namespace scope::event {

// NULL, an integer or text.
using Value = std::variant<std::monostate, int64_t, std::string>;

struct EventRow {
  uint8_t family = 0;  // FamilySchema::id
  int64_t ts_ns = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;
  std::string comm;
  std::vector<Value> values;  // one per schema column

  bool operator==(const EventRow&) const = default;
};

// A row of `schema`'s family with every column NULL.
EventRow make_row(const FamilySchema& schema, int64_t ts_ns, uint32_t pid, uint32_t tid,
                  std::string comm);
// A value's integer, or `otherwise` when it is NULL or text.
int64_t int_or(const Value& v, int64_t otherwise = 0);
// A value's text, or "" when it is NULL or an integer.
std::string_view text_or_empty(const Value& v);
// Sets the column called `name` (tests and tools; families index their columns once).
void set_column(EventRow& row, std::string_view name, Value value);
// The value of the column called `name` (NULL when the family has none).
const Value& column_value(const EventRow& row, std::string_view name);

// The event's JSON (DESIGN.md's vocabulary): "event" (its family, or "exit" for an exec
// family's exit), the common keys, and every non-NULL column as its Show says.
nlohmann::json row_json(const EventRow& row);
// The row of an event's JSON (row_json's inverse: `scope trace --json` lines read back); keys
// that are no column (cmdline, ...) are left out. nullopt for what is no event of a family.
std::optional<EventRow> row_from_json(const nlohmann::json& j);

}  // namespace scope::event
