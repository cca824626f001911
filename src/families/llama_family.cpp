// The llama family: libllama's decode/encode, model loads and contexts,
// probed in every library (or program) that defines them (bpf/llama.bpf.c).
#include "families/llama_family.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstring>

#include "common/text.h"
#include "families/library_family.h"
#include "llama.skel.h"

namespace scope::families {
namespace llama {

namespace {

#define LLAMA_CALL_NAME(id, sym, op, args) #sym,
const char* const kCallNames[LLAMA_CALL_COUNT] = {"", LLAMA_CALLS(LLAMA_CALL_NAME)};
#undef LLAMA_CALL_NAME

double per_second(uint64_t count, uint64_t ns) {
  return ns ? static_cast<double>(count) * 1e9 / static_cast<double>(ns) : 0.0;
}

}  // namespace

std::string call_name(uint16_t call) {
  if (call > 0 && call < LLAMA_CALL_COUNT && kCallNames[call]) return kCallNames[call];
  return "call#" + std::to_string(call);
}

std::string op_name(uint8_t op) {
  switch (op) {
    case LLAMA_OP_DECODE:
      return "decode";
    case LLAMA_OP_ENCODE:
      return "encode";
    case LLAMA_OP_MODEL_LOAD:
      return "model_load";
    case LLAMA_OP_CONTEXT_CREATE:
      return "context_create";
    case LLAMA_OP_CONTEXT_FREE:
      return "context_free";
    case LLAMA_OP_MODEL_FREE:
      return "model_free";
  }
  return "op#" + std::to_string(op);
}

std::vector<std::string> expected_symbols() {
  std::vector<std::string> out;
  for (uint16_t c = 1; c < LLAMA_CALL_COUNT; ++c) out.push_back(kCallNames[c]);
  return out;
}

std::vector<LibrarySymbol> match_symbols(const discover::ElfFile& elf) {
  std::vector<LibrarySymbol> out;
  for (uint16_t c = 1; c < LLAMA_CALL_COUNT; ++c) {
    auto sym = elf.find(kCallNames[c]);
    if (!sym) continue;
    auto off = elf.file_offset(sym->vaddr);
    if (!off) continue;
    out.push_back({kCallNames[c], c, 0, *off});
  }
  return out;
}

std::optional<llama_event> decode(const void* data, size_t size) {
  if (size < LLAMA_EVENT_SHORT) return std::nullopt;
  llama_event e{};
  std::memcpy(&e, data, std::min(size, sizeof e));
  if (size < sizeof e) {
    e.path[0] = 0;
    e.path_len = 0;
  }
  return e;
}

const char* phase_name(Phase phase) {
  switch (phase) {
    case Phase::kPrompt:
      return "prompt";
    case Phase::kGeneration:
      return "generation";
    default:
      return "";
  }
}

event::EventRow row(const llama_event& e, Phase phase, int64_t mono_to_unix_ns) {
  static const auto& s = *event::schema_for("llama");
  static const size_t call = s.column("call"), op = s.column("op"),
                      duration_ns = s.column("duration_ns"), ret = s.column("ret"),
                      tokens = s.column("tokens"), phase_col = s.column("phase"),
                      n_ctx = s.column("n_ctx"), n_batch = s.column("n_batch"),
                      n_ubatch = s.column("n_ubatch"), n_seq_max = s.column("n_seq_max"),
                      path = s.column("path"), ctx = s.column("ctx"), model = s.column("model"),
                      ok = s.column("ok");
  auto r = event::make_row(s, static_cast<int64_t>(e.ts_ns) + mono_to_unix_ns, e.pid, e.tid,
                           fixed_string(e.comm, sizeof e.comm));
  auto i64 = [](auto v) { return static_cast<int64_t>(v); };
  r.values[call] = call_name(e.call);
  r.values[op] = op_name(e.op);
  r.values[duration_ns] = i64(e.duration_ns);
  switch (e.op) {
    case LLAMA_OP_DECODE:
    case LLAMA_OP_ENCODE:
      r.values[tokens] = i64(e.n_tokens);
      if (phase != Phase::kNone) r.values[phase_col] = std::string(phase_name(phase));
      r.values[ret] = i64(e.ret);
      r.values[ctx] = i64(e.handle);
      break;
    case LLAMA_OP_MODEL_LOAD:
      r.values[path] = fixed_string(e.path, sizeof e.path);
      r.values[model] = i64(e.handle);
      r.values[ok] = i64(e.handle != 0);
      break;
    case LLAMA_OP_CONTEXT_CREATE:
      r.values[n_ctx] = i64(e.n_ctx);
      r.values[n_batch] = i64(e.n_batch);
      r.values[n_ubatch] = i64(e.n_ubatch);
      r.values[n_seq_max] = i64(e.n_seq_max);
      r.values[ctx] = i64(e.handle);
      r.values[model] = i64(e.model);
      r.values[ok] = i64(e.handle != 0);
      break;
    case LLAMA_OP_CONTEXT_FREE:
      r.values[ctx] = i64(e.handle);
      break;
    case LLAMA_OP_MODEL_FREE:
      r.values[model] = i64(e.handle);
      break;
  }
  return r;
}

std::string human_line(const llama_event& e, Phase phase, uint64_t first_ts_ns) {
  double secs = (static_cast<double>(e.ts_ns) - static_cast<double>(first_ts_ns)) / 1e9;
  std::string who =
      sfmt("%s[%" PRIu32 "/%" PRIu32 "]", fixed_string(e.comm, 16).c_str(), e.pid, e.tid);
  std::string line = sfmt("%11.6f ", secs) + pad_right(who, 24) + " " +
                     pad_right(call_name(e.call), 28) + " " + pad_right(op_name(e.op), 14) + " ";
  switch (e.op) {
    case LLAMA_OP_DECODE:
    case LLAMA_OP_ENCODE:
      line +=
          sfmt("%-10s tokens=%d ", phase_name(phase), e.n_tokens) + duration_text(e.duration_ns);
      if (e.ret != 0) line += sfmt(" ret=%" PRId64, static_cast<int64_t>(e.ret));
      break;
    case LLAMA_OP_MODEL_LOAD:
      line += fixed_string(e.path, sizeof e.path) + " " + duration_text(e.duration_ns) +
              (e.handle ? "" : " failed");
      break;
    case LLAMA_OP_CONTEXT_CREATE:
      line += sfmt("n_ctx=%u n_batch=%u n_ubatch=%u n_seq_max=%u ", e.n_ctx, e.n_batch, e.n_ubatch,
                   e.n_seq_max) +
              duration_text(e.duration_ns) + (e.handle ? "" : " failed");
      break;
    default:
      line += duration_text(e.duration_ns);
  }
  return line;
}

uint64_t percentile(std::vector<uint64_t>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::min(v.size(), std::max<size_t>(rank, 1)) - 1];
}

Phase LlamaStats::add(const llama_event& e) {
  ProcessStats& p = procs_[e.pid];
  p.comm = fixed_string(e.comm, sizeof e.comm);
  switch (e.op) {
    case LLAMA_OP_MODEL_LOAD:
      p.loads.push_back({fixed_string(e.path, sizeof e.path), e.duration_ns, e.handle != 0});
      return Phase::kNone;
    case LLAMA_OP_CONTEXT_CREATE:
      p.contexts.push_back({e.n_ctx, e.n_batch, e.n_ubatch, e.n_seq_max, e.duration_ns});
      if (e.handle) p.live_contexts[e.handle] = {.created_seen = true};
      return Phase::kNone;
    case LLAMA_OP_CONTEXT_FREE:
      p.live_contexts.erase(e.handle);
      return Phase::kNone;
    case LLAMA_OP_ENCODE:
      ++p.encodes;
      if (e.ret == 0) p.encode_tokens += static_cast<uint64_t>(std::max(e.n_tokens, 0));
      p.encode_ns += e.duration_ns;
      if (e.ret != 0) ++p.failed_decodes;
      return Phase::kPrompt;
    case LLAMA_OP_DECODE:
      break;
    default:
      return Phase::kNone;
  }
  auto& ctx = p.live_contexts[e.handle];
  bool prompt = e.n_tokens > 1 || (e.n_tokens == 1 && ctx.created_seen && ctx.decodes == 0);
  ++ctx.decodes;
  uint64_t end = e.ts_ns + e.duration_ns;
  if (!p.first_ns || e.ts_ns < p.first_ns) p.first_ns = e.ts_ns;
  p.last_ns = std::max(p.last_ns, end);
  p.decode_ns.push_back(e.duration_ns);
  if (e.ret != 0) ++p.failed_decodes;
  auto tokens = e.ret == 0 ? static_cast<uint64_t>(std::max(e.n_tokens, 0)) : 0;
  if (prompt) {
    ++p.prompt_decodes;
    p.prompt_tokens += tokens;
    p.prompt_ns += e.duration_ns;
    if (!ctx.in_prompt) {
      ctx.in_prompt = true;
      ctx.prompt_start_ns = e.ts_ns;
    }
    ctx.prompt_end_ns = end;
    return Phase::kPrompt;
  }
  ++p.generation_decodes;
  p.generated_tokens += tokens;
  p.generation_ns += e.duration_ns;
  if (ctx.in_prompt) {
    p.ttft_ns.push_back(ctx.prompt_end_ns - ctx.prompt_start_ns);
    ctx.in_prompt = false;
  }
  return Phase::kGeneration;
}

uint64_t LlamaStats::decode_calls() const {
  uint64_t n = 0;
  for (const auto& [pid, p] : procs_) n += p.prompt_decodes + p.generation_decodes;
  return n;
}

nlohmann::json LlamaStats::json() const {
  uint64_t prompt_tokens = 0, prompt_ns = 0, gen_tokens = 0, gen_ns = 0, encodes = 0;
  nlohmann::json procs = nlohmann::json::array();
  for (const auto& [pid, p] : procs_) {
    prompt_tokens += p.prompt_tokens;
    prompt_ns += p.prompt_ns;
    gen_tokens += p.generated_tokens;
    gen_ns += p.generation_ns;
    encodes += p.encodes;
    std::vector<uint64_t> d = p.decode_ns, t = p.ttft_ns;
    nlohmann::json loads = nlohmann::json::array(), contexts = nlohmann::json::array();
    for (const auto& l : p.loads)
      loads.push_back({{"path", l.path}, {"duration_ns", l.duration_ns}, {"ok", l.ok}});
    for (const auto& c : p.contexts)
      contexts.push_back({{"n_ctx", c.n_ctx},
                          {"n_batch", c.n_batch},
                          {"n_ubatch", c.n_ubatch},
                          {"n_seq_max", c.n_seq_max},
                          {"duration_ns", c.duration_ns}});
    procs.push_back({{"pid", pid},
                     {"comm", p.comm},
                     {"prompt_tokens", p.prompt_tokens},
                     {"generation_tokens", p.generated_tokens},
                     {"prompt_decodes", p.prompt_decodes},
                     {"generation_decodes", p.generation_decodes},
                     {"encodes", p.encodes},
                     {"failed_decodes", p.failed_decodes},
                     {"prompt_tokens_per_s", per_second(p.prompt_tokens, p.prompt_ns)},
                     {"generation_tokens_per_s", per_second(p.generated_tokens, p.generation_ns)},
                     {"decode_p50_ns", percentile(d, 50)},
                     {"decode_p99_ns", percentile(d, 99)},
                     {"requests", p.ttft_ns.size()},
                     {"ttft_ns", p.ttft_ns},
                     {"ttft_p50_ns", percentile(t, 50)},
                     {"model_loads", loads},
                     {"contexts", contexts}});
  }
  return {{"decode_calls", decode_calls()},
          {"encode_calls", encodes},
          {"prompt_tokens", prompt_tokens},
          {"generation_tokens", gen_tokens},
          {"tokens_per_s",
           {{"prompt", per_second(prompt_tokens, prompt_ns)},
            {"generation", per_second(gen_tokens, gen_ns)}}},
          {"processes", procs}};
}

void LlamaStats::print(std::FILE* out) const {
  for (const auto& [pid, p] : procs_) {
    for (const auto& l : p.loads)
      std::fprintf(out, "  %u %s: model %s loaded in %s%s\n", pid, p.comm.c_str(), l.path.c_str(),
                   duration_text(l.duration_ns).c_str(), l.ok ? "" : " (failed)");
    for (const auto& c : p.contexts)
      std::fprintf(out, "  %u %s: context n_ctx=%u n_batch=%u n_ubatch=%u n_seq_max=%u (%s)\n", pid,
                   p.comm.c_str(), c.n_ctx, c.n_batch, c.n_ubatch, c.n_seq_max,
                   duration_text(c.duration_ns).c_str());
  }
}

}  // namespace llama

