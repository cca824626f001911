// The event vocabulary (DESIGN.md): one table per family, `<family>_events`,
// whose columns are the keys of that family's JSON events. Every table starts
// with the common columns. Families fill rows by these columns; an event's JSON
// is made from its row (event/row_json.h), and the batch encoding, SQLite and
// PostgreSQL read their column lists from here, so none of them can drift.
// Columns are only ever appended (store/*/migrations.cpp adds them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace scope::event {

enum class ColumnType : uint8_t { kInt, kText };

// How a column's value reads in an event's JSON (the same value either way).
enum class Show : uint8_t {
  kPlain,  // as stored
  kHex,    // an integer as "0x..." (pointers, streams, handles)
  kBool,   // an integer 0/1 as false/true
  kJson,   // text holding JSON (argv, grid, block) as that JSON
};

struct Column {
  std::string_view name;
  ColumnType type;
  Show show = Show::kPlain;
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
  // Index of a column the caller knows is there (a family's own columns); aborts when it is not.
  size_t column(std::string_view name) const;
};

// Every family, by id (index == id).
const std::vector<FamilySchema>& schemas();
// The schema of a family ("cuda", ...) or of a JSON event name ("exit" is an
// exec-family event); nullptr when unknown.
const FamilySchema* schema_for(std::string_view family_or_event);

}  // namespace scope::event
