#include "store/rollup.h"

#include <algorithm>
#include <bit>
#include <map>
#include <tuple>

namespace scope::store {

const std::string_view kSlotRollupsMigration = R"sql(
CREATE TABLE IF NOT EXISTS cuda_launch_slots (slot_ns BIGINT NOT NULL, node TEXT NOT NULL, pid BIGINT NOT NULL, comm TEXT NOT NULL, kernel TEXT NOT NULL, launches BIGINT NOT NULL, total_ns BIGINT);
CREATE INDEX IF NOT EXISTS cuda_launch_slots_slot ON cuda_launch_slots (slot_ns);
INSERT INTO cuda_launch_slots SELECT ts_ns - ts_ns % 5000000000, node, pid, coalesce(comm, ''), coalesce(kernel, ''), count(*), sum(duration_ns) FROM cuda_events WHERE op = 'launch' AND ts_ns >= 0 GROUP BY 1, 2, 3, 4, 5;
CREATE TABLE IF NOT EXISTS cuda_copy_slots (slot_ns BIGINT NOT NULL, node TEXT NOT NULL, pid BIGINT NOT NULL, comm TEXT NOT NULL, kind TEXT NOT NULL, copies BIGINT NOT NULL, bytes BIGINT, duration_ns BIGINT);
CREATE INDEX IF NOT EXISTS cuda_copy_slots_slot ON cuda_copy_slots (slot_ns);
INSERT INTO cuda_copy_slots SELECT ts_ns - ts_ns % 5000000000, node, pid, coalesce(comm, ''), coalesce(kind, 'default'), count(*), sum(bytes), sum(duration_ns) FROM cuda_events WHERE op = 'memcpy' AND ts_ns >= 0 GROUP BY 1, 2, 3, 4, 5;
CREATE TABLE IF NOT EXISTS cuda_sync_slots (slot_ns BIGINT NOT NULL, node TEXT NOT NULL, pid BIGINT NOT NULL, comm TEXT NOT NULL, bucket BIGINT NOT NULL, syncs BIGINT NOT NULL, total_ns BIGINT, max_ns BIGINT);
CREATE INDEX IF NOT EXISTS cuda_sync_slots_slot ON cuda_sync_slots (slot_ns);
INSERT INTO cuda_sync_slots SELECT ts_ns - ts_ns % 5000000000, node, pid, coalesce(comm, ''), CASE WHEN duration_ns < 1000 THEN 0 WHEN duration_ns < 10000 THEN 1 WHEN duration_ns < 100000 THEN 2 WHEN duration_ns < 1000000 THEN 3 WHEN duration_ns < 10000000 THEN 4 WHEN duration_ns < 100000000 THEN 5 WHEN duration_ns < 1000000000 THEN 6 ELSE 7 END, count(*), sum(duration_ns), max(duration_ns) FROM cuda_events WHERE op = 'sync' AND duration_ns IS NOT NULL AND ts_ns >= 0 GROUP BY 1, 2, 3, 4, 5;
CREATE TABLE IF NOT EXISTS syscall_slots (slot_ns BIGINT NOT NULL, node TEXT NOT NULL, pid BIGINT NOT NULL, comm TEXT NOT NULL, name TEXT NOT NULL, count BIGINT, errors BIGINT, total_ns BIGINT);
CREATE INDEX IF NOT EXISTS syscall_slots_slot ON syscall_slots (slot_ns);
INSERT INTO syscall_slots SELECT ts_ns - ts_ns % 5000000000, node, pid, coalesce(comm, ''), coalesce(name, ''), sum(count), sum(errors), sum(total_ns) FROM syscalls_events WHERE ts_ns >= 0 GROUP BY 1, 2, 3, 4, 5;
CREATE TABLE IF NOT EXISTS sched_slots (slot_ns BIGINT NOT NULL, node TEXT NOT NULL, pid BIGINT NOT NULL, comm TEXT NOT NULL, switches BIGINT, voluntary BIGINT, involuntary BIGINT, offcpu_ns BIGINT, runq_ns BIGINT);
CREATE INDEX IF NOT EXISTS sched_slots_slot ON sched_slots (slot_ns);
INSERT INTO sched_slots SELECT ts_ns - ts_ns % 5000000000, node, pid, coalesce(comm, ''), sum(switches), sum(voluntary), sum(involuntary), sum(offcpu_ns), sum(runq_ns) FROM sched_events WHERE ts_ns >= 0 GROUP BY 1, 2, 3, 4;
CREATE TABLE IF NOT EXISTS llama_token_slots (slot_ns BIGINT NOT NULL, node TEXT NOT NULL, pid BIGINT NOT NULL, comm TEXT NOT NULL, phase TEXT NOT NULL, tokens BIGINT, duration_ns BIGINT);
CREATE INDEX IF NOT EXISTS llama_token_slots_slot ON llama_token_slots (slot_ns);
INSERT INTO llama_token_slots SELECT ts_ns - ts_ns % 5000000000, node, pid, coalesce(comm, ''), phase, sum(tokens), sum(duration_ns) FROM llama_events WHERE op = 'decode' AND phase IN ('prompt', 'generation') AND ts_ns >= 0 GROUP BY 1, 2, 3, 4, 5;
)sql";

