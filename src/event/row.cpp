#include "event/row.h"

#include <cinttypes>
#include <nlohmann/json.hpp>

#include "common/text.h"

namespace scope::event {

EventRow make_row(const FamilySchema& schema, int64_t ts_ns, uint32_t pid, uint32_t tid,
                  std::string comm) {
  EventRow r;
  r.family = schema.id;
  r.ts_ns = ts_ns;
  r.pid = pid;
  r.tid = tid;
  r.comm = std::move(comm);
  r.values.resize(schema.columns.size());
  return r;
}

void set_column(EventRow& row, std::string_view name, Value value) {
  row.values.at(schemas().at(row.family).column(name)) = std::move(value);
}

const Value& column_value(const EventRow& row, std::string_view name) {
  static const Value null;
  int i = schemas().at(row.family).column_index(name);
  return i < 0 || static_cast<size_t>(i) >= row.values.size() ? null : row.values[i];
}

nlohmann::json row_json(const EventRow& row) {
  const FamilySchema& s = schemas().at(row.family);
  nlohmann::json j;
  j["event"] = s.family;
  j["ts_ns"] = row.ts_ns;
  j["pid"] = row.pid;
  j["tid"] = row.tid;
  j["comm"] = row.comm;
  for (size_t i = 0; i < s.columns.size() && i < row.values.size(); ++i) {
    const Value& v = row.values[i];
    const Column& c = s.columns[i];
    std::string key(c.name);
    if (const auto* n = std::get_if<int64_t>(&v)) {
      if (c.show == Show::kHex)
        j[key] = sfmt("0x%" PRIx64, static_cast<uint64_t>(*n));
      else if (c.show == Show::kBool)
        j[key] = *n != 0;
      else
        j[key] = *n;
    } else if (const auto* t = std::get_if<std::string>(&v)) {
      if (c.show == Show::kJson) {
        auto parsed = nlohmann::json::parse(*t, nullptr, false);
        j[key] = parsed.is_discarded() ? nlohmann::json(*t) : std::move(parsed);
      } else {
        j[key] = *t;
      }
    }
  }
  // Exits live in exec_events, told apart by their call.
  if (s.family == "exec") {
    const Value& call = column_value(row, "call");
    if (const auto* t = std::get_if<std::string>(&call); t && *t == "exit") j["event"] = "exit";
  }
  return j;
}

}  // namespace scope::event