void print_llm_table(std::FILE* out, const llama::LlamaStats* llama, const ggml::GgmlStats* ggml) {
  std::map<uint32_t, std::string> pids;
  if (llama)
    for (const auto& [pid, p] : llama->processes()) pids[pid] = p.comm;
  if (ggml)
    for (const auto& [pid, p] : ggml->processes())
      if (!pids.count(pid)) pids[pid] = p.comm;
  if (pids.empty()) return;
  std::fprintf(out, "LLM processes\n");
  std::fprintf(out, "  %8s %-16s %12s %10s %8s %10s %10s %10s %7s %12s\n", "PID", "COMM",
               "PROMPT tok/s", "GEN tok/s", "DECODES", "p50", "p99", "TTFT p50", "GRAPH%",
               "LIVE ggml");
  auto dash = [](bool have, const std::string& s) { return have ? s : std::string("-"); };
  for (const auto& [pid, comm] : pids) {
    const llama::ProcessStats* l = nullptr;
    const ggml::ProcessStats* g = nullptr;
    if (llama)
      if (auto it = llama->processes().find(pid); it != llama->processes().end()) l = &it->second;
    if (ggml)
      if (auto it = ggml->processes().find(pid); it != ggml->processes().end()) g = &it->second;
    bool decodes = l && !l->decode_ns.empty();
    std::vector<uint64_t> d = l ? l->decode_ns : std::vector<uint64_t>{};
    std::vector<uint64_t> t = l ? l->ttft_ns : std::vector<uint64_t>{};
    // The decoding span when libllama is probed, else the graph computes'.
    uint64_t first = decodes ? l->first_ns : (g ? g->first_ns : 0);
    uint64_t last = decodes ? l->last_ns : (g ? g->last_ns : 0);
    bool share = g && g->graph_computes && last > first;
    double pct =
        share ? 100.0 * static_cast<double>(g->graph_ns) / static_cast<double>(last - first) : 0;
    std::fprintf(
        out, "  %8u %-16s %12s %10s %8s %10s %10s %10s %7s %12s\n", pid, comm.c_str(),
        dash(l && l->prompt_ns,
             sfmt("%.1f", l ? static_cast<double>(l->prompt_tokens) * 1e9 /
                                  static_cast<double>(std::max<uint64_t>(l->prompt_ns, 1))
                            : 0))
            .c_str(),
        dash(l && l->generation_ns,
             sfmt("%.1f", l ? static_cast<double>(l->generated_tokens) * 1e9 /
                                  static_cast<double>(std::max<uint64_t>(l->generation_ns, 1))
                            : 0))
            .c_str(),
        dash(decodes, std::to_string(d.size())).c_str(),
        dash(decodes, duration_text(llama::percentile(d, 50))).c_str(),
        dash(decodes, duration_text(llama::percentile(d, 99))).c_str(),
        dash(!t.empty(), duration_text(llama::percentile(t, 50))).c_str(),
        dash(share, sfmt("%.1f", std::min(pct, 100.0))).c_str(),
        dash(g && (g->allocs || g->frees), bytes_text(g ? g->live_bytes : 0)).c_str());
  }
}