const std::string_view kOpenRollupsMigrationSqlite = R"sql(
CREATE TABLE IF NOT EXISTS open_comm_buckets (width_ns BIGINT NOT NULL, bucket_ns BIGINT NOT NULL, node TEXT NOT NULL, pid BIGINT NOT NULL, comm TEXT NOT NULL, opens BIGINT NOT NULL, errors BIGINT NOT NULL, PRIMARY KEY (width_ns, bucket_ns, node, pid, comm)) WITHOUT ROWID;
INSERT INTO open_comm_buckets SELECT 5000000000, ts_ns - ts_ns % 5000000000, node, coalesce(pid, 0), coalesce(comm, ''), count(*), sum(CASE WHEN ret < 0 THEN 1 ELSE 0 END) FROM open_events WHERE ts_ns >= 0 GROUP BY 2, 3, 4, 5;
INSERT INTO open_comm_buckets SELECT 20000000000, ts_ns - ts_ns % 20000000000, node, coalesce(pid, 0), coalesce(comm, ''), count(*), sum(CASE WHEN ret < 0 THEN 1 ELSE 0 END) FROM open_events WHERE ts_ns >= 0 GROUP BY 2, 3, 4, 5;
INSERT INTO open_comm_buckets SELECT 60000000000, ts_ns - ts_ns % 60000000000, node, coalesce(pid, 0), coalesce(comm, ''), count(*), sum(CASE WHEN ret < 0 THEN 1 ELSE 0 END) FROM open_events WHERE ts_ns >= 0 GROUP BY 2, 3, 4, 5;
INSERT INTO open_comm_buckets SELECT 600000000000, ts_ns - ts_ns % 600000000000, node, coalesce(pid, 0), coalesce(comm, ''), count(*), sum(CASE WHEN ret < 0 THEN 1 ELSE 0 END) FROM open_events WHERE ts_ns >= 0 GROUP BY 2, 3, 4, 5;
CREATE TABLE IF NOT EXISTS open_path_buckets (width_ns BIGINT NOT NULL, bucket_ns BIGINT NOT NULL, node TEXT NOT NULL, path TEXT NOT NULL, opens BIGINT NOT NULL, errors BIGINT NOT NULL, PRIMARY KEY (width_ns, bucket_ns, node, path)) WITHOUT ROWID;
INSERT INTO open_path_buckets SELECT 5000000000, ts_ns - ts_ns % 5000000000, node, coalesce(path, ''), count(*), sum(CASE WHEN ret < 0 THEN 1 ELSE 0 END) FROM open_events WHERE ts_ns >= 0 GROUP BY 2, 3, 4;
INSERT INTO open_path_buckets SELECT 20000000000, ts_ns - ts_ns % 20000000000, node, coalesce(path, ''), count(*), sum(CASE WHEN ret < 0 THEN 1 ELSE 0 END) FROM open_events WHERE ts_ns >= 0 GROUP BY 2, 3, 4;
INSERT INTO open_path_buckets SELECT 60000000000, ts_ns - ts_ns % 60000000000, node, coalesce(path, ''), count(*), sum(CASE WHEN ret < 0 THEN 1 ELSE 0 END) FROM open_events WHERE ts_ns >= 0 GROUP BY 2, 3, 4;
INSERT INTO open_path_buckets SELECT 600000000000, ts_ns - ts_ns % 600000000000, node, coalesce(path, ''), count(*), sum(CASE WHEN ret < 0 THEN 1 ELSE 0 END) FROM open_events WHERE ts_ns >= 0 GROUP BY 2, 3, 4;
CREATE TABLE IF NOT EXISTS open_proc_path_buckets (width_ns BIGINT NOT NULL, bucket_ns BIGINT NOT NULL, node TEXT NOT NULL, pid BIGINT NOT NULL, comm TEXT NOT NULL, path TEXT NOT NULL, opens BIGINT NOT NULL, errors BIGINT NOT NULL, PRIMARY KEY (width_ns, pid, bucket_ns, node, comm, path)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS open_proc_path_buckets_comm ON open_proc_path_buckets (width_ns, comm, bucket_ns);
INSERT INTO open_proc_path_buckets SELECT 5000000000, ts_ns - ts_ns % 5000000000, node, coalesce(pid, 0), coalesce(comm, ''), coalesce(path, ''), count(*), sum(CASE WHEN ret < 0 THEN 1 ELSE 0 END) FROM open_events WHERE ts_ns >= 0 GROUP BY 2, 3, 4, 5, 6;
INSERT INTO open_proc_path_buckets SELECT 60000000000, ts_ns - ts_ns % 60000000000, node, coalesce(pid, 0), coalesce(comm, ''), coalesce(path, ''), count(*), sum(CASE WHEN ret < 0 THEN 1 ELSE 0 END) FROM open_events WHERE ts_ns >= 0 GROUP BY 2, 3, 4, 5, 6;
INSERT INTO open_proc_path_buckets SELECT 600000000000, ts_ns - ts_ns % 600000000000, node, coalesce(pid, 0), coalesce(comm, ''), coalesce(path, ''), count(*), sum(CASE WHEN ret < 0 THEN 1 ELSE 0 END) FROM open_events WHERE ts_ns >= 0 GROUP BY 2, 3, 4, 5, 6;
)sql";

const std::string_view kOpenRollupsMigrationPostgres = R"sql(
CREATE TABLE IF NOT EXISTS open_comm_buckets (width_ns BIGINT NOT NULL, bucket_ns BIGINT NOT NULL, node TEXT NOT NULL, pid BIGINT NOT NULL, comm TEXT NOT NULL, opens BIGINT NOT NULL, errors BIGINT NOT NULL, PRIMARY KEY (width_ns, bucket_ns, node, pid, comm));
INSERT INTO open_comm_buckets SELECT 5000000000, ts_ns - ts_ns % 5000000000, node, coalesce(pid, 0), coalesce(comm, ''), count(*), sum(CASE WHEN ret < 0 THEN 1 ELSE 0 END) FROM open_events WHERE ts_ns >= 0 GROUP BY 2, 3, 4, 5;
INSERT INTO open_comm_buckets SELECT 20000000000, ts_ns - ts_ns % 20000000000, node, coalesce(pid, 0), coalesce(comm, ''), count(*), sum(CASE WHEN ret < 0 THEN 1 ELSE 0 END) FROM open_events WHERE ts_ns >= 0 GROUP BY 2, 3, 4, 5;
INSERT INTO open_comm_buckets SELECT 60000000000, ts_ns - ts_ns % 60000000000, node, coalesce(pid, 0), coalesce(comm, ''), count(*), sum(CASE WHEN ret < 0 THEN 1 ELSE 0 END) FROM open_events WHERE ts_ns >= 0 GROUP BY 2, 3, 4, 5;
INSERT INTO open_comm_buckets SELECT 600000000000, ts_ns - ts_ns % 600000000000, node, coalesce(pid, 0), coalesce(comm, ''), count(*), sum(CASE WHEN ret < 0 THEN 1 ELSE 0 END) FROM open_events WHERE ts_ns >= 0 GROUP BY 2, 3, 4, 5;
CREATE TABLE IF NOT EXISTS open_path_buckets (width_ns BIGINT NOT NULL, bucket_ns BIGINT NOT NULL, node TEXT NOT NULL, path TEXT NOT NULL, opens BIGINT NOT NULL, errors BIGINT NOT NULL, PRIMARY KEY (width_ns, bucket_ns, node, path));
INSERT INTO open_path_buckets SELECT 5000000000, ts_ns - ts_ns % 5000000000, node, coalesce(path, ''), count(*), sum(CASE WHEN ret < 0 THEN 1 ELSE 0 END) FROM open_events WHERE ts_ns >= 0 GROUP BY 2, 3, 4;
INSERT INTO open_path_buckets SELECT 20000000000, ts_ns - ts_ns % 20000000000, node, coalesce(path, ''), count(*), sum(CASE WHEN ret < 0 THEN 1 ELSE 0 END) FROM open_events WHERE ts_ns >= 0 GROUP BY 2, 3, 4;
INSERT INTO open_path_buckets SELECT 60000000000, ts_ns - ts_ns % 60000000000, node, coalesce(path, ''), count(*), sum(CASE WHEN ret < 0 THEN 1 ELSE 0 END) FROM open_events WHERE ts_ns >= 0 GROUP BY 2, 3, 4;
INSERT INTO open_path_buckets SELECT 600000000000, ts_ns - ts_ns % 600000000000, node, coalesce(path, ''), count(*), sum(CASE WHEN ret < 0 THEN 1 ELSE 0 END) FROM open_events WHERE ts_ns >= 0 GROUP BY 2, 3, 4;
CREATE TABLE IF NOT EXISTS open_proc_path_buckets (width_ns BIGINT NOT NULL, bucket_ns BIGINT NOT NULL, node TEXT NOT NULL, pid BIGINT NOT NULL, comm TEXT NOT NULL, path TEXT NOT NULL, opens BIGINT NOT NULL, errors BIGINT NOT NULL, PRIMARY KEY (width_ns, pid, bucket_ns, node, comm, path));
CREATE INDEX IF NOT EXISTS open_proc_path_buckets_comm ON open_proc_path_buckets (width_ns, comm, bucket_ns);
INSERT INTO open_proc_path_buckets SELECT 5000000000, ts_ns - ts_ns % 5000000000, node, coalesce(pid, 0), coalesce(comm, ''), coalesce(path, ''), count(*), sum(CASE WHEN ret < 0 THEN 1 ELSE 0 END) FROM open_events WHERE ts_ns >= 0 GROUP BY 2, 3, 4, 5, 6;
INSERT INTO open_proc_path_buckets SELECT 60000000000, ts_ns - ts_ns % 60000000000, node, coalesce(pid, 0), coalesce(comm, ''), coalesce(path, ''), count(*), sum(CASE WHEN ret < 0 THEN 1 ELSE 0 END) FROM open_events WHERE ts_ns >= 0 GROUP BY 2, 3, 4, 5, 6;
INSERT INTO open_proc_path_buckets SELECT 600000000000, ts_ns - ts_ns % 600000000000, node, coalesce(pid, 0), coalesce(comm, ''), coalesce(path, ''), count(*), sum(CASE WHEN ret < 0 THEN 1 ELSE 0 END) FROM open_events WHERE ts_ns >= 0 GROUP BY 2, 3, 4, 5, 6;
)sql";

