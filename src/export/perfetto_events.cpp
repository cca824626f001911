#include "export/perfetto_events.h"

#include <cinttypes>
#include <cstdio>

namespace scope::perfetto {

namespace {

enum Family : uint8_t { kCuda = 0, kExec = 1, kSched = 5, kLlama = 6, kGgml = 7 };

bool has(const event::Value& v) { return !std::holds_alternative<std::monostate>(v); }
using event::int_or;
using event::text_or_empty;

// The columns each family's rows are read by, found once.
struct Columns {
  explicit Columns(const char* family) : s(*event::schema_for(family)) {}
  size_t operator[](std::string_view name) const { return s.column(name); }
  const event::FamilySchema& s;
};

// "[1024,1,1]" (the store's JSON array) as "(1024,1,1)".
std::string dims(std::string_view json) {
  std::string out(json);
  for (char& c : out) {
    if (c == '[') c = '(';
    if (c == ']') c = ')';
  }
  return out.empty() ? "(?)" : out;
}

bool in(std::string_view op, std::initializer_list<std::string_view> set) {
  for (auto s : set)
    if (op == s) return true;
  return false;
}

}  // namespace

EventTranslator::EventTranslator(TraceWriter& writer, ProcessLookup lookup, bool account_memory)
    : w_(writer), lookup_(std::move(lookup)), account_memory_(account_memory) {}

EventTranslator::Process& EventTranslator::process(uint32_t pid, int64_t ts,
                                                   const std::string& comm) {
  auto [it, added] = processes_.try_emplace(pid);
  Process& p = it->second;
  if (added) {
    p.uuid = w_.new_uuid();
    std::optional<ProcessDetails> details = lookup_ ? lookup_(pid, ts) : std::nullopt;
    w_.describe_process(p.uuid, ts, pid, details && !details->name.empty() ? details->name : comm,
                        details ? details->cmdline : std::vector<std::string>{});
    ++counts_.processes;
  }
  return p;
}

uint64_t EventTranslator::thread(Process& p, uint32_t pid, uint32_t tid, int64_t ts,
                                 const std::string& comm) {
  auto [it, added] = p.threads.try_emplace(tid ? tid : pid);
  if (added) {
    it->second = w_.new_uuid();
    w_.describe_thread(it->second, ts, pid, tid ? tid : pid, comm);
  }
  return it->second;
}

void EventTranslator::add(const event::EventRow& row) {
  switch (row.family) {
    case kCuda:
      return cuda(row);
    case kExec:
      return exec(row);
    case kSched:
      return sched(row);
    case kLlama:
      return llama_or_ggml(row, true);
    case kGgml:
      return llama_or_ggml(row, false);
    default:
      ++counts_.skipped;
  }
}

void EventTranslator::memory_level(std::string_view family, uint32_t pid, int64_t ts,
                                   int64_t level) {
  auto it = processes_.find(pid);
  Process& p = it != processes_.end() ? it->second : process(pid, ts, std::to_string(pid));
  bool cuda = family == "cuda";
  uint64_t& track = cuda ? p.cuda_memory : p.ggml_memory;
  if (!track) {
    track = w_.new_uuid();
    w_.describe_counter(track, ts, p.uuid, cuda ? "CUDA memory" : "ggml memory",
                        CounterUnit::kBytes);
  }
  w_.counter(track, ts, level);
  ++counts_.memory_values;
}

void EventTranslator::account(Process& p, int which, bool is_alloc, int64_t pid, int64_t ts,
                              int64_t ptr, int64_t bytes) {
  if (!account_memory_ || !ptr) return;
  auto& live = p.live[which];
  auto it = live.find(ptr);
  if (it != live.end()) {  // a free, or an allocation that replaces a block never freed
    p.level[which] -= it->second;
    live.erase(it);
  } else if (!is_alloc) {
    return;  // a free of what this trace never saw allocated
  }
  if (is_alloc) {
    live[ptr] = bytes;
    p.level[which] += bytes;
  }
  memory_level(which == 0 ? "cuda" : "ggml", static_cast<uint32_t>(pid), ts, p.level[which]);
}

void EventTranslator::cuda(const event::EventRow& row) {
  static const Columns c("cuda");
  static const size_t call = c["call"], op_col = c["op"], ret = c["ret"], dur = c["duration_ns"],
                      kernel = c["kernel"], grid = c["grid"], block = c["block"],
                      shared = c["shared_mem"], stream = c["stream"], ptr = c["ptr"],
                      bytes = c["bytes"], kind = c["kind"], mem = c["mem"], async = c["async"],
                      queue = c["queue_ns"], correlation = c["correlation_id"];
  const auto& v = row.values;
  Process& p = process(row.pid, row.ts_ns, row.comm);
  std::string_view op = text_or_empty(v[op_col]);
  args_.clear();
  if (op == "launch" || op == "graph_launch") {
    int64_t s = int_or(v[stream]);
    auto [it, added] = p.streams.try_emplace(s);
    if (added) {
      it->second = w_.new_uuid();
      char name[48];
      std::snprintf(name, sizeof name, "CUDA stream 0x%" PRIx64, static_cast<uint64_t>(s));
      w_.describe_track(it->second, row.ts_ns, p.uuid, name);
    }
    if (op == "launch") {
      scratch_ = "<<<" + dims(text_or_empty(v[grid])) + ", " + dims(text_or_empty(v[block])) +
                 ", " + std::to_string(int_or(v[shared])) + ">>>";
      args_.push_back(Arg::label("launch", scratch_));
    }
    std::string_view name = text_or_empty(v[kernel]);
    if (name.empty()) name = op == "launch" ? "(unnamed kernel)" : "graph launch";
    w_.instant(it->second, row.ts_ns, name, args_);
    ++counts_.launches;
    return;
  }
  if (op == "gpu_kernel" || op == "gpu_memcpy") {
    // What the GPU did (CUPTI): slices on a track per GPU stream, which runs one at a time.
    int64_t s = int_or(v[stream]);
    auto [it, added] = p.gpu_streams.try_emplace(s);
    if (added) {
      it->second = w_.new_uuid();
      char name[48];
      std::snprintf(name, sizeof name, "GPU stream %" PRId64, s);
      w_.describe_track(it->second, row.ts_ns, p.uuid, name);
    }
    if (has(v[bytes])) args_.push_back(Arg::integer("bytes", int_or(v[bytes])));
    if (has(v[kind])) args_.push_back(Arg::label("kind", text_or_empty(v[kind])));
    if (has(v[queue])) args_.push_back(Arg::integer("queue_ns", int_or(v[queue])));
    args_.push_back(Arg::integer("correlation_id", int_or(v[correlation])));
    args_.push_back(Arg::integer("launched_by_tid", row.tid));
    std::string_view name = text_or_empty(v[kernel]);
    if (name.empty()) name = op == "gpu_kernel" ? "(unnamed kernel)" : "memcpy";
    w_.slice(it->second, row.ts_ns, int_or(v[dur]), name, args_);
    ++counts_.gpu_runs;
    return;
  }
  uint64_t track = thread(p, row.pid, row.tid, row.ts_ns, row.comm);
  if (has(v[bytes])) args_.push_back(Arg::integer("bytes", int_or(v[bytes])));
  if (has(v[ptr])) args_.push_back(Arg::pointer("ptr", int_or(v[ptr])));
  if (has(v[kind])) args_.push_back(Arg::label("kind", text_or_empty(v[kind])));
  if (has(v[mem])) args_.push_back(Arg::label("mem", text_or_empty(v[mem])));
  if (has(v[async])) args_.push_back(Arg::flag("async", int_or(v[async]) != 0));
  if (int_or(v[ret]) != 0) args_.push_back(Arg::integer("ret", int_or(v[ret])));
  std::string_view name = text_or_empty(v[call]);
  w_.slice(track, row.ts_ns, int_or(v[dur]), name.empty() ? op : name, args_);
  ++counts_.cuda_calls;
  bool ok = !has(v[ret]) || int_or(v[ret]) == 0;
  if (ok && (op == "alloc" || op == "free"))
    account(p, 0, op == "alloc", row.pid, row.ts_ns, int_or(v[ptr]), int_or(v[bytes]));
}

void EventTranslator::exec(const event::EventRow& row) {
  static const Columns c("exec");
  static const size_t call = c["call"], filename = c["filename"], argv = c["argv"], ret = c["ret"],
                      exit_code = c["exit_code"], lifetime = c["lifetime_ns"], signal = c["signal"],
                      core = c["core_dumped"];
  const auto& v = row.values;
  Process& p = process(row.pid, row.ts_ns, row.comm);
  uint64_t track = thread(p, row.pid, row.tid, row.ts_ns, row.comm);
  args_.clear();
  std::string_view what = text_or_empty(v[call]);
  if (what == "exit") {
    if (has(v[exit_code])) args_.push_back(Arg::integer("exit_code", int_or(v[exit_code])));
    if (int_or(v[signal])) args_.push_back(Arg::integer("signal", int_or(v[signal])));
    if (int_or(v[core])) args_.push_back(Arg::flag("core_dumped", true));
    if (has(v[lifetime])) args_.push_back(Arg::integer("lifetime_ns", int_or(v[lifetime])));
    w_.instant(track, row.ts_ns, "exit", args_);
    ++counts_.exits;
    return;
  }
  args_.push_back(Arg::text_value("filename", text_or_empty(v[filename])));
  args_.push_back(Arg::text_value("argv", text_or_empty(v[argv])));
  args_.push_back(Arg::integer("ret", int_or(v[ret])));
  w_.instant(track, row.ts_ns, what.empty() ? "exec" : what, args_);
  ++counts_.execs;
  if (int_or(v[ret]) == 0 && lookup_) {  // the process is another program now
    auto details = lookup_(row.pid, row.ts_ns);
    if (details)
      w_.describe_process(p.uuid, row.ts_ns, row.pid,
                          details->name.empty() ? row.comm : details->name, details->cmdline);
  }
}

void EventTranslator::llama_or_ggml(const event::EventRow& row, bool llama) {
  static const Columns l("llama"), g("ggml");
  const Columns& c = llama ? l : g;
  const auto& v = row.values;
  Process& p = process(row.pid, row.ts_ns, row.comm);
  uint64_t track = thread(p, row.pid, row.tid, row.ts_ns, row.comm);
  args_.clear();
  // Integer and label columns each family has, in the order the UI lists them.
  static constexpr std::string_view kLlamaInts[] = {"tokens",   "n_ctx",     "n_batch",
                                                    "n_ubatch", "n_seq_max", "ret"};
  static constexpr std::string_view kGgmlInts[] = {"nodes", "bytes", "nested_calls", "ret"};
  if (llama) {
    for (auto name : {"phase", "op"})
      if (has(v[c[name]])) args_.push_back(Arg::label(name, text_or_empty(v[c[name]])));
    for (auto name : kLlamaInts)
      if (has(v[c[name]])) args_.push_back(Arg::integer(name, int_or(v[c[name]])));
    if (has(v[c["ctx"]])) args_.push_back(Arg::pointer("ctx", int_or(v[c["ctx"]])));
    if (has(v[c["path"]])) args_.push_back(Arg::text_value("path", text_or_empty(v[c["path"]])));
  } else {
    for (auto name : {"backend", "op"})
      if (has(v[c[name]])) args_.push_back(Arg::label(name, text_or_empty(v[c[name]])));
    for (auto name : kGgmlInts)
      if (has(v[c[name]])) args_.push_back(Arg::integer(name, int_or(v[c[name]])));
    for (auto name : {"ptr", "graph"})
      if (has(v[c[name]])) args_.push_back(Arg::pointer(name, int_or(v[c[name]])));
  }
  std::string_view call = text_or_empty(v[c["call"]]);
  w_.slice(track, row.ts_ns, int_or(v[c["duration_ns"]]),
           call.empty() ? (llama ? "llama" : "ggml") : call, args_);
  ++(llama ? counts_.llama_calls : counts_.ggml_calls);
  if (!llama) {
    std::string_view op = text_or_empty(v[c["op"]]);
    if (op.empty()) op = call;
    bool alloc = in(op, {"alloc", "cuda_alloc"}), release = in(op, {"free", "cuda_free"});
    bool ok = !has(v[c["ret"]]) || int_or(v[c["ret"]]) == 0;
    if (ok && (alloc || release))
      account(p, 1, alloc, row.pid, row.ts_ns, int_or(v[c["ptr"]]), int_or(v[c["bytes"]]));
  }
}

void EventTranslator::sched(const event::EventRow& row) {
  static const Columns c("sched");
  static const size_t offcpu = c["offcpu_ns"], runq = c["runq_ns"];
  Process& p = process(row.pid, row.ts_ns, row.comm);
  uint64_t thread_track = thread(p, row.pid, row.tid, row.ts_ns, row.comm);
  auto& t = sched_tracks_[thread_track];
  if (!t.offcpu) {
    t.offcpu = w_.new_uuid();
    w_.describe_counter(t.offcpu, row.ts_ns, thread_track, "off-CPU ns", CounterUnit::kTimeNs);
    t.runq = w_.new_uuid();
    w_.describe_counter(t.runq, row.ts_ns, thread_track, "run-queue ns", CounterUnit::kTimeNs);
  }
  w_.counter(t.offcpu, row.ts_ns, int_or(row.values[offcpu]));
  w_.counter(t.runq, row.ts_ns, int_or(row.values[runq]));
  ++counts_.sched;
}

}  // namespace scope::perfetto
