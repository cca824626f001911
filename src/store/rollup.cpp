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
  std::string sql = "DELETE FROM scope_batches WHERE ingested_ns < " + std::to_string(cutoff_ns) +
                    "; DELETE FROM " + std::string(kKernelMinutesTable) + " WHERE minute_ns < " +
                    std::to_string(cutoff_ns - cutoff_ns % kMinuteNs);
  for (const SlotRollup* r : slot_rollups())
    sql += "; DELETE FROM " + std::string(r->table) + " WHERE slot_ns < " +
           std::to_string(cutoff_ns - cutoff_ns % kSlotNs);
  return sql;
}

int64_t stall_bucket(int64_t duration_ns) {
  int64_t b = 0;
  while (b < kStallBuckets - 1 && duration_ns >= kStallBounds[b]) ++b;
  return b;
}

namespace {

using event::EventRow;
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
int64_t int_or(const Value& v, int64_t otherwise) {
  const auto* n = std::get_if<int64_t>(&v);
  return n ? *n : otherwise;
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
      {{"launches", Agg::kCount}, {"total_ns", Agg::kSum}},
      [](const EventRow& e) { return is_text(op(e), "launch"); },
      [](const EventRow& e) { return std::vector<Value>{text_or(kernel(e), "")}; },
      [](const EventRow& e) {
        return std::vector<Value>{Value(), duration(e)};
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

// The batch's runs of a context's prompt or generation decodes of one phase and comm, per slot,
// in (ts_ns, seq) order (seq: first_seq + the event's index). A generation run right after a
// prompt run of the same comm is that run's ender_ns (its first decode's start), not a row.
std::vector<SlotRow> decode_runs(const event::Batch& batch) {
  static const Column op("llama", "op"), phase("llama", "phase"), ctx("llama", "ctx"),
      duration("llama", "duration_ns");
  static const auto family = event::schema_for("llama")->id;
  // (slot, pid, ctx, ts, index) of each decode that counts.
  std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t, size_t>> decodes;
  for (size_t i = 0; i < batch.events.size(); ++i) {
    const auto& e = batch.events[i];
    if (e.family != family || e.ts_ns < 0 || !is_text(op(e), "decode") ||
        !(is_text(phase(e), "prompt") || is_text(phase(e), "generation")))
      continue;
    decodes.emplace_back(e.ts_ns - e.ts_ns % kSlotNs, e.pid, int_or(ctx(e), 0), e.ts_ns, i);
  }
  std::sort(decodes.begin(), decodes.end());
  std::vector<SlotRow> out;
  bool folded = false;  // in a generation run that is the last row's ender_ns
  for (size_t k = 0; k < decodes.size(); ++k) {
    const auto& [slot, pid, context, ts, i] = decodes[k];
    const auto& e = batch.events[i];
    const std::string& ph = std::get<std::string>(phase(e));
    int64_t end = ts + int_or(duration(e), 0);
    bool same_comm = false;  // the decode before is of the same context, slot and comm
    bool same = false;       // ... and phase
    bool after_prompt = false;
    if (k > 0) {
      const auto& [s0, p0, c0, t0, i0] = decodes[k - 1];
      const auto& before = batch.events[i0];
      same_comm = s0 == slot && p0 == pid && c0 == context && before.comm == e.comm;
      same = same_comm && std::get<std::string>(phase(before)) == ph;
      after_prompt = same_comm && std::get<std::string>(phase(before)) == "prompt";
    }
    if (same) {
      if (!folded) out.back().values[2] = end;
      continue;
    }
    folded = ph == "generation" && after_prompt;
    if (folded) {
      out.back().values[3] = ts;
      continue;
    }
    SlotRow run;
    run.slot_ns = slot;
    run.pid = pid;
    run.comm = e.comm;
    run.keys = {context, ph};
    run.values = {ts, static_cast<int64_t>(batch.first_seq + i), end, Value()};
    out.push_back(std::move(run));
  }
  return out;
}

}  // namespace

const SlotRollup& decode_run_slots() {
  static const SlotRollup r{"llama_decode_run_slots",
                            "llama",
                            {"ctx", "phase"},
                            {{"start_ns", Agg::kMin},
                             {"start_seq", Agg::kMin},
                             {"end_ns", Agg::kMax},
                             {"ender_ns", Agg::kMin}},
                            nullptr,
                            nullptr,
                            nullptr,
                            decode_runs};
  return r;
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
      &launch_slots(), &copy_slots(),   &sync_slots(),       &syscall_slots(), &sched_slots(),
      &token_slots(),  &decode_slots(), &decode_run_slots(), &graph_slots()};
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

}  // namespace scope::store
