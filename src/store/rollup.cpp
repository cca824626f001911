#include "store/rollup.h"

#include <map>
#include <tuple>

namespace scope::store {

std::vector<KernelMinute> kernel_minutes(const event::Batch& batch) {
  static const event::FamilySchema& cuda = *event::schema_for("cuda");
  static const int op = cuda.column_index("op");
  static const int kernel = cuda.column_index("kernel");
  static const int duration = cuda.column_index("duration_ns");
  std::map<std::tuple<int64_t, int64_t, std::string_view>, KernelMinute> agg;
  for (const auto& e : batch.events) {
    if (e.family != cuda.id) continue;
    const auto* o = std::get_if<std::string>(&e.values[op]);
    if (!o || *o != "launch") continue;
    const auto* k = std::get_if<std::string>(&e.values[kernel]);
    int64_t minute = e.ts_ns - ((e.ts_ns % kMinuteNs) + kMinuteNs) % kMinuteNs;
    std::string_view name = k ? std::string_view(*k) : std::string_view();
    auto& m = agg[{minute, e.pid, name}];
    if (m.launches == 0) {
      m.minute_ns = minute;
      m.pid = e.pid;
      m.kernel = std::string(name);
    }
    ++m.launches;
    if (const auto* d = std::get_if<int64_t>(&e.values[duration])) m.total_ns += *d;
  }
  std::vector<KernelMinute> out;
  out.reserve(agg.size());
  for (auto& [key, m] : agg) out.push_back(std::move(m));
  return out;
}

std::string kernel_minutes_upsert(bool dollar) {
  std::string t = kKernelMinutesTable;
  const char* p = dollar ? "($1, $2, $3, $4, $5, $6)" : "(?1, ?2, ?3, ?4, ?5, ?6)";
  return "INSERT INTO " + t + " VALUES " + p +
         " ON CONFLICT (minute_ns, node, pid, kernel) DO UPDATE SET launches = " + t +
         ".launches + excluded.launches, total_ns = " + t + ".total_ns + excluded.total_ns";
}

std::string bookkeeping_retention_sql(int64_t cutoff_ns) {
  return "DELETE FROM scope_batches WHERE ingested_ns < " + std::to_string(cutoff_ns) +
         "; DELETE FROM " + std::string(kKernelMinutesTable) + " WHERE minute_ns < " +
         std::to_string(cutoff_ns - cutoff_ns % kMinuteNs);
}

}  // namespace scope::store
