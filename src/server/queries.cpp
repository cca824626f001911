#include "server/queries.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <span>
#include <tuple>
#include <utility>

#include "auth/accounts.h"
#include "auth/auth_routes.h"
#include "common/clock.h"
#include "store/rollup.h"

namespace scope::server {

namespace {

using json = nlohmann::json;
using event::Value;
using Answer = auth::ApiResult<json>;

constexpr int64_t kSecondNs = 1'000'000'000;

// ---- parsing -------------------------------------------------------------------------------

// A decimal integer in [min, max], the whole text.
std::optional<int64_t> parse_int(std::string_view s, int64_t min, int64_t max) {
  int64_t v = 0;
  if (s.empty() || s.size() > 19) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < min || v > max) return std::nullopt;
  return v;
}

// "123" (Unix ns) or "<n>s|m|h|d" (that long before now), or "now" where `now_ok`.
std::optional<int64_t> parse_time(std::string_view s, int64_t now_ns, bool now_ok) {
  if (now_ok && s == "now") return now_ns;
  if (!s.empty() && std::isdigit(static_cast<unsigned char>(s.back())))
    return parse_int(s, 0, INT64_MAX);
  if (s.size() < 2) return std::nullopt;
  int64_t unit = 0;
  switch (s.back()) {
    case 's':
      unit = kSecondNs;
      break;
    case 'm':
      unit = 60 * kSecondNs;
      break;
    case 'h':
      unit = 3600 * kSecondNs;
      break;
    case 'd':
      unit = 86400 * kSecondNs;
      break;
    default:
      return std::nullopt;
  }
  auto n = parse_int(s.substr(0, s.size() - 1), 1, 366 * 86400);
  if (!n || *n > 366 * 86400 * kSecondNs / unit) return std::nullopt;
  return now_ns - *n * unit;
}

// Node names as auth::valid_node_name has them; commands as the kernel keeps them (at most
// 15 bytes), printable.
bool valid_node(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; });
}

// ---- SQL -----------------------------------------------------------------------------------

// A statement and its parameters: values go in through bind() only.
class Sql {
 public:
  explicit Sql(const store::Store& s) : postgres_(s.kind() == "postgres") {}
  Sql& operator<<(std::string_view text) {
    text_ += text;
    return *this;
  }
  Sql& operator<<(int64_t n) {  // a number this file computed, never a request's text
    text_ += std::to_string(n);
    return *this;
  }
  Sql& bind(Value v) {
    params_.push_back(std::move(v));
    text_ += (postgres_ ? "$" : "?") + std::to_string(params_.size());
    return *this;
  }
  // A text column ordered bytewise on both stores (PostgreSQL's default follows the locale).
  std::string bytewise(std::string_view column) const {
    return std::string(column) + (postgres_ ? " COLLATE \"C\"" : "");
  }
  const std::string& text() const { return text_; }
  const std::vector<Value>& params() const { return params_; }

 private:
  bool postgres_;
  std::string text_;
  std::vector<Value> params_;
};

// `ts` in [from, to) and the request's node, pid and comm filters, on columns of `alias`.
void where_window(Sql& q, const QueryParams& p, int64_t from, int64_t to,
                  std::string_view ts = "ts_ns", std::string_view alias = "") {
  std::string a(alias);
  q << a << ts << " >= ";
  q.bind(from) << " AND " << a << ts << " < ";
  q.bind(to);
  if (!p.node.empty()) {
    q << " AND " << a << "node = ";
    q.bind(p.node);
  }
  if (p.pid) {
    q << " AND " << a << "pid = ";
    q.bind(p.pid);
  }
  if (!p.comm.empty()) {
    q << " AND " << a << "comm = ";
    q.bind(p.comm);
  }
}
void where_window(Sql& q, const QueryParams& p) { where_window(q, p, p.from_ns, p.to_ns); }

// After the cursor in (ts_ns, node, seq) order.
void where_after(Sql& q, const QueryParams& p) {
  if (!p.cursor) return;
  q << " AND (ts_ns > ";
  q.bind(p.cursor->ts_ns) << " OR (ts_ns = ";
  q.bind(p.cursor->ts_ns) << " AND (" << q.bytewise("node") << " > ";
  q.bind(p.cursor->node) << " OR (node = ";
  q.bind(p.cursor->node) << " AND seq > ";
  q.bind(p.cursor->seq) << "))))";
}

std::string order_by_key(const Sql& q) {
  return " ORDER BY ts_ns, " + q.bytewise("node") + ", seq";
}

// Why the store could not answer goes to the log; the client learns that it did not.
auth::ApiError store_failed(const std::string& why) {
  spdlog::warn("scope: query API: {}", why);
  return {503, "query_failed", "the store could not answer the query (see the server's log)"};
}

std::variant<store::QueryResult, auth::ApiError> run(store::Store& s, const Sql& q,
                                                     size_t max_rows = 100000) {
  store::QueryOptions o;
  o.max_rows = max_rows;
  o.timeout_ms = 10000;
  auto r = s.select(q.text(), q.params(), o);
  if (!r) return store_failed(r.error());
  return std::move(*r);
}

int64_t num(const Value& v) {
  const auto* n = std::get_if<int64_t>(&v);
  return n ? *n : 0;
}
std::string text(const Value& v) {
  const auto* t = std::get_if<std::string>(&v);
  return t ? *t : std::string();
}
json num_or_null(const Value& v) {
  const auto* n = std::get_if<int64_t>(&v);
  return n ? json(*n) : json(nullptr);
}
json text_or_null(const Value& v) {
  const auto* t = std::get_if<std::string>(&v);
  return t ? json(*t) : json(nullptr);
}
json hex_or_null(const Value& v) {
  const auto* n = std::get_if<int64_t>(&v);
  if (!n) return nullptr;
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(*n));
  return buf;
}
// A JSON column (argv, grid, block) as JSON; text that is not JSON stays text.
json json_or_null(const Value& v) {
  const auto* t = std::get_if<std::string>(&v);
  if (!t) return nullptr;
  json j = json::parse(*t, nullptr, false);
  return j.is_discarded() ? json(*t) : j;
}
json bool_or_null(const Value& v) {
  const auto* n = std::get_if<int64_t>(&v);
  return n ? json(*n != 0) : json(nullptr);
}

// bytes (or tokens) per second over `ns`; null when nothing was timed.
json per_second(int64_t count, int64_t ns) {
  if (ns <= 0) return nullptr;
  return static_cast<double>(count) * 1e9 / static_cast<double>(ns);
}

json window_json(const QueryParams& p) { return {{"from_ns", p.from_ns}, {"to_ns", p.to_ns}}; }

// A page: the rows up to the limit, and the cursor after the last when there are more.
json page(json items, const QueryParams& p, const std::vector<EventKey>& keys) {
  json out = {{"window", window_json(p)}, {"next_cursor", nullptr}};
  if (items.size() > p.limit) {
    items.erase(items.begin() + static_cast<std::ptrdiff_t>(p.limit), items.end());
    out["next_cursor"] = encode_event_key(keys[p.limit - 1]);
  }
  out["items"] = std::move(items);
  return out;
}

// Column `name` of `r`'s row `i`.
class RowView {
 public:
  explicit RowView(const store::QueryResult& r) : r_(r) {
    for (size_t c = 0; c < r.columns.size(); ++c) index_[r.columns[c]] = c;
  }
  const Value& at(size_t row, const std::string& name) const {
    return r_.rows[row][index_.at(name)];
  }
  size_t size() const { return r_.rows.size(); }

 private:
  const store::QueryResult& r_;
  std::map<std::string, size_t> index_;
};

