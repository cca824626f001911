#include "export/perfetto_export.h"

#include <nlohmann/json.hpp>

#include "event/schema.h"
#include "store/rollup.h"

namespace scope::perfetto {

namespace {

using event::Value;

using event::int_or;

// One table read in (ts_ns, seq) order, a page at a time (keyset paging: each page starts after
// the last row of the one before, so a page costs the same at any depth). The keyset is spelled
// `ts_ns >= T AND (ts_ns > T OR seq > S)` with T the one lower bound: a plain range on ts_ns that
// the index scans in order and the LIMIT stops. Written as an OR of the two cases, PostgreSQL
// bitmap-scans and sorts the rest of the window for every page; with the window's start as a
// second bound, SQLite may scan from there.
class Cursor {
 public:
  // `columns` after ts_ns and seq; `family`: the schema's id, or -1 for a memory rollup.
  Cursor(store::Store& s, const ExportOptions& o, const std::string& table,
         const std::string& columns, int family, std::string memory_family)
      : store_(s), o_(o), family_(family), memory_family_(std::move(memory_family)) {
    bool dollar = s.kind() == "postgres";
    auto p = [&](int n) { return (dollar ? "$" : "?") + std::to_string(n); };
    sql_ = "SELECT ts_ns, seq, " + columns + " FROM " + table + " WHERE node = " + p(1) +
           " AND ts_ns >= " + p(2) + " AND ts_ns < " + p(3) + " AND (ts_ns > " + p(2) +
           " OR seq > " + p(4) + ")" + (o.pid ? " AND pid = " + p(5) : std::string()) +
           " ORDER BY ts_ns, seq LIMIT " + std::to_string(o.page_rows);
    last_ts_ = o.from_ns;
  }

  // The current row, fetching the next page when the last is used up; false at the end.
  Result<bool> ready() {
    if (i_ < page_.rows.size()) return true;
    if (done_) return false;
    std::vector<Value> params = {o_.node, last_ts_, o_.to_ns, last_seq_};
    if (o_.pid) params.emplace_back(static_cast<int64_t>(*o_.pid));
    store::QueryOptions q;
    q.max_rows = o_.page_rows + 1;
    q.timeout_ms = 60000;
    auto r = store_.select(sql_, params, q);
    if (!r) return r.failure();
    page_ = std::move(r.value());
    i_ = 0;
    if (page_.rows.size() < o_.page_rows) done_ = true;
    if (page_.rows.empty()) return false;
    last_ts_ = int_or(page_.rows.back()[0]);
    last_seq_ = int_or(page_.rows.back()[1]);
    return true;
  }
  int64_t ts() const { return int_or(page_.rows[i_][0]); }
  int64_t seq() const { return int_or(page_.rows[i_][1]); }
  int family() const { return family_; }
  const std::string& memory_family() const { return memory_family_; }
  std::vector<Value>& row() { return page_.rows[i_]; }
  void next() { ++i_; }

 private:
  store::Store& store_;
  const ExportOptions& o_;
  int family_;
  std::string memory_family_;
  std::string sql_;
  store::QueryResult page_;
  size_t i_ = 0;
  bool done_ = false;
  int64_t last_ts_ = 0, last_seq_ = INT64_MIN;  // the first page: every row from from_ns on
};

// The node to export: the one asked for, or the store's only one.
Result<std::string> pick_node(store::Store& s, const std::string& asked) {
  if (!asked.empty()) return asked;
  auto r = s.select("SELECT DISTINCT node FROM scope_batches ORDER BY node", {}, {});
  if (!r) return r.failure();
  if (r->rows.empty()) return make_error(Errc::kNotFound, "the store holds no events yet");
  if (r->rows.size() > 1) {
    std::string names;
    for (const auto& row : r->rows)
      if (const auto* n = std::get_if<std::string>(&row[0]))
        names += (names.empty() ? "" : ", ") + *n;
    return make_error(Errc::kBadInput, "the store holds several nodes (" + names +
                                           "): choose one with --node (node= in the API)");
  }
  const auto* n = std::get_if<std::string>(&r->rows[0][0]);
  return n ? *n : std::string();
}

// Who a process was at a time: its latest successful exec stored before then.
class ExecLookup {
 public:
  ExecLookup(store::Store& s, std::string node) : store_(s), node_(std::move(node)) {
    bool dollar = s.kind() == "postgres";
    auto p = [&](int n) { return (dollar ? "$" : "?") + std::to_string(n); };
    sql_ = "SELECT comm, argv FROM exec_events WHERE node = " + p(1) + " AND pid = " + p(2) +
           " AND ts_ns <= " + p(3) +
           " AND call <> 'exit' AND (ret = 0 OR ret IS NULL) ORDER BY ts_ns DESC LIMIT 1";
  }
  std::optional<ProcessDetails> operator()(uint32_t pid, int64_t ts) {
    auto r = store_.select(sql_, {node_, static_cast<int64_t>(pid), ts}, {});
    if (!r || r->rows.empty()) return std::nullopt;
    ProcessDetails d;
    if (const auto* c = std::get_if<std::string>(&r->rows[0][0])) d.name = *c;
    if (const auto* a = std::get_if<std::string>(&r->rows[0][1])) {
      auto argv = nlohmann::json::parse(*a, nullptr, false);
      if (argv.is_array())
        for (const auto& x : argv)
          if (x.is_string()) d.cmdline.push_back(x.get<std::string>());
    }
    return d;
  }

