// The store's view of the event vocabulary (DESIGN.md): one table per family,
// `<family>_events`, whose columns are the JSON keys of that family's events.
// Every table starts with the common columns; the batch encoding, SQLite and
// PostgreSQL all read their column lists from here, so they cannot drift.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace scope::event {

enum class ColumnType : uint8_t { kInt, kText };

struct Column {
  std::string_view name;
  ColumnType type;
};

// Columns every table has, in this order, before the family's own.
inline constexpr Column kCommonColumns[] = {
    {"ts_ns", ColumnType::kInt}, {"node", ColumnType::kText}, {"seq", ColumnType::kInt},
    {"pid", ColumnType::kInt},   {"tid", ColumnType::kInt},   {"comm", ColumnType::kText},
};
inline constexpr size_t kCommonColumnCount = std::size(kCommonColumns);

struct FamilySchema {
  uint8_t id;                   // stable: written into batches
  std::string_view family;      // "cuda"
  std::string_view table;       // "cuda_events"
  std::vector<Column> columns;  // the family's own columns, after the common ones
  // Index of a column by name, or -1.
  int column_index(std::string_view name) const;
};

// Every family, by id (index == id).
const std::vector<FamilySchema>& schemas();
// The schema of a family ("cuda", ...) or of a JSON event name ("exit" is an
// exec-family event); nullptr when unknown.
const FamilySchema* schema_for(std::string_view family_or_event);

}  // namespace scope::event