std::vector<KernelMinute> kernel_minutes(const event::Batch& batch) {
  static const event::FamilySchema& cuda = *event::schema_for("cuda");
  static const int op = cuda.column_index("op");
  static const int kernel = cuda.column_index("kernel");
  static const int duration = cuda.column_index("duration_ns");
  std::map<std::tuple<int64_t, int64_t, std::string_view>, KernelMinute> agg;
  for (const auto& e : batch.events) {
    if (e.family != cuda.id) continue;
    // A launch counts; a kernel's run on the GPU (CUPTI) adds its time.
    const auto* o = std::get_if<std::string>(&e.values[op]);
    if (!o || (*o != "launch" && *o != "gpu_kernel")) continue;
    const auto* k = std::get_if<std::string>(&e.values[kernel]);
    int64_t minute = e.ts_ns - ((e.ts_ns % kMinuteNs) + kMinuteNs) % kMinuteNs;
    std::string_view name = k ? std::string_view(*k) : std::string_view();
    auto [it, fresh] = agg.try_emplace({minute, e.pid, name});
    auto& m = it->second;
    if (fresh) {
      m.minute_ns = minute;
      m.pid = e.pid;
      m.kernel = std::string(name);
    }
    if (*o == "launch") ++m.launches;
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
  std::string sql = "DELETE FROM scope_batches WHERE ingested_ns < " + std::to_string(cutoff_ns) +
                    "; DELETE FROM " + std::string(kKernelMinutesTable) + " WHERE minute_ns < " +
                    std::to_string(cutoff_ns - cutoff_ns % kMinuteNs);
  for (const SlotRollup* r : slot_rollups())
    sql += "; DELETE FROM " + std::string(r->table) + " WHERE slot_ns < " +
           std::to_string(cutoff_ns - cutoff_ns % kSlotNs);
  for (const OpenRollup* r : open_rollups())
    for (int64_t width : r->widths)
      sql += "; DELETE FROM " + std::string(r->table) +
             " WHERE width_ns = " + std::to_string(width) + " AND bucket_ns < " +
             std::to_string(cutoff_ns - cutoff_ns % width);
  return sql + "; DELETE FROM llama_requests WHERE first_token_ns < " + std::to_string(cutoff_ns) +
         "; DELETE FROM llama_ttft_minutes WHERE minute_ns < " +
         std::to_string(cutoff_ns - cutoff_ns % kMinuteNs);
}

const OpenRollup& open_comm_rollup() {
  static const OpenRollup r{
      "open_comm_buckets", {"pid", "comm"}, {kSlotNs, 20'000'000'000, kMinuteNs, 10 * kMinuteNs}};
  return r;
}
const OpenRollup& open_path_rollup() {
  static const OpenRollup r{
      "open_path_buckets", {"path"}, {kSlotNs, 20'000'000'000, kMinuteNs, 10 * kMinuteNs}};
  return r;
}
const OpenRollup& open_proc_path_rollup() {
  static const OpenRollup r{
      "open_proc_path_buckets", {"pid", "comm", "path"}, {kSlotNs, kMinuteNs, 10 * kMinuteNs}};
  return r;
}
const std::vector<const OpenRollup*>& open_rollups() {
  static const std::vector<const OpenRollup*> all = {&open_comm_rollup(), &open_path_rollup(),
                                                     &open_proc_path_rollup()};
  return all;
}

std::vector<OpenRow> open_rows(const OpenRollup& r, const event::Batch& batch,
                               std::string (*text)(std::string_view)) {
  static const event::FamilySchema& open = *event::schema_for("open");
  static const auto path = static_cast<size_t>(open.column_index("path"));
  static const auto ret = static_cast<size_t>(open.column_index("ret"));
  bool with_pid = false, with_comm = false, with_path = false;
  for (const char* k : r.keys) {
    std::string_view key(k);
    with_pid = with_pid || key == "pid";
    with_comm = with_comm || key == "comm";
    with_path = with_path || key == "path";
  }
  auto as_text = [&](std::string_view s) { return text ? text(s) : std::string(s); };
  // (width, bucket, pid, comm, path) -> (opens, errors); keys not in `r` are 0 and "".
  std::map<std::tuple<int64_t, int64_t, int64_t, std::string, std::string>,
           std::pair<int64_t, int64_t>>
      agg;
  for (const auto& e : batch.events) {
    // Negative timestamps are in no window (from >= 0): the raw rows keep them, no bucket does.
    if (e.family != open.id || e.ts_ns < 0) continue;
    const auto* p = std::get_if<std::string>(&e.values[path]);
    const auto* rc = std::get_if<int64_t>(&e.values[ret]);
    int64_t pid = with_pid ? e.pid : 0;
    std::string comm = with_comm ? as_text(e.comm) : std::string();
    std::string file = with_path && p ? as_text(*p) : std::string();
    for (int64_t width : r.widths) {
      auto& [opens, errors] = agg[{width, e.ts_ns - e.ts_ns % width, pid, comm, file}];
      ++opens;
      if (rc && *rc < 0) ++errors;
    }
  }
  std::vector<OpenRow> out;
  out.reserve(agg.size());
  for (const auto& [key, counts] : agg) {
    OpenRow row;
    row.width_ns = std::get<0>(key);
    row.bucket_ns = std::get<1>(key);
    for (const char* k : r.keys) {
      std::string_view name(k);
      if (name == "pid")
        row.keys.emplace_back(std::get<2>(key));
      else
        row.keys.emplace_back(name == "comm" ? std::get<3>(key) : std::get<4>(key));
    }
    row.opens = counts.first;
    row.errors = counts.second;
    out.push_back(std::move(row));
  }
  return out;
}

std::string open_upsert_arrays(const OpenRollup& r) {
  std::string t = r.table;
  std::string columns = "width_ns, bucket_ns, node";
  std::string arrays = "$1::bigint[], $2::bigint[], $3::text[]";
  int n = 3;
  for (const char* k : r.keys) {
    columns += std::string(", ") + k;
    arrays +=
        ", $" + std::to_string(++n) + (std::string_view(k) == "pid" ? "::bigint[]" : "::text[]");
  }
  std::string conflict = columns;
  columns += ", opens, errors";
  arrays += ", $" + std::to_string(n + 1) + "::bigint[], $" + std::to_string(n + 2) + "::bigint[]";
  return "INSERT INTO " + t + " (" + columns + ") SELECT * FROM unnest(" + arrays +
         ") ON CONFLICT (" + conflict + ") DO UPDATE SET opens = " + t +
         ".opens + excluded.opens, errors = " + t + ".errors + excluded.errors";
}

std::string open_array(const std::vector<event::Value>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    if (const auto* n = std::get_if<int64_t>(&values[i])) {
      out += std::to_string(*n);
      continue;
    }
    out += '"';
    for (char c : std::get<std::string>(values[i])) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::string open_upsert(const OpenRollup& r, size_t rows, bool dollar) {
  const size_t width = 5 + r.keys.size();
  std::string t = r.table;
  std::string sql = "INSERT INTO " + t + " (width_ns, bucket_ns, node";
  std::string conflict = "width_ns, bucket_ns, node";
  for (const char* k : r.keys) {
    sql += std::string(", ") + k;
    conflict += std::string(", ") + k;
  }
  sql += ", opens, errors) VALUES ";
  for (size_t row = 0; row < rows; ++row) {
    sql += row ? ", (" : "(";
    for (size_t c = 0; c < width; ++c)
      sql +=
          (c ? ", " : "") + std::string(dollar ? "$" : "?") + std::to_string(row * width + c + 1);
    sql += ")";
  }
  return sql + " ON CONFLICT (" + conflict + ") DO UPDATE SET opens = " + t +
         ".opens + excluded.opens, errors = " + t + ".errors + excluded.errors";
}

int64_t stall_bucket(int64_t duration_ns) {
  int64_t b = 0;
  while (b < kStallBuckets - 1 && duration_ns >= kStallBounds[b]) ++b;
  return b;
}

namespace {

using event::EventRow;
using event::int_or;
using event::Value;

// Column `name` of `family`, by index (looked up once per call site).
struct Column {
  Column(const char* family, const char* name)
      : index(static_cast<size_t>(event::schema_for(family)->column_index(name))) {}
  const Value& operator()(const EventRow& e) const { return e.values[index]; }
  size_t index;
};

bool is_text(const Value& v, std::string_view s) {
  const auto* t = std::get_if<std::string>(&v);
  return t && *t == s;
}
// coalesce(column, `otherwise`) for a text column.
Value text_or(const Value& v, const char* otherwise) {
  return std::holds_alternative<std::string>(v) ? v : Value(std::string(otherwise));
}

}  // namespace

const SlotRollup& launch_slots() {
  static const Column op("cuda", "op"), kernel("cuda", "kernel"), duration("cuda", "duration_ns");
  static const SlotRollup r{
      "cuda_launch_slots",
      "cuda",
      {"kernel"},
      {{"launches", Agg::kSum}, {"total_ns", Agg::kSum}},
      // Launches count; kernels' runs on the GPU (CUPTI) add their time.
      [](const EventRow& e) { return is_text(op(e), "launch") || is_text(op(e), "gpu_kernel"); },
      [](const EventRow& e) { return std::vector<Value>{text_or(kernel(e), "")}; },
      [](const EventRow& e) {
        return std::vector<Value>{Value(int64_t{is_text(op(e), "launch") ? 1 : 0}), duration(e)};
      }};
  return r;
}

const SlotRollup& copy_slots() {
  static const Column op("cuda", "op"), kind("cuda", "kind"), bytes("cuda", "bytes"),
      duration("cuda", "duration_ns");
  static const SlotRollup r{
      "cuda_copy_slots",
      "cuda",
      {"kind"},
      {{"copies", Agg::kCount}, {"bytes", Agg::kSum}, {"duration_ns", Agg::kSum}},
      [](const EventRow& e) { return is_text(op(e), "memcpy"); },
      [](const EventRow& e) { return std::vector<Value>{text_or(kind(e), "default")}; },
      [](const EventRow& e) {
        return std::vector<Value>{Value(), bytes(e), duration(e)};
      }};
  return r;
}

const SlotRollup& sync_slots() {
  static const Column op("cuda", "op"), duration("cuda", "duration_ns");
  static const SlotRollup r{
      "cuda_sync_slots",
      "cuda",
      {"bucket"},
      {{"syncs", Agg::kCount}, {"total_ns", Agg::kSum}, {"max_ns", Agg::kMax}},
      [](const EventRow& e) {
        return is_text(op(e), "sync") && std::holds_alternative<int64_t>(duration(e));
      },
      [](const EventRow& e) {
        return std::vector<Value>{stall_bucket(std::get<int64_t>(duration(e)))};
      },
      [](const EventRow& e) {
        return std::vector<Value>{Value(), duration(e), duration(e)};
      }};
  return r;
}

const SlotRollup& syscall_slots() {
  static const Column name("syscalls", "name"), count("syscalls", "count"),
      errors("syscalls", "errors"), total("syscalls", "total_ns");
  static const SlotRollup r{
      "syscall_slots",
      "syscalls",
      {"name"},
      {{"count", Agg::kSum}, {"errors", Agg::kSum}, {"total_ns", Agg::kSum}},
      [](const EventRow&) { return true; },
      [](const EventRow& e) { return std::vector<Value>{text_or(name(e), "")}; },
      [](const EventRow& e) {
        return std::vector<Value>{count(e), errors(e), total(e)};
      }};
  return r;
}

const SlotRollup& sched_slots() {
  static const Column switches("sched", "switches"), voluntary("sched", "voluntary"),
      involuntary("sched", "involuntary"), offcpu("sched", "offcpu_ns"), runq("sched", "runq_ns");
  static const SlotRollup r{
      "sched_slots",
      "sched",
      {},
      {{"switches", Agg::kSum},
       {"voluntary", Agg::kSum},
       {"involuntary", Agg::kSum},
       {"offcpu_ns", Agg::kSum},
       {"runq_ns", Agg::kSum}},
      [](const EventRow&) { return true; },
      [](const EventRow&) { return std::vector<Value>{}; },
      [](const EventRow& e) {
        return std::vector<Value>{switches(e), voluntary(e), involuntary(e), offcpu(e), runq(e)};
      }};
  return r;
}

const SlotRollup& token_slots() {
  static const Column op("llama", "op"), phase("llama", "phase"), tokens("llama", "tokens"),
      duration("llama", "duration_ns");
  static const SlotRollup r{"llama_token_slots",
                            "llama",
                            {"phase"},
                            {{"tokens", Agg::kSum}, {"duration_ns", Agg::kSum}},
                            [](const EventRow& e) {
                              return is_text(op(e), "decode") && (is_text(phase(e), "prompt") ||
                                                                  is_text(phase(e), "generation"));
                            },
                            [](const EventRow& e) { return std::vector<Value>{phase(e)}; },
                            [](const EventRow& e) {
                              return std::vector<Value>{tokens(e), duration(e)};
                            }};
  return r;
}

int64_t decode_bucket(int64_t duration_ns) {
  if (duration_ns < 128) return duration_ns;
  // e: the leading bit's position (>= 7); the next 6 bits pick the 64th of [2^e, 2^(e+1)).
  int64_t e = 63 - std::countl_zero(static_cast<uint64_t>(duration_ns));
  return 128 + (e - 7) * 64 + ((duration_ns >> (e - 6)) & 63);
}

int64_t decode_bucket_value(int64_t bucket) {
  if (bucket < 128) return bucket;
  int64_t e = 7 + (bucket - 128) / 64, m = (bucket - 128) % 64;
  int64_t width = int64_t{1} << (e - 6);
  return (64 + m) * width + width / 2;
}

std::string decode_bucket_sql(std::string_view d) {
  const std::string x(d);
  std::string sql = "CASE WHEN " + x + " < 128 THEN " + x;
  for (int e = 7; e <= 62; ++e) {
    std::string v = "(" + std::to_string(128 + (e - 7) * 64) + " + ((" + x + " >> " +
                    std::to_string(e - 6) + ") & 63))";
    sql += e < 62 ? " WHEN " + x + " < " + std::to_string(int64_t{1} << (e + 1)) + " THEN " + v
                  : " ELSE " + v;
  }
  return sql + " END";
}

const std::string& decode_rollups_migration() {
  static const std::string sql =
      "\nCREATE TABLE IF NOT EXISTS llama_decode_slots (slot_ns BIGINT NOT NULL, node TEXT NOT "
      "NULL, pid BIGINT NOT NULL, comm TEXT NOT NULL, bucket BIGINT NOT NULL, decodes BIGINT NOT "
      "NULL, max_ns BIGINT, first_ns BIGINT, last_ns BIGINT);\n"
      "CREATE INDEX IF NOT EXISTS llama_decode_slots_slot ON llama_decode_slots (slot_ns);\n"
      "INSERT INTO llama_decode_slots SELECT ts_ns - ts_ns % 5000000000, node, pid, coalesce(comm, "
      "''), " +
      decode_bucket_sql("coalesce(duration_ns, 0)") +
      ", count(*), max(coalesce(duration_ns, 0)), min(ts_ns), max(ts_ns + coalesce(duration_ns, "
      "0)) FROM llama_events WHERE op = 'decode' AND ts_ns >= 0 GROUP BY 1, 2, 3, 4, 5;\n"
      "CREATE TABLE IF NOT EXISTS llama_decode_run_slots (slot_ns BIGINT NOT NULL, node TEXT NOT "
      "NULL, pid BIGINT NOT NULL, comm TEXT NOT NULL, ctx BIGINT NOT NULL, phase TEXT NOT NULL, "
      "start_ns BIGINT NOT NULL, start_seq BIGINT NOT NULL, end_ns BIGINT NOT NULL, ender_ns "
      "BIGINT);\n"
      "CREATE INDEX IF NOT EXISTS llama_decode_run_slots_slot ON llama_decode_run_slots "
      "(slot_ns);\n"
      // The runs of a context's prompt or generation decodes of one phase and comm in a slot:
      // `head` marks a run's first decode, `tail` its last, `run` numbers them; `ender` is the
      // start of a generation decode right after a prompt decode of the same comm, `folded` that
      // generation decode (its run is the prompt run's ender_ns, not a row).
      "INSERT INTO llama_decode_run_slots SELECT slot_ns, node, pid, min(comm), ctx, min(phase), "
      "min(ts_ns), max(CASE WHEN head = 1 THEN seq END), max(CASE WHEN tail = 1 THEN end_ns END), "
      "max(ender) FROM (SELECT h.*, sum(head) OVER (PARTITION BY slot_ns, node, pid, ctx ORDER BY "
      "ts_ns, seq ROWS UNBOUNDED PRECEDING) AS run FROM (SELECT d.*, CASE WHEN lag(phase) OVER w = "
      "phase AND lag(comm) OVER w = comm THEN 0 ELSE 1 END AS head, CASE WHEN lead(phase) OVER w "
      "= phase AND lead(comm) OVER w = comm THEN 0 ELSE 1 END AS tail, CASE WHEN phase = 'prompt' "
      "AND lead(phase) OVER w = 'generation' AND lead(comm) OVER w = comm THEN lead(ts_ns) OVER w "
      "END AS ender, CASE WHEN phase = 'generation' AND lag(phase) OVER w = 'prompt' AND lag(comm) "
      "OVER w = comm THEN 1 ELSE 0 END AS folded FROM (SELECT ts_ns - ts_ns % 5000000000 AS "
      "slot_ns, node, pid, coalesce(comm, '') AS comm, coalesce(ctx, 0) AS ctx, phase, ts_ns, seq, "
      "ts_ns + coalesce(duration_ns, 0) AS end_ns FROM llama_events WHERE op = 'decode' AND phase "
      "IN ('prompt', 'generation') AND ts_ns >= 0) d WINDOW w AS (PARTITION BY slot_ns, node, pid, "
      "ctx ORDER BY ts_ns, seq)) h) r GROUP BY slot_ns, node, pid, ctx, run HAVING max(folded) = "
      "0;\n"
      "CREATE TABLE IF NOT EXISTS ggml_graph_slots (slot_ns BIGINT NOT NULL, node TEXT NOT NULL, "
      "pid BIGINT NOT NULL, comm TEXT NOT NULL, graphs BIGINT NOT NULL, graph_ns BIGINT);\n"
      "CREATE INDEX IF NOT EXISTS ggml_graph_slots_slot ON ggml_graph_slots (slot_ns);\n"
      "INSERT INTO ggml_graph_slots SELECT ts_ns - ts_ns % 5000000000, node, pid, coalesce(comm, "
      "''), count(*), sum(duration_ns) FROM ggml_events WHERE op = 'graph' AND ts_ns >= 0 GROUP BY "
      "1, 2, 3, 4;\n";
  return sql;
}

const SlotRollup& decode_slots() {
  static const Column op("llama", "op"), duration("llama", "duration_ns");
  static const SlotRollup r{
      "llama_decode_slots",
      "llama",
      {"bucket"},
      {{"decodes", Agg::kCount},
       {"max_ns", Agg::kMax},
       {"first_ns", Agg::kMin},
       {"last_ns", Agg::kMax}},
      [](const EventRow& e) { return is_text(op(e), "decode"); },
      [](const EventRow& e) { return std::vector<Value>{decode_bucket(int_or(duration(e), 0))}; },
      [](const EventRow& e) {
        int64_t d = int_or(duration(e), 0);
        return std::vector<Value>{Value(), d, e.ts_ns, e.ts_ns + d};
      }};
  return r;
}

namespace {

// The requests (see rollup.h) of the decodes `where` selects: a generation decode right after a
// prompt decode of its context ends the run of prompt decodes since the generation decode before.
// `run` numbers a context's generation decodes before each decode, so a prompt run and the
// generation decode ending it share it.
std::string requests_insert(const std::string& where) {
  return "INSERT INTO llama_requests (node, pid, ctx, comm, start_ns, first_token_ns, "
         "first_token_seq, ttft_ns) SELECT node, pid, ctx, comm, start_ns, ts_ns, seq, prev_end - "
         "start_ns FROM (SELECT r.*, min(CASE WHEN phase = 'prompt' THEN ts_ns END) OVER "
         "(PARTITION BY node, pid, ctx, run) AS start_ns FROM (SELECT node, pid, coalesce(ctx, 0) "
         "AS ctx, coalesce(comm, '') AS comm, phase, ts_ns, seq, lag(phase) OVER w AS prev_phase, "
         "lag(ts_ns + coalesce(duration_ns, 0)) OVER w AS prev_end, coalesce(sum(CASE WHEN phase "
         "= 'generation' THEN 1 ELSE 0 END) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 "
         "PRECEDING), 0) AS run FROM llama_events WHERE op = 'decode' AND phase IN ('prompt', "
         "'generation') AND pid IS NOT NULL AND " +
         where +
         " WINDOW w AS (PARTITION BY node, pid, coalesce(ctx, 0) ORDER BY ts_ns, seq)) r) s WHERE "
         "phase = 'generation' AND prev_phase = 'prompt'";
}

// llama_ttft_minutes' rows of the requests `where` selects.
std::string ttft_minutes_insert(const std::string& where) {
  return "INSERT INTO llama_ttft_minutes (minute_ns, node, pid, comm, bucket, requests, min_ns, "
         "max_ns) SELECT first_token_ns - first_token_ns % 60000000000, node, pid, comm, " +
         decode_bucket_sql("ttft_ns") +
         ", count(*), min(ttft_ns), max(ttft_ns) FROM llama_requests WHERE " + where +
         " GROUP BY 1, 2, 3, 4, 5";
}

}  // namespace

std::vector<RequestContext> request_contexts(const event::Batch& batch) {
  static const Column op("llama", "op"), phase("llama", "phase"), ctx("llama", "ctx");
  static const auto family = event::schema_for("llama")->id;
  std::map<std::pair<int64_t, int64_t>, RequestContext> first;
  for (size_t i = 0; i < batch.events.size(); ++i) {
    const auto& e = batch.events[i];
    if (e.family != family || e.ts_ns < 0 || !is_text(op(e), "decode") ||
        !(is_text(phase(e), "prompt") || is_text(phase(e), "generation")))
      continue;
    RequestContext c{e.pid, int_or(ctx(e), 0), e.ts_ns, static_cast<int64_t>(batch.first_seq + i)};
    auto [it, fresh] = first.try_emplace({c.pid, c.ctx}, c);
    if (!fresh && std::tie(c.ts_ns, c.seq) < std::tie(it->second.ts_ns, it->second.seq))
      it->second = c;
  }
  std::vector<RequestContext> out;
  out.reserve(first.size());
  for (const auto& [key, c] : first) out.push_back(c);
  return out;
}

std::vector<std::string> request_update(bool dollar) {
  auto p = [dollar](int n) { return std::string(dollar ? "$" : "?") + std::to_string(n); };
  const std::string context = "node = " + p(1) + " AND pid = " + p(2);
  // (ts, seq) after (or before) (at, at_seq), spelled out: SQLite bounds an index range by the
  // first column's comparison, not by a row value's (which scans the context from its start).
  auto after = [](const std::string& ts, const std::string& seq, const std::string& at,
                  const std::string& at_seq, const char* op) {
    return ts + " " + op + "= " + at + " AND (" + ts + " " + op + " " + at + " OR " + seq + " " +
           op + " " + at_seq + ")";
  };
  // The context's last generation decode before the batch's earliest decode: the requests after
  // it are the ones the batch can change. (0, -1) where there is none: all of them (negative
  // timestamps are in no window).
  auto anchor = [&](const char* col, const char* none) {
    return "coalesce((SELECT " + std::string(col) + " FROM llama_events WHERE " + context +
           " AND coalesce(ctx, 0) = " + p(3) + " AND op = 'decode' AND phase = 'generation' AND " +
           after("ts_ns", "seq", p(4), p(5), "<") + " ORDER BY ts_ns DESC, seq DESC LIMIT 1), " +
           none + ")";
  };
  const std::string at = anchor("ts_ns", "0"), at_seq = anchor("seq", "-1");
  // The process's minutes of requests from the anchor's on, recounted.
  const std::string minute = "(" + at + " - " + at + " % 60000000000)";
  return {"DELETE FROM llama_requests WHERE " + context + " AND ctx = " + p(3) + " AND " +
              after("first_token_ns", "first_token_seq", at, at_seq, ">"),
          requests_insert(context + " AND coalesce(ctx, 0) = " + p(3) + " AND " +
                          after("ts_ns", "seq", at, at_seq, ">")),
          "DELETE FROM llama_ttft_minutes WHERE " + context + " AND minute_ns >= " + minute,
          ttft_minutes_insert(context + " AND first_token_ns >= " + minute)};
}

const std::string& requests_migration() {
  static const std::string sql =
      "\nCREATE TABLE IF NOT EXISTS llama_requests (node TEXT NOT NULL, pid BIGINT NOT NULL, ctx "
      "BIGINT NOT NULL, comm TEXT NOT NULL, start_ns BIGINT NOT NULL, first_token_ns BIGINT NOT "
      "NULL, first_token_seq BIGINT NOT NULL, ttft_ns BIGINT NOT NULL);\n"
      "CREATE INDEX IF NOT EXISTS llama_requests_ctx ON llama_requests (node, pid, ctx, "
      "first_token_ns, first_token_seq);\n"
      "CREATE INDEX IF NOT EXISTS llama_requests_pid ON llama_requests (node, pid, "
      "first_token_ns);\n"
      "CREATE INDEX IF NOT EXISTS llama_requests_ts ON llama_requests (first_token_ns);\n"
      "CREATE TABLE IF NOT EXISTS llama_ttft_minutes (minute_ns BIGINT NOT NULL, node TEXT NOT "
      "NULL, pid BIGINT NOT NULL, comm TEXT NOT NULL, bucket BIGINT NOT NULL, requests BIGINT NOT "
      "NULL, min_ns BIGINT NOT NULL, max_ns BIGINT NOT NULL);\n"
      "CREATE INDEX IF NOT EXISTS llama_ttft_minutes_pid ON llama_ttft_minutes (node, pid, "
      "minute_ns);\n"
      "CREATE INDEX IF NOT EXISTS llama_ttft_minutes_minute ON llama_ttft_minutes (minute_ns);\n"
      "CREATE INDEX IF NOT EXISTS llama_events_decodes ON llama_events (node, pid, (coalesce(ctx, "
      "0)), ts_ns, seq) WHERE op = 'decode';\n"
      "DROP TABLE IF EXISTS llama_decode_run_slots;\n" +
      requests_insert("ts_ns >= 0") + ";\n" + ttft_minutes_insert("1 = 1") + ";\n";
  return sql;
}

const SlotRollup& graph_slots() {
  static const Column op("ggml", "op"), duration("ggml", "duration_ns");
  static const SlotRollup r{"ggml_graph_slots",
                            "ggml",
                            {},
                            {{"graphs", Agg::kCount}, {"graph_ns", Agg::kSum}},
                            [](const EventRow& e) { return is_text(op(e), "graph"); },
                            [](const EventRow&) { return std::vector<Value>{}; },
                            [](const EventRow& e) {
                              return std::vector<Value>{Value(), duration(e)};
                            }};
  return r;
}

const std::vector<const SlotRollup*>& slot_rollups() {
  static const std::vector<const SlotRollup*> all = {
      &launch_slots(), &copy_slots(),  &sync_slots(),   &syscall_slots(),
      &sched_slots(),  &token_slots(), &decode_slots(), &graph_slots()};
  return all;
}

std::vector<SlotRow> slot_rows(const SlotRollup& r, const event::Batch& batch) {
  if (r.rows) return r.rows(batch);
  const auto family = event::schema_for(r.family)->id;
  std::map<std::tuple<int64_t, int64_t, std::string_view, std::vector<Value>>, SlotRow> agg;
  for (const auto& e : batch.events) {
    // Negative timestamps are in no window (from >= 0): the raw rows keep them, no slot does.
    if (e.family != family || e.ts_ns < 0 || !r.keep(e)) continue;
    int64_t slot = e.ts_ns - e.ts_ns % kSlotNs;
    auto [it, fresh] = agg.try_emplace({slot, e.pid, std::string_view(e.comm), r.key(e)});
    SlotRow& row = it->second;
    if (fresh) {
      row.slot_ns = slot;
      row.pid = e.pid;
      row.comm = e.comm;
      row.keys = std::get<3>(it->first);
      row.values.assign(r.values.size(), Value());
    }
    std::vector<Value> v = r.value(e);
    for (size_t i = 0; i < r.values.size(); ++i) {
      Value& acc = row.values[i];
      if (r.values[i].second == Agg::kCount) {
        acc = (std::holds_alternative<int64_t>(acc) ? std::get<int64_t>(acc) : 0) + 1;
        continue;
      }
      const auto* x = std::get_if<int64_t>(&v[i]);
      if (!x) continue;  // NULL: as SQL's sum and max, ignored
      const auto* a = std::get_if<int64_t>(&acc);
      if (!a)
        acc = *x;
      else if (r.values[i].second == Agg::kSum)
        acc = *a + *x;
      else if (r.values[i].second == Agg::kMax)
        acc = std::max(*a, *x);
      else
        acc = std::min(*a, *x);
    }
  }
  std::vector<SlotRow> out;
  out.reserve(agg.size());
  for (auto& [key, row] : agg) out.push_back(std::move(row));
  return out;
}

std::string slot_insert(const SlotRollup& r, size_t rows, bool dollar) {
  const size_t width = 4 + r.keys.size() + r.values.size();
  std::string sql = "INSERT INTO " + std::string(r.table) + " (slot_ns, node, pid, comm";
  for (const char* k : r.keys) sql += std::string(", ") + k;
  for (const auto& v : r.values) sql += std::string(", ") + v.first;
  sql += ") VALUES ";
  for (size_t row = 0; row < rows; ++row) {
    sql += row ? ", (" : "(";
    for (size_t c = 0; c < width; ++c)
      sql +=
          (c ? ", " : "") + std::string(dollar ? "$" : "?") + std::to_string(row * width + c + 1);
    sql += ")";
  }
  return sql;
}

// ---- memory ------------------------------------------------------------------------------

const MemoryRollup& cuda_memory() {
  static const MemoryRollup m{"cuda_mem_events", "cuda_mem_slots", "cuda_mem_procs", "cuda",
                              "cuda_events",     "'alloc'",        "'free'",         {"alloc"},
                              {"free"}};
  return m;
}

const MemoryRollup& ggml_memory() {
  static const MemoryRollup m{
      "ggml_mem_events",    "ggml_mem_slots",        "ggml_mem_procs",      "ggml",
      "ggml_events",        "'alloc', 'cuda_alloc'", "'free', 'cuda_free'", {"alloc", "cuda_alloc"},
      {"free", "cuda_free"}};
  return m;
}

const std::vector<const MemoryRollup*>& memory_rollups() {
  static const std::vector<const MemoryRollup*> all = {&cuda_memory(), &ggml_memory()};
  return all;
}

std::vector<MemoryRow> memory_rows(const MemoryRollup& m, const event::Batch& batch) {
  const auto& schema = *event::schema_for(m.family);
  const auto op = schema.column("op");
  const auto ptr = schema.column("ptr");
  const auto bytes = schema.column("bytes");
  const auto ret = schema.column("ret");
  std::vector<MemoryRow> out;
  for (size_t i = 0; i < batch.events.size(); ++i) {
    const auto& e = batch.events[i];
    if (e.family != schema.id || e.ts_ns < 0) continue;
    const auto* o = std::get_if<std::string>(&e.values[op]);
    if (!o) continue;
    bool alloc = std::find(m.allocs.begin(), m.allocs.end(), *o) != m.allocs.end();
    if (!alloc && std::find(m.frees.begin(), m.frees.end(), *o) == m.frees.end()) continue;
    const auto* p = std::get_if<int64_t>(&e.values[ptr]);
    const auto* r = std::get_if<int64_t>(&e.values[ret]);
    if (!p || *p == 0 || (r && *r != 0)) continue;
    const auto* b = std::get_if<int64_t>(&e.values[bytes]);
    out.push_back({e.pid, static_cast<int64_t>(batch.first_seq + i), e.ts_ns, *p, alloc ? 1 : 0,
                   alloc && b ? *b : 0, e.comm});
  }
  return out;
}

std::string memory_insert(const MemoryRollup& m, size_t rows, bool dollar) {
  constexpr size_t kWidth = 8;
  std::string sql = "INSERT INTO " + std::string(m.table) +
                    " (node, pid, seq, ts_ns, ptr, is_alloc, bytes, comm) VALUES ";
  for (size_t row = 0; row < rows; ++row) {
    sql += row ? ", (" : "(";
    for (size_t c = 0; c < kWidth; ++c)
      sql +=
          (c ? ", " : "") + std::string(dollar ? "$" : "?") + std::to_string(row * kWidth + c + 1);
    sql += ")";
  }
  return sql;
}

namespace {

std::string substitute(std::string s, const MemoryRollup& m, bool dollar) {
  const std::pair<std::string, std::string> subs[] = {{"{M}", m.table},
                                                      {"{S}", m.slots},
                                                      {"{PROCS}", m.procs},
                                                      {"{EVENTS}", m.events},
                                                      {"{ALLOCS}", m.alloc_ops},
                                                      {"{FREES}", m.free_ops},
                                                      {"{P1}", dollar ? "$1" : "?1"},
                                                      {"{P2}", dollar ? "$2" : "?2"},
                                                      {"{P3}", dollar ? "$3" : "?3"}};
  for (const auto& [from, to] : subs)
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
      s.replace(at, from.size(), to);
  return s;
}

// The next row on the same pointer after the updated row of {M}: its `col`.
std::string successor(const char* col) {
  return std::string("(SELECT n.") + col +
         " FROM {M} n WHERE n.node = {M}.node AND n.pid = {M}.pid AND n.ptr = {M}.ptr AND "
         "(n.ts_ns, n.seq) > ({M}.ts_ns, {M}.seq) ORDER BY n.ts_ns, n.seq LIMIT 1)";
}

// Row r's change of the level: its allocation's bytes, less those of the allocation its
// pointer's previous row made (which it frees or replaces); and of the allocations live.
std::string delta() {
  const std::string previous =
      " FROM {M} p WHERE p.node = r.node AND p.pid = r.pid AND p.ptr = r.ptr AND (p.ts_ns, p.seq) "
      "< (r.ts_ns, r.seq) ORDER BY p.ts_ns DESC, p.seq DESC LIMIT 1), 0)";
  return "SELECT r.node, r.pid, r.seq, r.ts_ns, r.is_alloc * r.bytes - coalesce((SELECT "
         "p.is_alloc * p.bytes" +
         previous + " AS delta, r.is_alloc - coalesce((SELECT p.is_alloc" + previous +
         " AS cdelta FROM {M} r";
}

constexpr const char* kSlotsInsert =
    "INSERT INTO {S} (node, pid, slot_ns, max_level, last_level) SELECT node, pid, slot_ns, "
    "max(level), max(last_level) FROM (SELECT node, pid, ts_ns - ts_ns % 5000000000 AS slot_ns, "
    "level, first_value(level) OVER (PARTITION BY node, pid, ts_ns - ts_ns % 5000000000 ORDER BY "
    "ts_ns DESC, seq DESC) AS last_level FROM {M}";

// Everything derived, recomputed from the rows.
std::string memory_rebuild(const MemoryRollup& m) {
  std::string sql = "UPDATE {M} SET end_ns = " + successor("ts_ns") +
                    ", end_seq = " + successor("seq") + " WHERE is_alloc = 1;\n";
  sql +=
      "UPDATE {M} SET level = x.level, live = x.live FROM (SELECT node, pid, seq, ts_ns, "
      "sum(delta) OVER (PARTITION BY node, pid ORDER BY ts_ns, seq ROWS UNBOUNDED PRECEDING) AS "
      "level, sum(cdelta) OVER (PARTITION BY node, pid ORDER BY ts_ns, seq ROWS UNBOUNDED "
      "PRECEDING) AS live FROM (" +
      delta() +
      ") d) x WHERE {M}.node = x.node AND {M}.pid = x.pid AND {M}.ts_ns = x.ts_ns AND {M}.seq = "
      "x.seq;\n";
  sql += "DELETE FROM {PROCS};\n";
  sql +=
      "INSERT INTO {PROCS} (node, pid, first_ns) SELECT node, pid, min(ts_ns) FROM {M} GROUP "
      "BY node, pid;\n";
  sql += "DELETE FROM {S};\n";
  sql += std::string(kSlotsInsert) + ") s GROUP BY node, pid, slot_ns;\n";
  return substitute(sql, m, false);
}

}  // namespace

std::vector<MemoryStep> memory_update(const MemoryRollup& m, bool dollar) {
  std::vector<MemoryStep> steps;
  // The allocations on the batch's pointers whose next row may have changed.
  steps.push_back({"UPDATE {M} SET end_ns = " + successor("ts_ns") +
                       ", end_seq = " + successor("seq") +
                       " WHERE node = {P1} AND pid = {P2} AND is_alloc = 1 AND ptr IN (SELECT ptr "
                       "FROM {M} WHERE node = {P1} AND pid = {P2} AND ts_ns >= {P3}) AND (ts_ns >= "
                       "{P3} OR end_ns IS NULL OR end_ns >= {P3})",
                   false});
  steps.push_back(
      {"INSERT INTO {PROCS} (node, pid, first_ns) VALUES ({P1}, {P2}, {P3}) ON "
       "CONFLICT (node, pid) DO UPDATE SET first_ns = CASE WHEN excluded.first_ns < "
       "{PROCS}.first_ns THEN excluded.first_ns ELSE {PROCS}.first_ns END",
       false});
  // The levels from the batch's first row on: those before it, plus the changes.
  auto before = [](const char* col) {
    return std::string("coalesce((SELECT ") + col +
           " FROM {M} WHERE node = {P1} AND pid = {P2} AND ts_ns < {P3} ORDER BY ts_ns DESC, seq "
           "DESC LIMIT 1), 0)";
  };
  const std::string levels =
      "SELECT seq, ts_ns, " + before("level") +
      " + sum(delta) OVER (ORDER BY ts_ns, seq ROWS UNBOUNDED PRECEDING) AS level, " +
      before("live") +
      " + sum(cdelta) OVER (ORDER BY ts_ns, seq ROWS UNBOUNDED PRECEDING) AS live FROM (" +
      delta() + " WHERE r.node = {P1} AND r.pid = {P2} AND r.ts_ns >= {P3}) d";
  const std::string set =
      " SET level = x.level, live = x.live FROM x WHERE {M}.node = {P1} AND {M}.pid = {P2} AND "
      "{M}.ts_ns = x.ts_ns AND {M}.seq = x.seq";
  // PostgreSQL put the levels' subquery on the inner side of a nested loop and computed it again
  // for every row of the process (its window and two lookups a row each time: ~200 ms for 80
  // rows, quadratic in a batch's rows per process); a materialized CTE is computed once.
  steps.push_back({dollar ? "WITH x AS MATERIALIZED (" + levels + ") UPDATE {M}" + set
                          : "UPDATE {M} SET level = x.level, live = x.live FROM (" + levels +
                                ") x WHERE {M}.node = {P1} AND {M}.pid = {P2} AND {M}.ts_ns = "
                                "x.ts_ns AND {M}.seq = x.seq",
                   false});
  steps.push_back({"DELETE FROM {S} WHERE node = {P1} AND pid = {P2} AND slot_ns >= {P3}", true});
  steps.push_back({std::string(kSlotsInsert) +
                       " WHERE node = {P1} AND pid = {P2} AND ts_ns >= {P3}) s GROUP BY node, "
                       "pid, slot_ns",
                   true});
  for (auto& s : steps) s.sql = substitute(s.sql, m, dollar);
  return steps;
}

const std::string& memory_migration() {
  static const std::string sql = [] {
    std::string out;
    for (const MemoryRollup* m : memory_rollups()) {
      out += substitute(R"sql(
CREATE TABLE IF NOT EXISTS {M} (node TEXT NOT NULL, pid BIGINT NOT NULL, seq BIGINT NOT NULL, ts_ns BIGINT NOT NULL, ptr BIGINT NOT NULL, is_alloc BIGINT NOT NULL, bytes BIGINT NOT NULL, comm TEXT, level BIGINT, live BIGINT, end_ns BIGINT, end_seq BIGINT);
CREATE INDEX IF NOT EXISTS {M}_ptr ON {M} (node, pid, ptr, ts_ns, seq);
CREATE INDEX IF NOT EXISTS {M}_pid ON {M} (node, pid, ts_ns, seq);
CREATE INDEX IF NOT EXISTS {M}_ts ON {M} (ts_ns);
CREATE INDEX IF NOT EXISTS {M}_end ON {M} (end_ns) WHERE is_alloc = 1;
CREATE INDEX IF NOT EXISTS {M}_live ON {M} (node, pid, bytes DESC, ts_ns, ptr) WHERE is_alloc = 1 AND end_ns IS NULL;
CREATE TABLE IF NOT EXISTS {PROCS} (node TEXT NOT NULL, pid BIGINT NOT NULL, first_ns BIGINT NOT NULL, PRIMARY KEY (node, pid));
CREATE TABLE IF NOT EXISTS {S} (node TEXT NOT NULL, pid BIGINT NOT NULL, slot_ns BIGINT NOT NULL, max_level BIGINT NOT NULL, last_level BIGINT NOT NULL, PRIMARY KEY (node, pid, slot_ns));
CREATE INDEX IF NOT EXISTS {S}_slot ON {S} (slot_ns);
INSERT INTO {M} (node, pid, seq, ts_ns, ptr, is_alloc, bytes, comm) SELECT node, coalesce(pid, 0), seq, ts_ns, ptr, CASE WHEN op IN ({ALLOCS}) THEN 1 ELSE 0 END, CASE WHEN op IN ({ALLOCS}) THEN coalesce(bytes, 0) ELSE 0 END, comm FROM {EVENTS} WHERE (op IN ({ALLOCS}) OR op IN ({FREES})) AND ptr IS NOT NULL AND ptr <> 0 AND coalesce(ret, 0) = 0 AND ts_ns >= 0;
)sql",
                        *m, false) +
             memory_rebuild(*m);
    }
    return out;
  }();
  return sql;
}

std::string memory_retention_sql(const MemoryRollup& m, int64_t cutoff_ns) {
  return "DELETE FROM " + std::string(m.table) + " WHERE ts_ns < " + std::to_string(cutoff_ns) +
         ";\n" + memory_rebuild(m);
}

}  // namespace scope::store