#define SCOPE_RUN(var, ...)                                                 \
  auto var##_ = run(__VA_ARGS__);                                           \
  if (auto* e = std::get_if<auth::ApiError>(&var##_)) return std::move(*e); \
  const store::QueryResult& var = std::get<store::QueryResult>(var##_)

// The rows of [from, to): its whole buckets of `width` from `whole(q, first, last)` and the
// partial buckets at either end from `part(q, from, to)`, in one UNION ALL; `part` alone where
// the range holds no whole bucket or `whole_ok` is false.
using RangeSql = std::function<void(Sql&, int64_t, int64_t)>;
void whole_and_edges(Sql& q, int64_t from, int64_t to, int64_t width, bool whole_ok,
                     const RangeSql& whole, const RangeSql& part) {
  int64_t first = from + (width - from % width) % width;
  int64_t last = to - to % width;
  if (!whole_ok || first >= last) {
    part(q, from, to);
    return;
  }
  whole(q, first, last);
  if (from < first) {
    q << " UNION ALL ";
    part(q, from, first);
  }
  if (last < to) {
    q << " UNION ALL ";
    part(q, last, to);
  }
}

// The rows (ts_ns, columns...) of the window: whole 5-second slots from rollup `r` (store/rollup.h;
// `columns` named as it names them), the partial slots at either end from the raw rows that
// `raw(q, from, to)` selects with the same columns. Raw rows only where a series `step` is not
// whole slots or the window holds no whole slot. Sums and maxima of the slots are those of
// their raw rows, so the answer is the same either way.
// [from, to) a part of the window where given.
void slot_source(Sql& q, const QueryParams& p, const store::SlotRollup& r, std::string_view columns,
                 int64_t step, const RangeSql& raw, int64_t from = -1, int64_t to = -1) {
  if (from < 0) from = p.from_ns;
  if (to < 0) to = p.to_ns;
  auto slots = [&](Sql& w, int64_t first, int64_t last) {
    w << "SELECT slot_ns AS ts_ns, " << columns << " FROM " << r.table << " WHERE ";
    where_window(w, p, first, last, "slot_ns");
  };
  whole_and_edges(q, from, to, store::kSlotNs, step % store::kSlotNs == 0, slots, raw);
}

// ---- CUDA ----------------------------------------------------------------------------------

// The launches of the window as rows (ts_ns, pid, kernel, launches, total_ns; total_ns is the
// kernels' time on the GPU where CUPTI gave it, gpu_kernel rows): whole minutes
// from the minute rollup kept with each batch (store/rollup.h), the partial minutes at either
// end from the 5-second slots, and the partial slots from cuda_events. Slots only (a comm filter:
// the minute rollup has no comm) or raw rows only where a series `step` is not whole minutes or
// slots.
void launch_source(Sql& q, const QueryParams& p, int64_t step = 0) {
  auto raw = [&](Sql& r, int64_t from, int64_t to) {
    r << "SELECT ts_ns, pid, coalesce(kernel, '') AS kernel, CASE WHEN op = 'launch' THEN 1 "
         "ELSE 0 END AS launches, coalesce(duration_ns, 0) AS total_ns FROM cuda_events WHERE op "
         "IN ('launch', 'gpu_kernel') AND ";
    where_window(r, p, from, to);
  };
  auto slots = [&](Sql& r, int64_t from, int64_t to) {
    slot_source(r, p, store::launch_slots(),
                "pid, kernel, launches, coalesce(total_ns, 0) AS total_ns", step, raw, from, to);
  };
  auto minutes = [&](Sql& r, int64_t first, int64_t last) {
    r << "SELECT minute_ns AS ts_ns, pid, kernel, launches, total_ns FROM "
      << store::kKernelMinutesTable << " WHERE ";
    where_window(r, p, first, last, "minute_ns");
  };
  whole_and_edges(q, p.from_ns, p.to_ns, store::kMinuteNs,
                  p.comm.empty() && step % store::kMinuteNs == 0, minutes, slots);
}

Answer top_kernels(store::Store& s, const QueryParams& p) {
  Sql q(s);
  q << "SELECT kernel, launches, total_ns FROM (SELECT kernel, sum(launches) AS launches, "
       "sum(total_ns) AS total_ns FROM (";
  launch_source(q, p);
  q << ") u GROUP BY kernel) k ORDER BY total_ns DESC, launches DESC, " << q.bytewise("kernel")
    << " LIMIT ";
  q.bind(static_cast<int64_t>(p.limit));
  SCOPE_RUN(r, s, q);
  json kernels = json::array();
  for (const auto& row : r.rows)
    kernels.push_back(
        {{"kernel", text(row[0])}, {"launches", num(row[1])}, {"total_ns", num(row[2])}});
  return json{{"window", window_json(p)}, {"kernels", kernels}};
}

// Launches per bucket for the `limit` kernels launched most in the window.
Answer launch_rate(store::Store& s, const QueryParams& p) {
  const int64_t step = series_step_ns(p.to_ns - p.from_ns);
  Sql top(s);
  top << "SELECT kernel FROM (SELECT kernel, sum(launches) AS launches FROM (";
  launch_source(top, p);
  top << ") u GROUP BY kernel) k ORDER BY launches DESC, " << top.bytewise("kernel") << " LIMIT ";
  top.bind(static_cast<int64_t>(p.limit));
  SCOPE_RUN(kernels, s, top);
  json series = json::array();
  if (!kernels.rows.empty()) {
    Sql q(s);
    q << "SELECT b, kernel, sum(launches) AS launches, sum(total_ns) AS total_ns FROM (SELECT "
         "ts_ns - ts_ns % "
      << step << " AS b, kernel, launches, total_ns FROM (";
    // Rollups only where a bucket is whole minutes or slots.
    launch_source(q, p, step);
    q << ") u WHERE kernel IN (";
    for (size_t i = 0; i < kernels.rows.size(); ++i) {
      if (i) q << ", ";
      q.bind(kernels.rows[i][0]);
    }
    q << ")) t GROUP BY b, kernel ORDER BY b, " << q.bytewise("kernel");
    SCOPE_RUN(r, s, q);
    for (const auto& row : r.rows)
      series.push_back({{"ts_ns", num(row[0])},
                        {"kernel", text(row[1])},
                        {"launches", num(row[2])},
                        {"total_ns", num(row[3])}});
  }
  return json{{"window", window_json(p)}, {"step_ns", step}, {"series", series}};
}

constexpr const char* kLaunchColumns =
    "ts_ns, node, seq, pid, tid, comm, call, kernel, grid, block, shared_mem, stream, "
    "duration_ns, ret";

json launch_json(const RowView& v, size_t i) {
  EventKey key{num(v.at(i, "ts_ns")), num(v.at(i, "seq")), text(v.at(i, "node"))};
  return {{"id", encode_event_key(key)},
          {"ts_ns", key.ts_ns},
          {"node", key.node},
          {"pid", num(v.at(i, "pid"))},
          {"tid", num(v.at(i, "tid"))},
          {"comm", text(v.at(i, "comm"))},
          {"call", text_or_null(v.at(i, "call"))},
          {"kernel", text_or_null(v.at(i, "kernel"))},
          {"grid", json_or_null(v.at(i, "grid"))},
          {"block", json_or_null(v.at(i, "block"))},
          {"shared_mem", num_or_null(v.at(i, "shared_mem"))},
          {"stream", hex_or_null(v.at(i, "stream"))},
          {"duration_ns", num_or_null(v.at(i, "duration_ns"))},
          {"ret", num_or_null(v.at(i, "ret"))}};
}

Answer launches(store::Store& s, const QueryParams& p) {
  Sql q(s);
  q << "SELECT " << kLaunchColumns << " FROM cuda_events WHERE op = 'launch' AND ";
  where_window(q, p);
  if (auto k = p.extra.find("kernel"); k != p.extra.end()) {
    q << " AND kernel = ";
    q.bind(k->second);
  }
  where_after(q, p);
  q << order_by_key(q) << " LIMIT ";
  q.bind(static_cast<int64_t>(p.limit + 1));
  SCOPE_RUN(r, s, q);
  RowView v(r);
  json items = json::array();
  std::vector<EventKey> keys;
  for (size_t i = 0; i < v.size(); ++i) {
    items.push_back(launch_json(v, i));
    keys.push_back({num(v.at(i, "ts_ns")), num(v.at(i, "seq")), text(v.at(i, "node"))});
  }
  return page(std::move(items), p, keys);
}

Answer launch_detail(store::Store& s, const std::string& id) {
  auto key = decode_event_key(id);
  if (!key) return auth::ApiError{400, "bad_request", "\"id\" is not a launch id"};
  Sql q(s);
  q << "SELECT " << kLaunchColumns
    << ", handle, kernel_file, kernel_offset FROM cuda_events WHERE op = 'launch' AND ts_ns = ";
  q.bind(key->ts_ns) << " AND node = ";
  q.bind(key->node) << " AND seq = ";
  q.bind(key->seq);
  SCOPE_RUN(r, s, q);
  if (r.rows.empty()) return auth::ApiError{404, "not_found", "no launch " + id};
  RowView v(r);
  json out = launch_json(v, 0);
  out["handle"] = hex_or_null(v.at(0, "handle"));
  // Where the kernel lives, when its host stub named it: the stub's file and symbol value.
  out["kernel_file"] = text_or_null(v.at(0, "kernel_file"));
  out["kernel_offset"] = hex_or_null(v.at(0, "kernel_offset"));
  // The command line: the process's last exec before the launch.
  Sql x(s);
  x << "SELECT filename, argv FROM exec_events WHERE node = ";
  x.bind(key->node) << " AND pid = ";
  x.bind(num(v.at(0, "pid"))) << " AND call <> 'exit' AND ts_ns <= ";
  x.bind(key->ts_ns) << " ORDER BY ts_ns DESC, seq DESC LIMIT 1";
  SCOPE_RUN(e, s, x);
  out["filename"] = e.rows.empty() ? json(nullptr) : text_or_null(e.rows[0][0]);
  out["argv"] = e.rows.empty() ? json(nullptr) : json_or_null(e.rows[0][1]);
  return out;
}

// Memory in use per process over the window, from allocations and frees matched by pointer
// since the first one stored (an allocation on a pointer already live replaces its block).
struct MemAlloc {
  int64_t bytes, ts_ns;
};
struct MemProcess {
  std::string node, comm;
  int64_t pid = 0, level = 0, peak = 0;
  int64_t last_ts = 0;                             // the process's last row before the window's end
  int64_t live_count = 0;                          // allocations live at the window's end
  std::vector<std::pair<int64_t, MemAlloc>> live;  // by pointer: those, or the largest of them
  std::vector<int64_t> bucket_peak;
};

// The answer from each process's final level, peak, live allocations and bucket peaks: the
// `limit` processes with the largest peak that had memory in use, and whether each has exited.
// `lookup(shown)` fills in comm and last_ts of the processes shown where not known yet.
Answer memory_answer(
    store::Store& s, const QueryParams& p, int64_t step, int64_t first_bucket,
    std::vector<MemProcess*> shown, bool complete,
    const std::function<std::optional<auth::ApiError>(const std::vector<MemProcess*>&)>& lookup) {
  std::erase_if(shown, [](const MemProcess* pr) { return pr->peak <= 0 && pr->live_count == 0; });
  std::sort(shown.begin(), shown.end(), [](const MemProcess* a, const MemProcess* b) {
    return std::tie(b->peak, a->node, a->pid) < std::tie(a->peak, b->node, b->pid);
  });
  if (shown.size() > p.limit) shown.resize(p.limit);
  if (lookup)
    if (auto e = lookup(shown)) return std::move(*e);
  json processes = json::array();
  constexpr size_t kLeaksShown = 20;
  for (MemProcess* pr : shown) {
    json series = json::array();
    for (size_t b = 0; b < pr->bucket_peak.size(); ++b)
      series.push_back({{"ts_ns", first_bucket + static_cast<int64_t>(b) * step},
                        {"bytes", pr->bucket_peak[b]}});
    auto& live = pr->live;
    std::sort(live.begin(), live.end(), [](const auto& a, const auto& b) {
      return std::tie(b.second.bytes, a.second.ts_ns, a.first) <
             std::tie(a.second.bytes, b.second.ts_ns, b.first);
    });
    json outstanding = json::array();
    for (size_t i = 0; i < live.size() && i < kLeaksShown; ++i)
      outstanding.push_back({{"ptr", hex_or_null(live[i].first)},
                             {"bytes", live[i].second.bytes},
                             {"ts_ns", live[i].second.ts_ns}});
    processes.push_back({{"node", pr->node},
                         {"pid", pr->pid},
                         {"comm", pr->comm},
                         {"bytes", pr->level},
                         {"peak_bytes", pr->peak},
                         {"outstanding_count", pr->live_count},
                         {"outstanding", outstanding},
                         {"series", series}});
  }
  // Outstanding at an exit is a leak: the process ended without freeing it.
  std::set<std::pair<std::string, int64_t>> exited;
  if (!shown.empty()) {
    Sql x(s);
    x << "SELECT node, pid, max(ts_ns) FROM exec_events WHERE call = 'exit' AND ts_ns < ";
    x.bind(p.to_ns) << " AND pid IN (";
    for (size_t i = 0; i < shown.size(); ++i) {
      if (i) x << ", ";
      x.bind(shown[i]->pid);
    }
    x << ") GROUP BY node, pid";
    SCOPE_RUN(e, s, x);
    for (const auto& row : e.rows)
      for (const MemProcess* pr : shown)
        if (pr->node == text(row[0]) && pr->pid == num(row[1]) && num(row[2]) >= pr->last_ts)
          exited.insert({pr->node, pr->pid});
  }
  for (size_t i = 0; i < shown.size(); ++i) {
    bool gone = exited.count({shown[i]->node, shown[i]->pid}) > 0;
    processes[i]["exited"] = gone;
    processes[i]["leaked_bytes"] = gone ? shown[i]->level : 0;
  }
  return json{{"window", window_json(p)},
              {"step_ns", step},
              {"complete", complete},
              {"processes", processes}};
}

// The replay of every allocation and free stored before the window's end: what a comm filter
// needs (the rollup matches a pointer's rows whatever their comm).
Answer memory_replay(store::Store& s, const QueryParams& p, const store::MemoryRollup& m) {
  const int64_t step = series_step_ns(p.to_ns - p.from_ns);
  const int64_t first_bucket = p.from_ns - p.from_ns % step;
  const auto buckets = static_cast<size_t>((p.to_ns - 1 - first_bucket) / step + 1);
  Sql q(s);
  q << "SELECT ts_ns, node, pid, comm, op IN (" << m.alloc_ops << ") AS is_alloc, ptr, bytes FROM "
    << m.events << " WHERE (op IN (" << m.alloc_ops << ") OR op IN (" << m.free_ops
    << ")) AND ptr IS NOT NULL AND ptr <> 0 AND coalesce(ret, 0) = 0 AND ";
  where_window(q, p, 0, p.to_ns);
  q << order_by_key(q);
  constexpr size_t kMaxOps = 2'000'000;
  SCOPE_RUN(r, s, q, kMaxOps);
  struct Process {
    MemProcess out;
    std::map<int64_t, MemAlloc> live;  // by pointer
    std::ptrdiff_t bucket = -1;        // the bucket `level` was last carried into
  };
  std::map<std::pair<std::string, int64_t>, Process> procs;
  auto carry_to = [&](Process& pr, std::ptrdiff_t b) {
    for (auto i = pr.bucket + 1; i <= b; ++i)
      pr.out.bucket_peak[static_cast<size_t>(i)] = pr.out.level;
    pr.bucket = std::max(pr.bucket, b);
  };
  for (const auto& row : r.rows) {
    int64_t ts = num(row[0]);
    auto& pr = procs[{text(row[1]), num(row[2])}];
    auto& o = pr.out;
    if (o.bucket_peak.empty()) {
      o.node = text(row[1]);
      o.pid = num(row[2]);
      o.bucket_peak.assign(buckets, 0);
    }
    o.comm = text(row[3]);
    o.last_ts = ts;
    std::ptrdiff_t b = ts < first_bucket ? -1 : (ts - first_bucket) / step;
    if (ts >= p.from_ns) carry_to(pr, b);
    int64_t ptr = num(row[5]);
    if (num(row[4])) {
      auto [it, fresh] = pr.live.try_emplace(ptr, MemAlloc{num(row[6]), ts});
      if (!fresh) {  // a free that was not seen: the old block is gone
        o.level -= it->second.bytes;
        it->second = MemAlloc{num(row[6]), ts};
      }
      o.level += num(row[6]);
    } else if (auto it = pr.live.find(ptr); it != pr.live.end()) {
      o.level -= it->second.bytes;
      pr.live.erase(it);
    }
    if (ts >= p.from_ns) {
      auto& peak = o.bucket_peak[static_cast<size_t>(b)];
      peak = std::max(peak, o.level);
      o.peak = std::max(o.peak, o.level);
    }
  }
  std::vector<MemProcess*> all;
  for (auto& [key, pr] : procs) {
    carry_to(pr, static_cast<std::ptrdiff_t>(buckets) - 1);
    pr.out.peak = std::max(pr.out.peak, pr.out.level);
    pr.out.live.assign(pr.live.begin(), pr.live.end());
    pr.out.live_count = static_cast<int64_t>(pr.live.size());
    all.push_back(&pr.out);
  }
  return memory_answer(s, p, step, first_bucket, std::move(all), !r.truncated, nullptr);
}

// The same answer from the memory rollup kept with each batch (store/rollup.h): the allocations
// live at the window's end, each process's level before the window, then the largest level and
// the last level of each whole 5-second slot of the window and of each row of its partial edges,
// in order. Reads the rows of the window's edges, not every row before its end.
Answer memory(store::Store& s, const QueryParams& p, const store::MemoryRollup& m) {
  if (!p.comm.empty()) return memory_replay(s, p, m);
  const int64_t step = series_step_ns(p.to_ns - p.from_ns);
  const int64_t first_bucket = p.from_ns - p.from_ns % step;
  const auto buckets = static_cast<size_t>((p.to_ns - 1 - first_bucket) / step + 1);
  constexpr size_t kMaxRows = 2'000'000;
  std::map<std::pair<std::string, int64_t>, MemProcess> procs;
  auto process = [&](const Value& node, const Value& pid) -> MemProcess& {
    auto& pr = procs[{text(node), num(pid)}];
    if (pr.bucket_peak.empty()) {
      pr.node = text(node);
      pr.pid = num(pid);
      pr.bucket_peak.assign(buckets, 0);
    }
    return pr;
  };
  // Every process with rows before the window's end: what its last row before it gives (the
  // level, the allocations live, the command).
  Sql before_end(s);
  before_end << "SELECT node, pid";
  for (const char* col : {"level", "live", "comm", "ts_ns"}) {
    before_end << ", (SELECT " << col << " FROM " << m.table
               << " x WHERE x.node = p.node AND x.pid = p.pid AND x.ts_ns < ";
    before_end.bind(p.to_ns) << " ORDER BY x.ts_ns DESC, x.seq DESC LIMIT 1)";
  }
  before_end << " FROM " << m.procs << " p WHERE first_ns < ";
  before_end.bind(p.to_ns);
  if (!p.node.empty()) {
    before_end << " AND node = ";
    before_end.bind(p.node);
  }
  if (p.pid) {
    before_end << " AND pid = ";
    before_end.bind(p.pid);
  }
  SCOPE_RUN(l, s, before_end, kMaxRows);
  for (const auto& row : l.rows) {
    if (std::holds_alternative<std::monostate>(row[5])) continue;  // no row before the end
    auto& pr = process(row[0], row[1]);
    pr.level = num(row[2]);
    pr.live_count = num(row[3]);
    pr.comm = text(row[4]);
    pr.last_ts = num(row[5]);
  }
  // The window's rows: whole slots from the slot rollup, the partial edges row by row.
  Sql w(s);
  w << "SELECT node, pid, ts_ns, max_level, last_level FROM (";
  auto rows = [&](Sql& q, int64_t from, int64_t to) {
    q << "SELECT node, pid, ts_ns, seq, level AS max_level, level AS last_level FROM " << m.table
      << " WHERE ";
    where_window(q, p, from, to);
  };
  auto slots = [&](Sql& q, int64_t first, int64_t last) {
    q << "SELECT node, pid, slot_ns AS ts_ns, 0 AS seq, max_level, last_level FROM " << m.slots
      << " WHERE ";
    where_window(q, p, first, last, "slot_ns");
  };
  whole_and_edges(w, p.from_ns, p.to_ns, store::kSlotNs, step % store::kSlotNs == 0, slots, rows);
  w << ") u ORDER BY ts_ns, seq";
  SCOPE_RUN(r, s, w, kMaxRows);
  struct Walk {
    int64_t level = 0;
    std::ptrdiff_t bucket = -1;
  };
  std::map<MemProcess*, Walk> active;  // the processes with rows in the window
  for (const auto& row : r.rows) active.try_emplace(&process(row[0], row[1]));
  // Their levels before the window: that after their last row before it.
  std::vector<MemProcess*> order;
  for (auto& [pr, walk] : active) order.push_back(pr);
  constexpr size_t kPerQuery = 200;
  for (size_t at = 0; at < order.size(); at += kPerQuery) {
    Sql q(s);
    q << "SELECT i, level FROM (";
    for (size_t i = at; i < std::min(order.size(), at + kPerQuery); ++i) {
      q << (i > at ? " UNION ALL " : "") << "SELECT " << static_cast<int64_t>(i)
        << " AS i, (SELECT level FROM " << m.table << " WHERE node = ";
      q.bind(order[i]->node) << " AND pid = ";
      q.bind(order[i]->pid) << " AND ts_ns < ";
      q.bind(p.from_ns) << " ORDER BY ts_ns DESC, seq DESC LIMIT 1) AS level";
    }
    q << ") b ORDER BY i";
    SCOPE_RUN(b, s, q);
    for (const auto& row : b.rows)
      active[order[static_cast<size_t>(num(row[0]))]].level = num(row[1]);
  }
  for (const auto& row : r.rows) {
    MemProcess* pr = &process(row[0], row[1]);
    Walk& walk = active[pr];
    auto b = static_cast<std::ptrdiff_t>((num(row[2]) - first_bucket) / step);
    for (auto i = walk.bucket + 1; i <= b; ++i)
      pr->bucket_peak[static_cast<size_t>(i)] = walk.level;
    walk.bucket = std::max(walk.bucket, b);
    auto& peak = pr->bucket_peak[static_cast<size_t>(b)];
    peak = std::max(peak, num(row[3]));
    pr->peak = std::max(pr->peak, num(row[3]));
    walk.level = num(row[4]);
  }
  std::vector<MemProcess*> all;
  for (auto& [key, pr] : procs) {
    auto it = active.find(&pr);
    std::ptrdiff_t from = it == active.end() ? -1 : it->second.bucket;
    for (auto i = from + 1; i < static_cast<std::ptrdiff_t>(buckets); ++i)
      pr.bucket_peak[static_cast<size_t>(i)] = pr.level;
    pr.peak = std::max(pr.peak, pr.level);
    all.push_back(&pr);
  }
  // The largest allocations live at the window's end of each process shown: those not freed
  // yet, and those freed (or replaced) since.
  auto lookup = [&](const std::vector<MemProcess*>& shown) -> std::optional<auth::ApiError> {
    constexpr int64_t kLargest = 20;
    for (size_t at = 0; at < shown.size(); at += kPerQuery) {
      Sql q(s);
      q << "SELECT i, ptr, bytes, ts_ns FROM (";
      for (size_t i = at; i < std::min(shown.size(), at + kPerQuery); ++i) {
        for (int freed = 0; freed < 2; ++freed) {
          // Not freed: the index of live allocations, in order. Freed since: the index of the
          // frees (ts_ns + 0 and the other expressions keep the planners off the others).
          q << (i > at || freed ? " UNION ALL " : "") << "SELECT * FROM (SELECT "
            << static_cast<int64_t>(i) << " AS i, ptr, bytes, ts_ns FROM " << m.table
            << (freed ? " WHERE node || '' = " : " WHERE node = ");
          q.bind(shown[i]->node) << (freed ? " AND pid + 0 = " : " AND pid = ");
          q.bind(shown[i]->pid) << " AND is_alloc = 1 AND ";
          if (freed)
            q.bind(p.to_ns) << " <= end_ns";
          else
            q << "end_ns IS NULL";
          q << " AND ts_ns + 0 < ";
          q.bind(p.to_ns) << " ORDER BY bytes DESC, ts_ns, ptr LIMIT " << kLargest << ") l"
                          << static_cast<int64_t>(2 * i + static_cast<size_t>(freed));
        }
      }
      q << ") c";
      auto res = run(s, q);
      if (auto* e = std::get_if<auth::ApiError>(&res)) return std::move(*e);
      for (const auto& row : std::get<store::QueryResult>(res).rows)
        shown[static_cast<size_t>(num(row[0]))]->live.push_back(
            {num(row[1]), MemAlloc{num(row[2]), num(row[3])}});
    }
    return std::nullopt;
  };
  return memory_answer(s, p, step, first_bucket, std::move(all), !l.truncated && !r.truncated,
                       lookup);
}

Answer copies(store::Store& s, const QueryParams& p) {
  const int64_t step = series_step_ns(p.to_ns - p.from_ns);
  Sql q(s);
  q << "SELECT b, kind, copies, bytes, duration_ns FROM (SELECT ts_ns - ts_ns % " << step
    << " AS b, kind, sum(copies) AS copies, coalesce(sum(bytes), 0) AS bytes, "
       "coalesce(sum(duration_ns), 0) AS duration_ns FROM (";
  slot_source(q, p, store::copy_slots(), "kind, copies, bytes, duration_ns", step,
              [&](Sql& raw, int64_t from, int64_t to) {
                raw << "SELECT ts_ns, coalesce(kind, 'default') AS kind, 1 AS copies, bytes, "
                       "duration_ns FROM cuda_events WHERE op = 'memcpy' AND ";
                where_window(raw, p, from, to);
              });
  q << ") u GROUP BY ts_ns - ts_ns % " << step << ", kind) t ORDER BY b, " << q.bytewise("kind");
  SCOPE_RUN(r, s, q);
  std::map<std::string, std::array<int64_t, 3>> totals;
  json series = json::array();
  for (const auto& row : r.rows) {
    auto& t = totals[text(row[1])];
    t[0] += num(row[2]);
    t[1] += num(row[3]);
    t[2] += num(row[4]);
    series.push_back({{"ts_ns", num(row[0])},
                      {"kind", text(row[1])},
                      {"copies", num(row[2])},
                      {"bytes", num(row[3])},
                      {"bytes_per_s", per_second(num(row[3]), num(row[4]))}});
  }
  json directions = json::array();
  for (const auto& [kind, t] : totals)
    directions.push_back({{"kind", kind},
                          {"copies", t[0]},
                          {"bytes", t[1]},
                          {"duration_ns", t[2]},
                          {"bytes_per_s", per_second(t[1], t[2])}});
  return json{{"window", window_json(p)},
              {"step_ns", step},
              {"directions", directions},
              {"series", series}};
}

// Synchronisation stalls in decades: < 1 µs, < 10 µs, ... < 1 s, and the rest
// (store::kStallBounds, as the rollup buckets them).
Answer syncs(store::Store& s, const QueryParams& p) {
  const std::span<const int64_t> bounds(store::kStallBounds);
  Sql q(s);
  q << "SELECT bucket AS b, sum(syncs), sum(total_ns), max(max_ns) FROM (";
  slot_source(q, p, store::sync_slots(), "bucket, syncs, total_ns, max_ns", 0,
              [&](Sql& raw, int64_t from, int64_t to) {
                raw << "SELECT ts_ns, CASE";
                for (size_t i = 0; i < bounds.size(); ++i)
                  raw << " WHEN duration_ns < " << bounds[i] << " THEN " << static_cast<int64_t>(i);
                raw << " ELSE " << static_cast<int64_t>(bounds.size())
                    << " END AS bucket, 1 AS syncs, duration_ns AS total_ns, duration_ns AS "
                       "max_ns FROM cuda_events WHERE op = 'sync' AND duration_ns IS NOT NULL AND ";
                where_window(raw, p, from, to);
              });
  q << ") t GROUP BY bucket ORDER BY bucket";
  SCOPE_RUN(r, s, q);
  std::array<int64_t, store::kStallBuckets> counts{};
  int64_t total = 0, total_ns = 0, max_ns = 0;
  for (const auto& row : r.rows) {
    auto b = static_cast<size_t>(num(row[0]));
    if (b < counts.size()) counts[b] = num(row[1]);
    total += num(row[1]);
    total_ns += num(row[2]);
    max_ns = std::max(max_ns, num(row[3]));
  }
  json buckets = json::array();
  for (size_t b = 0; b < counts.size(); ++b)
    buckets.push_back(
        {{"lt_ns", b < bounds.size() ? json(bounds[b]) : json(nullptr)}, {"count", counts[b]}});
  return json{{"window", window_json(p)},
              {"count", total},
              {"total_ns", total_ns},
              {"max_ns", max_ns},
              {"buckets", buckets}};
}

// ---- host ----------------------------------------------------------------------------------

Answer processes(store::Store& s, const QueryParams& p) {
  Sql q(s);
  q << "SELECT ts_ns, node, seq, pid, ppid, uid, comm, filename, argv, argv_truncated, ret FROM "
       "exec_events WHERE call <> 'exit' AND ";
  where_window(q, p);
  where_after(q, p);
  q << order_by_key(q) << " LIMIT ";
  q.bind(static_cast<int64_t>(p.limit + 1));
  SCOPE_RUN(r, s, q);
  RowView v(r);
  // Their exits: the first one of the same process at or after the exec.
  std::map<std::pair<std::string, int64_t>, std::vector<std::vector<Value>>> exits;
  if (v.size() > 0) {
    Sql x(s);
    x << "SELECT node, pid, ts_ns, exit_code, signal, core_dumped, lifetime_ns FROM exec_events "
         "WHERE call = 'exit' AND ts_ns >= ";
    x.bind(num(v.at(0, "ts_ns"))) << " AND pid IN (";
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) x << ", ";
      x.bind(num(v.at(i, "pid")));
    }
    x << ")" << order_by_key(x);
    SCOPE_RUN(e, s, x);
    for (const auto& row : e.rows) exits[{text(row[0]), num(row[1])}].push_back(row);
  }
  json items = json::array();
  std::vector<EventKey> keys;
  for (size_t i = 0; i < v.size(); ++i) {
    EventKey key{num(v.at(i, "ts_ns")), num(v.at(i, "seq")), text(v.at(i, "node"))};
    json exit = nullptr;
    if (auto it = exits.find({key.node, num(v.at(i, "pid"))}); it != exits.end())
      for (const auto& row : it->second)
        if (num(row[2]) >= key.ts_ns) {
          exit = {{"ts_ns", num(row[2])},
                  {"exit_code", num_or_null(row[3])},
                  {"signal", num_or_null(row[4])},
                  {"core_dumped", bool_or_null(row[5])},
                  {"lifetime_ns", num_or_null(row[6])}};
          break;
        }
    items.push_back({{"id", encode_event_key(key)},
                     {"ts_ns", key.ts_ns},
                     {"node", key.node},
                     {"pid", num(v.at(i, "pid"))},
                     {"ppid", num_or_null(v.at(i, "ppid"))},
                     {"uid", num_or_null(v.at(i, "uid"))},
                     {"comm", text(v.at(i, "comm"))},
                     {"filename", text_or_null(v.at(i, "filename"))},
                     {"argv", json_or_null(v.at(i, "argv"))},
                     {"argv_truncated", bool_or_null(v.at(i, "argv_truncated"))},
                     {"ret", num_or_null(v.at(i, "ret"))},
                     {"exit", exit}});
    keys.push_back(std::move(key));
  }
  return page(std::move(items), p, keys);
}

// The opens of [from, to) as rows (k, opens, errors), `k` column `key` of rollup `r`
// (store/rollup.h): the coarsest whole buckets inside, then finer ones toward the edges, then the
// raw rows of the partial 5-second slots at either end, so that their sums are the raw rows'.
void open_source(Sql& q, const QueryParams& p, const store::OpenRollup& r, const char* key,
                 int64_t from, int64_t to, size_t level) {
  if (level == 0) {
    q << "SELECT coalesce(" << key
      << ", '') AS k, 1 AS opens, CASE WHEN ret < 0 THEN 1 ELSE 0 END AS errors FROM open_events "
         "WHERE ";
    where_window(q, p, from, to);
    return;
  }
  const int64_t width = r.widths[level - 1];
  auto buckets = [&](Sql& w, int64_t first, int64_t last) {
    w << "SELECT " << key << " AS k, opens, errors FROM " << r.table
      << " WHERE width_ns = " << width << " AND ";
    where_window(w, p, first, last, "bucket_ns");
  };
  auto finer = [&](Sql& w, int64_t a, int64_t b) { open_source(w, p, r, key, a, b, level - 1); };
  whole_and_edges(q, from, to, width, true, buckets, finer);
}

Answer opens(store::Store& s, const QueryParams& p) {
  auto top = [&](const char* column,
                 const store::OpenRollup& rollup) -> std::variant<json, auth::ApiError> {
    Sql q(s);
    q << "SELECT k, sum(opens) AS opens, sum(errors) AS errors FROM (";
    open_source(q, p, rollup, column, p.from_ns, p.to_ns, rollup.widths.size());
    q << ") u GROUP BY k ORDER BY opens DESC, " << q.bytewise("k") << " LIMIT ";
    q.bind(static_cast<int64_t>(p.limit));
    SCOPE_RUN(r, s, q);
    json out = json::array();
    for (const auto& row : r.rows)
      out.push_back({{column, text(row[0])}, {"opens", num(row[1])}, {"errors", num(row[2])}});
    return out;
  };
  auto comms = top("comm", store::open_comm_rollup());
  if (auto* e = std::get_if<auth::ApiError>(&comms)) return std::move(*e);
  // The path rollup has no pid or comm: a filter on either reads the one keyed by both.
  auto paths = top("path", p.pid || !p.comm.empty() ? store::open_proc_path_rollup()
                                                    : store::open_path_rollup());
  if (auto* e = std::get_if<auth::ApiError>(&paths)) return std::move(*e);
  return json{{"window", window_json(p)},
              {"comms", std::get<json>(comms)},
              {"paths", std::get<json>(paths)}};
}

Answer sched(store::Store& s, const QueryParams& p) {
  const int64_t step = series_step_ns(p.to_ns - p.from_ns);
  auto source = [&](Sql& q, int64_t series_step) {
    slot_source(q, p, store::sched_slots(),
                "comm, switches, voluntary, involuntary, offcpu_ns, runq_ns", series_step,
                [&](Sql& raw, int64_t from, int64_t to) {
                  raw << "SELECT ts_ns, coalesce(comm, '') AS comm, switches, voluntary, "
                         "involuntary, offcpu_ns, runq_ns FROM sched_events WHERE ";
                  where_window(raw, p, from, to);
                });
  };
  Sql top(s);
  top << "SELECT comm, switches, voluntary, involuntary, offcpu_ns, runq_ns FROM (SELECT "
         "comm, sum(switches) AS switches, sum(voluntary) AS voluntary, "
         "sum(involuntary) AS involuntary, sum(offcpu_ns) AS offcpu_ns, sum(runq_ns) AS runq_ns "
         "FROM (";
  source(top, 0);
  top << ") u GROUP BY comm) t ORDER BY offcpu_ns DESC, switches DESC, " << top.bytewise("comm")
      << " LIMIT ";
  top.bind(static_cast<int64_t>(p.limit));
  SCOPE_RUN(c, s, top);
  json comms = json::array(), series = json::array();
  for (const auto& row : c.rows)
    comms.push_back({{"comm", text(row[0])},
                     {"switches", num(row[1])},
                     {"voluntary", num(row[2])},
                     {"involuntary", num(row[3])},
                     {"offcpu_ns", num(row[4])},
                     {"runq_ns", num(row[5])}});
  if (!c.rows.empty()) {
    Sql q(s);
    q << "SELECT b, comm, switches, offcpu_ns, runq_ns FROM (SELECT ts_ns - ts_ns % " << step
      << " AS b, comm, sum(switches) AS switches, sum(offcpu_ns) AS "
         "offcpu_ns, sum(runq_ns) AS runq_ns FROM (";
    source(q, step);
    q << ") u WHERE comm IN (";
    for (size_t i = 0; i < c.rows.size(); ++i) {
      if (i) q << ", ";
      q.bind(c.rows[i][0]);
    }
    q << ") GROUP BY ts_ns - ts_ns % " << step << ", comm) t ORDER BY b, " << q.bytewise("comm");
    SCOPE_RUN(r, s, q);
    for (const auto& row : r.rows)
      series.push_back({{"ts_ns", num(row[0])},
                        {"comm", text(row[1])},
                        {"switches", num(row[2])},
                        {"offcpu_ns", num(row[3])},
                        {"runq_ns", num(row[4])}});
  }
  return json{{"window", window_json(p)}, {"step_ns", step}, {"comms", comms}, {"series", series}};
}

Answer syscalls(store::Store& s, const QueryParams& p) {
  // `sort` is one of QueryRules::sorts (checked), mapped to a column here.
  const char* order = p.sort == "time" ? "total_ns" : p.sort == "errors" ? "errors" : "count";
  Sql q(s);
  q << "SELECT name, count, errors, total_ns FROM (SELECT name, sum(count) AS count, "
       "sum(errors) AS errors, sum(total_ns) AS total_ns FROM (";
  slot_source(q, p, store::syscall_slots(), "name, count, errors, total_ns", 0,
              [&](Sql& raw, int64_t from, int64_t to) {
                raw << "SELECT ts_ns, coalesce(name, '') AS name, count, errors, total_ns FROM "
                       "syscalls_events WHERE ";
                where_window(raw, p, from, to);
              });
  q << ") u GROUP BY name) t ORDER BY " << order << " DESC, " << q.bytewise("name") << " LIMIT ";
  q.bind(static_cast<int64_t>(p.limit));
  SCOPE_RUN(r, s, q);
  json out = json::array();
  for (const auto& row : r.rows)
    out.push_back({{"name", text(row[0])},
                   {"count", num(row[1])},
                   {"errors", num(row[2])},
                   {"total_ns", num(row[3])}});
  return json{{"window", window_json(p)}, {"sort", p.sort}, {"syscalls", out}};
}

Answer tcp(store::Store& s, const QueryParams& p) {
  Sql q(s);
  q << "SELECT ts_ns, node, seq, pid, comm, op, family, saddr, sport, daddr, dport, error, "
       "handshake_ns, duration_ns, rx_bytes, tx_bytes FROM net_events WHERE ";
  where_window(q, p);
  where_after(q, p);
  q << order_by_key(q) << " LIMIT ";
  q.bind(static_cast<int64_t>(p.limit + 1));
  SCOPE_RUN(r, s, q);
  RowView v(r);
  json items = json::array();
  std::vector<EventKey> keys;
  for (size_t i = 0; i < v.size(); ++i) {
    EventKey key{num(v.at(i, "ts_ns")), num(v.at(i, "seq")), text(v.at(i, "node"))};
    items.push_back({{"id", encode_event_key(key)},
                     {"ts_ns", key.ts_ns},
                     {"node", key.node},
                     {"pid", num(v.at(i, "pid"))},
                     {"comm", text(v.at(i, "comm"))},
                     {"op", text_or_null(v.at(i, "op"))},
                     {"family", text_or_null(v.at(i, "family"))},
                     {"saddr", text_or_null(v.at(i, "saddr"))},
                     {"sport", num_or_null(v.at(i, "sport"))},
                     {"daddr", text_or_null(v.at(i, "daddr"))},
                     {"dport", num_or_null(v.at(i, "dport"))},
                     {"error", bool_or_null(v.at(i, "error"))},
                     {"handshake_ns", num_or_null(v.at(i, "handshake_ns"))},
                     {"duration_ns", num_or_null(v.at(i, "duration_ns"))},
                     {"rx_bytes", num_or_null(v.at(i, "rx_bytes"))},
                     {"tx_bytes", num_or_null(v.at(i, "tx_bytes"))}});
    keys.push_back(std::move(key));
  }
  return page(std::move(items), p, keys);
}

// ---- LLM -----------------------------------------------------------------------------------

Answer tokens(store::Store& s, const QueryParams& p) {
  const int64_t step = series_step_ns(p.to_ns - p.from_ns);
  Sql q(s);
  q << "SELECT ts_ns - ts_ns % " << step << " AS b, phase, sum(tokens), sum(duration_ns) FROM (";
  slot_source(q, p, store::token_slots(), "phase, tokens, duration_ns", step,
              [&](Sql& raw, int64_t from, int64_t to) {
                raw << "SELECT ts_ns, phase, tokens, duration_ns FROM llama_events WHERE op = "
                       "'decode' AND phase IN ('prompt', 'generation') AND ";
                where_window(raw, p, from, to);
              });
  q << ") u GROUP BY ts_ns - ts_ns % " << step << ", phase ORDER BY b, phase";
  SCOPE_RUN(r, s, q);
  std::map<int64_t, json> buckets;
  std::map<std::string, std::pair<int64_t, int64_t>> totals;
  for (const auto& row : r.rows) {
    std::string phase = text(row[1]);
    auto& b = buckets[num(row[0])];
    if (b.is_null())
      b = {{"ts_ns", num(row[0])},
           {"prompt_tokens", 0},
           {"generation_tokens", 0},
           {"prompt_tokens_per_s", nullptr},
           {"generation_tokens_per_s", nullptr}};
    b[phase + "_tokens"] = num(row[2]);
    b[phase + "_tokens_per_s"] = per_second(num(row[2]), num(row[3]));
    totals[phase].first += num(row[2]);
    totals[phase].second += num(row[3]);
  }
  json series = json::array();
  for (auto& [ts, b] : buckets) series.push_back(std::move(b));
  auto total = [&](const std::string& phase) { return totals[phase]; };
  auto [pt, pns] = total("prompt");
  auto [gt, gns] = total("generation");
  return json{{"window", window_json(p)},
              {"step_ns", step},
              {"prompt_tokens", pt},
              {"generation_tokens", gt},
              {"prompt_tokens_per_s", per_second(pt, pns)},
              {"generation_tokens_per_s", per_second(gt, gns)},
              {"series", series}};
}

// A histogram of durations: store::decode_bucket -> the count, smallest and largest duration in
// the bucket (INT64_MIN as the smallest where the rollup does not keep it).
struct Bucket {
  int64_t count, min_ns, max_ns;
};
using Histogram = std::map<int64_t, Bucket>;

void add(Histogram& h, int64_t bucket, Bucket b) {
  auto [it, fresh] = h.try_emplace(bucket, b);
  if (fresh) return;
  it->second.count += b.count;
  it->second.min_ns = std::min(it->second.min_ns, b.min_ns);
  it->second.max_ns = std::max(it->second.max_ns, b.max_ns);
}

// Nearest rank in a histogram of `total` durations: the bucket's middle (within 1/128 of the
// exact value) brought within its smallest and largest duration (so a bucket of one value is
// exact).
json percentile(const Histogram& histogram, int64_t total, int pct) {
  if (total <= 0) return nullptr;
  int64_t rank = std::max<int64_t>((total * pct + 99) / 100, 1), seen = 0;
  for (const auto& [bucket, b] : histogram) {
    seen += b.count;
    if (seen >= rank)
      return std::max(std::min(store::decode_bucket_value(bucket), b.max_ns), b.min_ns);
  }
  return nullptr;
}

// Decode latency, time to first token and the share of the decoding span in graph compute.
// Decode latency: whole 5-second slots from a histogram of decode durations (store/rollup.h), the
// partial slots at either end from the raw rows in the same buckets; its percentiles are the
// histogram's (within 1/128). Time to first token: the requests whose first token (the
// generation decode ending a context's run of prompt decodes) came in the window, kept at write
// time (store/rollup.h): the run's first prompt decode to the end of its last, as `scope trace`
// counts it, whether or not the prompt began in the window; whole minutes from their histogram
// (the same buckets), the partial ones at either end from the requests. The rest is exact.
Answer decode(store::Store& s, const QueryParams& p) {
  constexpr size_t kMaxRows = 2'000'000;
  const int64_t first_slot =
      p.from_ns + (store::kSlotNs - p.from_ns % store::kSlotNs) % store::kSlotNs;
  const int64_t last_slot = p.to_ns - p.to_ns % store::kSlotNs;
  const bool slots = first_slot < last_slot;
  std::vector<std::pair<int64_t, int64_t>> edges;
  if (!slots) {
    edges.emplace_back(p.from_ns, p.to_ns);
  } else {
    if (p.from_ns < first_slot) edges.emplace_back(p.from_ns, first_slot);
    if (last_slot < p.to_ns) edges.emplace_back(last_slot, p.to_ns);
  }
  bool complete = true;
  Histogram histogram;
  int64_t decodes = 0, first = INT64_MAX, last = INT64_MIN;
  auto count = [&](int64_t bucket, Bucket b) {
    add(histogram, bucket, b);
    decodes += b.count;
  };
  if (slots) {
    Sql h(s);
    h << "SELECT bucket, sum(decodes), max(max_ns), min(first_ns), max(last_ns) FROM "
      << store::decode_slots().table << " WHERE ";
    where_window(h, p, first_slot, last_slot, "slot_ns");
    h << " GROUP BY bucket";
    SCOPE_RUN(hr, s, h, kMaxRows);
    complete = complete && !hr.truncated;
    for (const auto& row : hr.rows) {
      count(num(row[0]), {num(row[1]), INT64_MIN, num(row[2])});
      first = std::min(first, num(row[3]));
      last = std::max(last, num(row[4]));
    }
  }
  if (!edges.empty()) {
    Sql q(s);
    for (size_t i = 0; i < edges.size(); ++i) {
      q << (i ? " UNION ALL " : "")
        << "SELECT ts_ns, coalesce(duration_ns, 0) FROM llama_events WHERE op = 'decode' AND ";
      where_window(q, p, edges[i].first, edges[i].second);
    }
    SCOPE_RUN(r, s, q, kMaxRows);
    complete = complete && !r.truncated;
    for (const auto& row : r.rows) {
      int64_t ts = num(row[0]), d = num(row[1]);
      count(store::decode_bucket(d), {1, d, d});
      first = std::min(first, ts);
      last = std::max(last, ts + d);
    }
  }
  // The requests: whole minutes from llama_ttft_minutes, the partial ones at either end from
  // llama_requests, in the same histogram.
  Histogram ttft;
  int64_t requests = 0;
  auto count_request = [&](int64_t bucket, Bucket b) {
    add(ttft, bucket, b);
    requests += b.count;
  };
  const int64_t first_minute =
      p.from_ns + (store::kMinuteNs - p.from_ns % store::kMinuteNs) % store::kMinuteNs;
  const int64_t last_minute = p.to_ns - p.to_ns % store::kMinuteNs;
  std::vector<std::pair<int64_t, int64_t>> minute_edges;
  if (first_minute >= last_minute) {
    minute_edges.emplace_back(p.from_ns, p.to_ns);
  } else {
    Sql m(s);
    m << "SELECT bucket, sum(requests), min(min_ns), max(max_ns) FROM llama_ttft_minutes WHERE ";
    where_window(m, p, first_minute, last_minute, "minute_ns");
    m << " GROUP BY bucket";
    SCOPE_RUN(mr, s, m, kMaxRows);
    complete = complete && !mr.truncated;
    for (const auto& row : mr.rows)
      count_request(num(row[0]), {num(row[1]), num(row[2]), num(row[3])});
    if (p.from_ns < first_minute) minute_edges.emplace_back(p.from_ns, first_minute);
    if (last_minute < p.to_ns) minute_edges.emplace_back(last_minute, p.to_ns);
  }
  if (!minute_edges.empty()) {
    Sql q(s);
    for (size_t i = 0; i < minute_edges.size(); ++i) {
      q << (i ? " UNION ALL " : "") << "SELECT ttft_ns FROM llama_requests WHERE ";
      where_window(q, p, minute_edges[i].first, minute_edges[i].second, "first_token_ns");
    }
    SCOPE_RUN(r, s, q, kMaxRows);
    complete = complete && !r.truncated;
    for (const auto& row : r.rows) {
      int64_t v = num(row[0]);
      count_request(store::decode_bucket(v), {1, v, v});
    }
  }
  Sql g(s);
  g << "SELECT sum(graphs), coalesce(sum(graph_ns), 0) FROM (";
  slot_source(g, p, store::graph_slots(), "graphs, graph_ns", 0,
              [&](Sql& raw, int64_t from, int64_t to) {
                raw << "SELECT ts_ns, 1 AS graphs, duration_ns AS graph_ns FROM ggml_events WHERE "
                       "op = 'graph' AND ";
                where_window(raw, p, from, to);
              });
  g << ") u";
  SCOPE_RUN(graphs, s, g);
  int64_t graph_ns = graphs.rows.empty() ? 0 : num(graphs.rows[0][1]);
  int64_t span = decodes == 0 ? 0 : last - first;
  return json{
      {"window", window_json(p)},
      {"complete", complete},
      {"decodes", decodes},
      {"decode_p50_ns", percentile(histogram, decodes, 50)},
      {"decode_p99_ns", percentile(histogram, decodes, 99)},
      {"requests", requests},
      {"ttft_p50_ns", percentile(ttft, requests, 50)},
      {"ttft_p99_ns", percentile(ttft, requests, 99)},
      {"graph_computes", graphs.rows.empty() ? 0 : num(graphs.rows[0][0])},
      {"graph_ns", graph_ns},
      {"decode_span_ns", span},
      {"graph_share",
       span > 0 ? json(static_cast<double>(graph_ns) / static_cast<double>(span)) : json(nullptr)}};
}

// ---- routes --------------------------------------------------------------------------------

struct Endpoint {
  const char* path;
  QueryRules rules;
  std::function<Answer(store::Store&, const QueryParams&)> answer;
};

http::Response respond(const Answer& a) {
  if (const auto* e = std::get_if<auth::ApiError>(&a)) return auth::error_response(*e);
  return http::Response::json(200, std::get<json>(a));
}

}  // namespace