namespace {

class LlamaFamily : public LibraryFamily<llama_bpf> {
 public:
  LlamaFamily()
      : LibraryFamily("llama",
                      {llama_bpf__open, llama_bpf__load, llama_bpf__attach, llama_bpf__destroy},
                      LibraryProbes("llama", llama::expected_symbols(), {"libllama"},
                                    [](const discover::ElfFile& elf, const std::string&) {
                                      return llama::match_symbols(elf);
                                    })) {}

  Status start(const FamilyContext& ctx) override {
    return start_skeleton(ctx, [](llama_bpf* s) {
      auto& p = s->progs;
      return LibraryPrograms{
          {p.llama_entry, p.llama_return}, p.llama_exit, {{p.llama_entry, p.llama_return}}};
    });
  }

  int handle_record(const void* data, size_t size) override {
    auto e = llama::decode(data, size);
    if (!count_record(e ? &*e : nullptr)) return 0;
    llama::Phase phase = stats_.add(*e);
    int64_t to_unix = ctx_.mono_to_unix_ns;
    families::emit(
        ctx_.sink, static_cast<uint64_t>(static_cast<int64_t>(e->ts_ns) + to_unix),
        [&] { return llama::row(*e, phase, to_unix); },
        [&](uint64_t start) {
          return llama::human_line(*e, phase,
                                   static_cast<uint64_t>(static_cast<int64_t>(start) - to_unix));
        });
    return 0;
  }

  std::vector<std::string> hold_names() const override { return {"libllama"}; }

  void see_families(const std::vector<const Family*>& all) override {
    ggml_ = nullptr;
    for (const auto* f : all)
      if (auto* g = ggml_stats_of(f)) ggml_ = g;
  }

  nlohmann::json summary_json() const override { return with_libraries(stats_.json()); }

  void print_summary(std::FILE* out) const override {
    print_library_report(out);
    stats_.print(out);
    print_llm_table(out, &stats_, ggml_);
  }

 private:
  llama::LlamaStats stats_;
  const ggml::GgmlStats* ggml_ = nullptr;
};

}  // namespace

std::unique_ptr<Family> make_llama_family() { return std::make_unique<LlamaFamily>(); }

}  // namespace scope::families
