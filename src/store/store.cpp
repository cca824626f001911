#include "store/store.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "event/schema.h"
#include "store/rollup.h"

namespace scope::store {

namespace {

std::string value_text(const event::Value& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  return "";
}

}  // namespace

const std::vector<std::string>& sql_readable_tables() {
  static const std::vector<std::string> tables = [] {
    std::vector<std::string> out;
    for (const auto& s : event::schemas()) out.emplace_back(s.table);
    out.emplace_back(kKernelMinutesTable);
    for (const SlotRollup* r : slot_rollups()) out.emplace_back(r->table);
    for (const MemoryRollup* m : memory_rollups()) {
      out.emplace_back(m->table);
      out.emplace_back(m->slots);
      out.emplace_back(m->procs);
    }
    for (const OpenRollup* r : open_rollups()) out.emplace_back(r->table);
    out.emplace_back("llama_requests");
    out.emplace_back("llama_ttft_minutes");
    out.emplace_back("scope_batches");
    out.emplace_back("scope_meta");
    return out;
  }();
  return tables;
}

nlohmann::json query_result_json(const QueryResult& r) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& row : r.rows) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : row) {
      if (const auto* i = std::get_if<int64_t>(&v))
        out.push_back(*i);
      else if (const auto* s = std::get_if<std::string>(&v))
        out.push_back(*s);
      else
        out.push_back(nullptr);
    }
    rows.push_back(std::move(out));
  }
  nlohmann::json out = {
      {"columns", r.columns}, {"rows", std::move(rows)}, {"truncated", r.truncated}};
  if (r.truncated) out["truncated_by"] = r.truncated_by;
  return out;
}

std::string query_result_csv(const QueryResult& r) {
  auto quote = [](const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) {
      if (c == '"') q += '"';
      q += c;
    }
    return q + "\"";
  };
  std::string out;
  for (size_t i = 0; i < r.columns.size(); ++i) out += (i ? "," : "") + quote(r.columns[i]);
  out += "\n";
  for (const auto& row : r.rows) {
    for (size_t i = 0; i < row.size(); ++i) out += (i ? "," : "") + quote(value_text(row[i]));
    out += "\n";
  }
  return out;
}

std::string query_result_table(const QueryResult& r) {
  std::vector<size_t> width(r.columns.size());
  for (size_t i = 0; i < r.columns.size(); ++i) width[i] = r.columns[i].size();
  for (const auto& row : r.rows)
    for (size_t i = 0; i < row.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], value_text(row[i]).size());
  auto line = [&](auto&& cell) {
    std::string out;
    for (size_t i = 0; i < width.size(); ++i) {
      std::string c = cell(i);
      out += c;
      if (i + 1 < width.size()) out += std::string(width[i] - c.size() + 2, ' ');
    }
    return out + "\n";
  };
  std::string out = line([&](size_t i) { return r.columns[i]; });
  for (const auto& row : r.rows)
    out += line([&](size_t i) { return i < row.size() ? value_text(row[i]) : std::string(); });
  out += std::to_string(r.rows.size()) + (r.rows.size() == 1 ? " row" : " rows") +
         (!r.truncated                ? ""
          : r.truncated_by == "bytes" ? " (truncated: byte limit)"
                                      : " (truncated)") +
         "\n";
  return out;
}

}  // namespace scope::store