 private:
  store::Store& store_;
  std::string node_;
  std::string sql_;
};

}  // namespace

nlohmann::json summary_json(const ExportSummary& s) {
  const auto& e = s.events;
  const auto& f = s.file;
  return {{"node", s.node},
          {"bytes", f.bytes},
          {"packets", f.packets},
          {"tracks", f.tracks},
          {"slices", f.slices},
          {"instants", f.instants},
          {"counter_values", f.counter_values},
          {"clamped_slices", f.clamped},
          {"processes", e.processes},
          {"launches", e.launches},
          {"cuda_calls", e.cuda_calls},
          {"gpu_runs", e.gpu_runs},
          {"llama_calls", e.llama_calls},
          {"ggml_calls", e.ggml_calls},
          {"execs", e.execs},
          {"exits", e.exits},
          {"sched_rows", e.sched},
          {"memory_values", e.memory_values}};
}

Result<ExportSummary> export_trace(store::Store& store, const ExportOptions& options,
                                   const TraceWriter::Sink& sink) {
  if (options.from_ns >= options.to_ns)
    return make_error(Errc::kBadInput, "the window is empty: from must be before to");
  auto node = pick_node(store, options.node);
  if (!node) return node.failure();
  ExportOptions o = options;
  o.node = *node;

  std::vector<Cursor> cursors;
  for (const char* family : {"cuda", "exec", "sched", "llama", "ggml"}) {
    const auto* s = event::schema_for(family);
    std::string columns = "pid, tid, comm";
    for (const auto& c : s->columns) columns += ", " + std::string(c.name);
    cursors.emplace_back(store, o, std::string(s->table), columns, s->id, "");
  }
  for (const store::MemoryRollup* m : store::memory_rollups())
    cursors.emplace_back(store, o, m->table, "pid, level", -1, m->family);

  TraceWriter writer(sink);
  ExecLookup lookup(store, o.node);
  EventTranslator events(writer, std::ref(lookup), false);
  event::EventRow row;
  for (;;) {
    Cursor* next = nullptr;
    for (auto& c : cursors) {
      auto ready = c.ready();
      if (!ready) return ready.failure();
      if (*ready &&
          (!next || c.ts() < next->ts() || (c.ts() == next->ts() && c.seq() < next->seq())))
        next = &c;
    }
    if (!next) break;
    auto& v = next->row();
    if (next->family() < 0) {
      events.memory_level(next->memory_family(), static_cast<uint32_t>(int_or(v[2])), next->ts(),
                          int_or(v[3]));
    } else {
      row.family = static_cast<uint8_t>(next->family());
      row.ts_ns = next->ts();
      row.pid = static_cast<uint32_t>(int_or(v[2]));
      row.tid = static_cast<uint32_t>(int_or(v[3]));
      const auto* comm = std::get_if<std::string>(&v[4]);
      row.comm = comm ? *comm : std::string();
      row.values.assign(std::make_move_iterator(v.begin() + 5), std::make_move_iterator(v.end()));
      events.add(row);
    }
    next->next();
    if (!writer.ok()) break;
  }
  writer.finish();
  if (!writer.ok()) return make_error(Errc::kUnavailable, "the trace could not be written out");
  return ExportSummary{o.node, events.counts(), writer.stats()};
}

}  // namespace scope::perfetto
