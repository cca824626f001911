#include "event/row.h"

#include <cinttypes>
#include <cstdlib>
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

int64_t int_or(const Value& v, int64_t otherwise) {
  const auto* n = std::get_if<int64_t>(&v);
  return n ? *n : otherwise;
}

std::string_view text_or_empty(const Value& v) {
  const auto* t = std::get_if<std::string>(&v);
  return t ? std::string_view(*t) : std::string_view();
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

std::optional<EventRow> row_from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("event") || !j["event"].is_string()) return std::nullopt;
  const FamilySchema* s = schema_for(j["event"].get<std::string>());
  auto num = [&](const char* key) -> int64_t {
    auto it = j.find(key);
    return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
  };
  if (!s || !j.contains("ts_ns")) return std::nullopt;
  auto comm = j.find("comm");
  EventRow row = make_row(*s, num("ts_ns"), static_cast<uint32_t>(num("pid")),
                          static_cast<uint32_t>(num("tid")),
                          comm != j.end() && comm->is_string() ? comm->get<std::string>() : "");
  for (size_t i = 0; i < s->columns.size(); ++i) {
    const Column& c = s->columns[i];
    auto it = j.find(std::string(c.name));
    if (it == j.end() || it->is_null()) continue;
    if (c.type == ColumnType::kInt) {
      if (it->is_boolean())
        row.values[i] = int64_t{it->get<bool>() ? 1 : 0};
      else if (it->is_number_integer())
        row.values[i] = it->get<int64_t>();
      else if (it->is_number_unsigned())
        row.values[i] = static_cast<int64_t>(it->get<uint64_t>());
      else if (it->is_string())  // hex: "0x7f..."
        row.values[i] =
            static_cast<int64_t>(std::strtoull(it->get<std::string>().c_str(), nullptr, 0));
    } else {
      row.values[i] = it->is_string() ? it->get<std::string>() : it->dump();
    }
  }
  return row;
}

}  // namespace scope::event