std::string encode_event_key(const EventKey& key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = std::to_string(key.ts_ns) + "-" + std::to_string(key.seq) + "-";
  for (unsigned char c : key.node) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::optional<EventKey> decode_event_key(std::string_view text) {
  size_t a = text.find('-');
  if (a == std::string_view::npos) return std::nullopt;
  size_t b = text.find('-', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  auto ts = parse_int(text.substr(0, a), 0, INT64_MAX);
  auto seq = parse_int(text.substr(a + 1, b - a - 1), 0, INT64_MAX);
  std::string_view hex = text.substr(b + 1);
  if (!ts || !seq || hex.empty() || hex.size() % 2 || hex.size() > 128) return std::nullopt;
  EventKey key{*ts, *seq, {}};
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    key.node += static_cast<char>(hi * 16 + lo);
  }
  if (!valid_node(key.node)) return std::nullopt;
  return key;
}

int64_t series_step_ns(int64_t window_ns) {
  static constexpr std::array<int64_t, 17> kSteps = {
      1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400};
  for (int64_t s : kSteps)
    if (s * kSecondNs * kSeriesPoints >= window_ns) return s * kSecondNs;
  // Past a day a bucket: whole days.
  int64_t day = 86400 * kSecondNs;
  return (window_ns / kSeriesPoints + day - 1) / day * day;
}

std::variant<QueryParams, std::string> parse_query_params(
    const std::map<std::string, std::string>& query, int64_t now_ns, const QueryRules& rules) {
  QueryParams p;
  p.to_ns = now_ns;
  p.limit = rules.default_limit;
  if (!rules.sorts.empty()) p.sort = rules.sorts.front();
  bool from_given = false;
  for (const auto& param : query) {
    // Named, not a structured binding: the lambda below captures it (clang before 16 cannot).
    const std::string& name = param.first;
    const std::string& value = param.second;
    auto bad = [&](const std::string& why) { return "\"" + name + "\" " + why; };
    if (name == "from" || name == "to") {
      auto t = parse_time(value, now_ns, name == "to");
      if (!t) return bad("must be Unix time in ns or a duration before now (5m, 1h, 2d)");
      (name == "from" ? p.from_ns : p.to_ns) = *t;
      from_given |= name == "from";
    } else if (name == "node") {
      if (!valid_node(value))
        return bad("must be a node name (letters, digits, - _ .; at most 64)");
      p.node = value;
    } else if (name == "pid") {
      auto pid = parse_int(value, 1, UINT32_MAX);
      if (!pid) return bad("must be a process id (1 to 4294967295)");
      p.pid = *pid;
    } else if (name == "comm") {
      if (value.empty() || value.size() > 15 || !printable(value))
        return bad("must be a command name (1 to 15 printable bytes)");
      p.comm = value;
    } else if (name == "limit" && rules.max_limit > 0) {
      auto n = parse_int(value, 1, static_cast<int64_t>(rules.max_limit));
      if (!n) return bad("must be between 1 and " + std::to_string(rules.max_limit));
      p.limit = static_cast<size_t>(*n);
    } else if (name == "cursor" && rules.cursor) {
      p.cursor = decode_event_key(value);
      if (!p.cursor) return bad("is not a cursor this API gave (next_cursor)");
    } else if (name == "sort" && !rules.sorts.empty()) {
      if (std::find(rules.sorts.begin(), rules.sorts.end(), value) == rules.sorts.end()) {
        std::string list;
        for (const auto& s : rules.sorts) list += (list.empty() ? "" : ", ") + s;
        return bad("must be one of " + list);
      }
      p.sort = value;
    } else if (std::find(rules.extra.begin(), rules.extra.end(), name) != rules.extra.end()) {
      if (value.empty() || value.size() > 4096 || !printable(value))
        return bad("must be 1 to 4096 printable bytes");
      p.extra[name] = value;
    } else {
      return "unknown parameter \"" + name + "\"";
    }
  }
  if (!from_given) p.from_ns = p.to_ns - 3600 * kSecondNs;
  if (p.from_ns >= p.to_ns) return std::string("\"from\" must be before \"to\"");
  if (p.to_ns - p.from_ns > kMaxWindowNs) return std::string("the window may be at most 31 days");
  return p;
}

void add_query_routes(http::Router& router, store::Store& store) {
  const QueryRules list{.default_limit = 100, .max_limit = 1000, .cursor = true};
  const QueryRules top{.default_limit = 20, .max_limit = 1000};
  const QueryRules series{.default_limit = 10, .max_limit = 100};
  const QueryRules whole{.default_limit = 0, .max_limit = 0};  // no list to cut: no `limit`
  QueryRules launch_list = list;
  launch_list.extra = {"kernel"};
  QueryRules syscall_top = top;
  syscall_top.sorts = {"count", "time", "errors"};
  const std::vector<Endpoint> endpoints = {
      {"/cuda/top-kernels", top, top_kernels},
      {"/cuda/launch-rate", series, launch_rate},
      {"/cuda/launches", launch_list, launches},
      {"/cuda/memory", top,
       [](store::Store& s, const QueryParams& p) { return memory(s, p, store::cuda_memory()); }},
      {"/cuda/copies", whole, copies},
      {"/cuda/syncs", whole, syncs},
      {"/host/processes", list, processes},
      {"/host/opens", top, opens},
      {"/host/sched", series, sched},
      {"/host/syscalls", syscall_top, syscalls},
      {"/host/tcp", list, tcp},
      {"/llm/tokens", whole, tokens},
      {"/llm/decode", whole, decode},
      {"/llm/memory", top,
       [](store::Store& s, const QueryParams& p) { return memory(s, p, store::ggml_memory()); }},
  };
  for (const auto& e : endpoints) {
    auto& route = router.add("GET", std::string("/api/v1/query") + e.path, http::Access::kViewer,
                             [&store, rules = e.rules, answer = e.answer](http::Request& req) {
                               auto p = parse_query_params(req.query, unix_now_ns(), rules);
                               if (const auto* bad = std::get_if<std::string>(&p))
                                 return auth::error_response({400, "bad_request", *bad});
                               return respond(answer(store, std::get<QueryParams>(p)));
                             });
    route.max_body = 0;
    route.blocking = true;
  }
  auto& detail = router.add(
      "GET", "/api/v1/query/cuda/launches/{id}", http::Access::kViewer,
      [&store](http::Request& req) {
        if (!req.query.empty())
          return auth::error_response({400, "bad_request", "a launch takes no parameters"});
        return respond(launch_detail(store, req.params["id"]));
      });
  detail.max_body = 0;
  detail.blocking = true;
}

}  // namespace scope::server
