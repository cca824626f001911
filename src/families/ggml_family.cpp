// The ggml family: graph compute, CPU buffer allocations and libggml-cuda
// functions, probed in every library (or program) that defines them
// (bpf/ggml.bpf.c).
#include "families/ggml_family.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstring>

#include "common/text.h"
#include "discover/demangle.h"
#include "families/library_family.h"
#include "families/llama_family.h"
#include "ggml.skel.h"

namespace scope::families {
namespace ggml {

namespace {

struct FixedCall {
  uint16_t id;
  const char* symbol;
  uint8_t kind;
  uint8_t arg;
};
#define GGML_FIXED_ENTRY(id, sym, kind, arg) {id, #sym, kind, arg},
const FixedCall kFixed[] = {GGML_FIXED_CALLS(GGML_FIXED_ENTRY)};
#undef GGML_FIXED_ENTRY

int programs_for(uint8_t kind) {
  switch (kind) {
    case GGML_KIND_GRAPH:
      return kGraphPrograms;
    case GGML_KIND_ALLOC:
      return kAllocPrograms;
    case GGML_KIND_FREE:
      return kFreePrograms;
    default:
      return kOpPrograms;
  }
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

std::string hex(uint64_t v) { return sfmt("0x%" PRIx64, v); }

}  // namespace

void NestedGraphProbes::add(const ggml_event& e) {
  if (e.kind != GGML_KIND_GRAPH || e.call >= 32) return;
  ++events_;
  outermost_ |= 1u << e.call;
  nested_ |= e.nested;
}

std::vector<uint16_t> NestedGraphProbes::to_detach() {
  std::vector<uint16_t> out;
  if (events_ < kWindow) return out;
  for (uint16_t call = 1; call < 32; ++call) {
    uint32_t bit = 1u << call;
    if ((nested_ & bit) && !(outermost_ & bit) && !(detached_ & bit)) {
      detached_ |= bit;
      out.push_back(call);
    }
  }
  return out;
}

uint8_t cuda_kind(const std::string& d) {
  if (starts_with(d, "ggml_cuda_pool_leg::alloc(") || starts_with(d, "ggml_cuda_pool_vmm::alloc("))
    return GGML_KIND_CUDA_ALLOC;
  if (starts_with(d, "ggml_cuda_pool_leg::free(") || starts_with(d, "ggml_cuda_pool_vmm::free("))
    return GGML_KIND_CUDA_FREE;
  if (starts_with(d, "ggml_cuda_mul_mat") || starts_with(d, "ggml_cuda_op_mul_mat") ||
      starts_with(d, "ggml_cuda_cpy(") || starts_with(d, "ggml_cuda_cpy_"))
    return GGML_KIND_CUDA_OP;
  return GGML_KIND_NONE;
}

std::string short_name(const std::string& demangled) {
  auto paren = demangled.find('(');
  return paren == std::string::npos ? demangled : demangled.substr(0, paren);
}

CallNames::CallNames() : names_(kFirstCudaCall) {
  for (const auto& f : kFixed) names_[f.id] = f.symbol;
}

const std::string& CallNames::name(uint16_t call) const {
  static const std::string unknown = "?";
  return call < names_.size() && !names_[call].empty() ? names_[call] : unknown;
}

uint16_t CallNames::cuda_id(const std::string& name) {
  if (auto it = cuda_ids_.find(name); it != cuda_ids_.end()) return it->second;
  if (names_.size() >= 0xffff) return 0;
  auto id = static_cast<uint16_t>(names_.size());
  names_.push_back(name);
  cuda_ids_[name] = id;
  return id;
}

std::vector<std::string> expected_symbols() {
  std::vector<std::string> out;
  for (const auto& f : kFixed) out.push_back(f.symbol);
  return out;
}

std::vector<LibrarySymbol> match_symbols(const discover::ElfFile& elf, const std::string& path,
                                         CallNames& names) {
  std::vector<LibrarySymbol> out;
  for (const auto& f : kFixed) {
    auto sym = elf.find(f.symbol);
    if (!sym) continue;
    auto off = elf.file_offset(sym->vaddr);
    if (!off) continue;
    // Graph computes get links of their own: those only ever called inside
    // another probed one are detached (NestedGraphProbes).
    std::string tag = f.kind == GGML_KIND_GRAPH ? f.symbol : "";
    out.push_back({f.symbol, GGML_COOKIE(f.id, f.kind, f.arg), programs_for(f.kind), *off, tag});
  }
  // libggml-cuda (or a program with the CUDA backend linked in): its C++
  // functions, found by demangled name. Best effort: names move between
  // versions, and only what the binary exports or keeps in .symtab is seen.
  bool cuda = path.find("ggml-cuda") != std::string::npos || elf.find("ggml_backend_cuda_init");
  if (!cuda) return out;
  std::map<uint64_t, bool> seen;  // one probe per address (aliases)
  for (const auto& sym : elf.symbols()) {
    if (sym.name.rfind("_Z", 0) != 0 || sym.name.find("ggml_cuda") == std::string::npos) continue;
    std::string d = discover::demangle(sym.name);
    uint8_t kind = cuda_kind(d);
    if (kind == GGML_KIND_NONE || seen[sym.vaddr]) continue;
    seen[sym.vaddr] = true;
    auto off = elf.file_offset(sym.vaddr);
    if (!off) continue;
    std::string name = short_name(d);
    uint16_t id = names.cuda_id(name);
    if (!id) break;
    out.push_back({name, GGML_COOKIE(id, kind, 0), kOpPrograms, *off, ""});
  }
  return out;
}

std::optional<ggml_event> decode(const void* data, size_t size) {
  if (size < sizeof(ggml_event)) return std::nullopt;
  ggml_event e;
  std::memcpy(&e, data, sizeof e);
  return e;
}

std::string kind_name(uint8_t kind) {
  switch (kind) {
    case GGML_KIND_GRAPH:
      return "graph";
    case GGML_KIND_ALLOC:
      return "alloc";
    case GGML_KIND_FREE:
      return "free";
    case GGML_KIND_CUDA_OP:
      return "cuda_op";
    case GGML_KIND_CUDA_ALLOC:
      return "cuda_alloc";
    case GGML_KIND_CUDA_FREE:
      return "cuda_free";
  }
  return "kind#" + std::to_string(kind);
}

event::EventRow row(const ggml_event& e, const std::string& call, int64_t mono_to_unix_ns) {
  static const auto& s = *event::schema_for("ggml");
  static const size_t call_col = s.column("call"), op = s.column("op"),
                      duration_ns = s.column("duration_ns"), nodes = s.column("nodes"),
                      graph = s.column("graph"), nested_calls = s.column("nested_calls"),
                      ret = s.column("ret"), bytes = s.column("bytes"), ptr = s.column("ptr"),
                      backend = s.column("backend");
  auto r = event::make_row(s, static_cast<int64_t>(e.ts_ns) + mono_to_unix_ns, e.pid, e.tid,
                           fixed_string(e.comm, sizeof e.comm));
  auto i64 = [](auto v) { return static_cast<int64_t>(v); };
  r.values[call_col] = call;
  r.values[op] = std::string(kind_name(e.kind));
  if (e.kind == GGML_KIND_CUDA_OP || e.kind == GGML_KIND_CUDA_ALLOC ||
      e.kind == GGML_KIND_CUDA_FREE)
    r.values[backend] = std::string("cuda");
  switch (e.kind) {
    case GGML_KIND_GRAPH:
      r.values[duration_ns] = i64(e.duration_ns);
      r.values[nodes] = i64(e.nodes);
      r.values[graph] = i64(e.ptr);
      if (e.nested) r.values[nested_calls] = i64(std::popcount(e.nested));
      if (e.flags & GGML_F_HAS_RET) r.values[ret] = i64(e.ret);
      break;
    case GGML_KIND_ALLOC:
    case GGML_KIND_CUDA_ALLOC:
      r.values[duration_ns] = i64(e.duration_ns);
      r.values[bytes] = i64(e.bytes);
      r.values[ptr] = i64(e.ptr);
      break;
    case GGML_KIND_FREE:
    case GGML_KIND_CUDA_FREE:
      r.values[bytes] = i64(e.bytes);
      r.values[ptr] = i64(e.ptr);
      break;
    default:
      r.values[duration_ns] = i64(e.duration_ns);
  }
  return r;
}

std::string human_line(const ggml_event& e, const std::string& call, uint64_t first_ts_ns) {
  double secs = (static_cast<double>(e.ts_ns) - static_cast<double>(first_ts_ns)) / 1e9;
  std::string who =
      sfmt("%s[%" PRIu32 "/%" PRIu32 "]", fixed_string(e.comm, 16).c_str(), e.pid, e.tid);
  std::string line = sfmt("%11.6f ", secs) + pad_right(who, 24) + " " + pad_right(call, 38) + " " +
                     pad_right(kind_name(e.kind), 6);
  switch (e.kind) {
    case GGML_KIND_GRAPH:
      line += sfmt(" nodes=%d ", e.nodes) + duration_text(e.duration_ns);
      if ((e.flags & GGML_F_HAS_RET) && e.ret != 0) line += sfmt(" status=%d", e.ret);
      break;
    case GGML_KIND_ALLOC:
    case GGML_KIND_CUDA_ALLOC:
      line +=
          sfmt(" bytes=%" PRIu64 " ptr=%s ", static_cast<uint64_t>(e.bytes), hex(e.ptr).c_str()) +
          duration_text(e.duration_ns);
      break;
    case GGML_KIND_FREE:
    case GGML_KIND_CUDA_FREE:
      line += sfmt(" bytes=%" PRIu64 " ptr=%s", static_cast<uint64_t>(e.bytes), hex(e.ptr).c_str());
      break;
    default:
      line += " " + duration_text(e.duration_ns);
  }
  return line;
}

void GgmlStats::add(const ggml_event& e, const std::string& call) {
  ProcessStats& p = procs_[e.pid];
  if (p.comm.empty()) p.comm = fixed_string(e.comm, sizeof e.comm);
  switch (e.kind) {
    case GGML_KIND_GRAPH: {
      ++p.graph_computes;
      p.graph_ns += e.duration_ns;
      p.nodes += static_cast<uint64_t>(std::max(e.nodes, 0));
      if (!p.first_ns || e.ts_ns < p.first_ns) p.first_ns = e.ts_ns;
      p.last_ns = std::max<uint64_t>(p.last_ns, e.ts_ns + e.duration_ns);
      CallTotals& t = graph_calls_[call];
      ++t.count;
      t.total_ns += e.duration_ns;
      t.max_ns = std::max<uint64_t>(t.max_ns, e.duration_ns);
      t.nodes += static_cast<uint64_t>(std::max(e.nodes, 0));
      break;
    }
    case GGML_KIND_ALLOC:
      if (!e.ptr) {
        ++p.failed_allocs;
        break;
      }
      ++p.allocs;
      if (auto it = p.live.find(e.ptr); it != p.live.end()) p.live_bytes -= it->second;
      p.live[e.ptr] = e.bytes;
      p.live_bytes += e.bytes;
      p.peak_bytes = std::max(p.peak_bytes, p.live_bytes);
      break;
    case GGML_KIND_FREE: {
      if (!e.ptr) break;  // free(NULL) is a no-op
      ++p.frees;
      auto it = p.live.find(e.ptr);
      if (it == p.live.end()) {
        ++p.unmatched_frees;  // allocated before scope attached
        break;
      }
      p.live_bytes -= it->second;
      p.live.erase(it);
      break;
    }
    default: {
      CallTotals& t = cuda_ops_[call];
      ++t.count;
      t.total_ns += e.duration_ns;
      t.max_ns = std::max<uint64_t>(t.max_ns, e.duration_ns);
      t.nodes += e.bytes;  // pools: bytes asked for
    }
  }
}

void GgmlStats::process_exit(uint32_t pid) { exited_.insert(pid); }

nlohmann::json GgmlStats::leaks_json() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [pid, p] : procs_) {
    std::vector<std::pair<uint64_t, uint64_t>> live(p.live.begin(), p.live.end());
    std::sort(live.begin(), live.end());
    for (const auto& [ptr, bytes] : live)
      out.push_back({{"pid", pid},
                     {"ptr", hex(ptr)},
                     {"bytes", bytes},
                     {"reason", exited_.count(pid) ? "exit" : "end"}});
  }
  return out;
}

nlohmann::json GgmlStats::json() const {
  uint64_t computes = 0, graph_ns = 0, nodes = 0;
  nlohmann::json memory = nlohmann::json::array();
  for (const auto& [pid, p] : procs_) {
    computes += p.graph_computes;
    graph_ns += p.graph_ns;
    nodes += p.nodes;
    if (p.allocs || p.frees)
      memory.push_back({{"pid", pid},
                        {"comm", p.comm},
                        {"live_bytes", p.live_bytes},
                        {"peak_bytes", p.peak_bytes},
                        {"allocs", p.allocs},
                        {"frees", p.frees},
                        {"failed_allocs", p.failed_allocs},
                        {"unmatched_frees", p.unmatched_frees}});
  }
  auto calls = [](const std::map<std::string, CallTotals>& m, const char* extra) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [name, t] : m)
      out.push_back({{"call", name},
                     {"count", t.count},
                     {"total_ns", t.total_ns},
                     {"max_ns", t.max_ns},
                     {extra, t.nodes}});
    return out;
  };
  return {{"graph_computes", computes},
          {"graph_ns", graph_ns},
          {"nodes", nodes},
          {"by_call", calls(graph_calls_, "nodes")},
          {"memory", memory},
          {"leaks", leaks_json()},
          {"cuda_ops", calls(cuda_ops_, "bytes")}};
}

void GgmlStats::print(std::FILE* out) const {
  if (!graph_calls_.empty()) {
    std::fprintf(out, "ggml graph compute (outermost calls)\n");
    std::fprintf(out, "  %-40s %8s %12s %10s %10s %10s\n", "CALL", "COUNT", "TOTAL ms", "AVG ms",
                 "MAX ms", "AVG NODES");
    for (const auto& [name, t] : graph_calls_)
      std::fprintf(out, "  %-40s %8" PRIu64 " %12.3f %10.3f %10.3f %10.1f\n", name.c_str(), t.count,
                   static_cast<double>(t.total_ns) / 1e6,
                   static_cast<double>(t.total_ns) / 1e6 / static_cast<double>(t.count),
                   static_cast<double>(t.max_ns) / 1e6,
                   static_cast<double>(t.nodes) / static_cast<double>(t.count));
  }
  if (!cuda_ops_.empty()) {
    std::fprintf(out, "libggml-cuda functions (host time)\n");
    std::fprintf(out, "  %-40s %8s %12s %10s\n", "CALL", "COUNT", "TOTAL ms", "MAX ms");
    for (const auto& [name, t] : cuda_ops_)
      std::fprintf(out, "  %-40s %8" PRIu64 " %12.3f %10.3f\n", name.c_str(), t.count,
                   static_cast<double>(t.total_ns) / 1e6, static_cast<double>(t.max_ns) / 1e6);
  }
  bool any_memory = false;
  for (const auto& [pid, p] : procs_) any_memory |= p.allocs || p.frees;
  if (any_memory) {
    std::fprintf(out, "ggml CPU buffers (ggml_aligned_malloc/free)\n");
    std::fprintf(out, "  %8s %-16s %12s %12s %8s %8s %10s\n", "PID", "COMM", "LIVE", "PEAK",
                 "ALLOCS", "FREES", "UNMATCHED");
    for (const auto& [pid, p] : procs_) {
      if (!p.allocs && !p.frees) continue;
      std::fprintf(out, "  %8u %-16s %12s %12s %8" PRIu64 " %8" PRIu64 " %10" PRIu64 "\n", pid,
                   p.comm.c_str(), bytes_text(p.live_bytes).c_str(),
                   bytes_text(p.peak_bytes).c_str(), p.allocs, p.frees, p.unmatched_frees);
    }
  }
  auto leaks = leaks_json();
  if (!leaks.empty()) {
    std::fprintf(out, "ggml leaks (allocated, never freed)\n");
    std::fprintf(out, "  %8s %-20s %14s %s\n", "PID", "PTR", "BYTES", "REASON");
    size_t shown = 0;
    for (const auto& l : leaks) {
      if (++shown > 20) {
        std::fprintf(out, "  ... %zu more\n", leaks.size() - 20);
        break;
      }
      std::fprintf(out, "  %8u %-20s %14" PRIu64 " %s\n", l["pid"].get<uint32_t>(),
                   l["ptr"].get<std::string>().c_str(), l["bytes"].get<uint64_t>(),
                   l["reason"].get<std::string>().c_str());
    }
  }
}

}  // namespace ggml

namespace {

class GgmlFamily : public LibraryFamily<ggml_bpf> {
 public:
  GgmlFamily()
      : LibraryFamily("ggml", {ggml_bpf__open, ggml_bpf__load, ggml_bpf__attach, ggml_bpf__destroy},
                      LibraryProbes("ggml", ggml::expected_symbols(), {"libggml"},
                                    [this](const discover::ElfFile& elf, const std::string& path) {
                                      return ggml::match_symbols(elf, path, names_);
                                    })) {}

  Status start(const FamilyContext& ctx) override {
    return start_skeleton(ctx, [](ggml_bpf* s) {
      auto& p = s->progs;
      LibraryPrograms out{{p.graph_entry, p.graph_return, p.alloc_entry, p.alloc_return,
                           p.free_entry, p.op_entry, p.op_return},
                          p.ggml_exit,
                          std::vector<LibraryProbes::Programs>(ggml::kProgramCount)};
      out.per_symbol[ggml::kGraphPrograms] = {p.graph_entry, p.graph_return};
      out.per_symbol[ggml::kAllocPrograms] = {p.alloc_entry, p.alloc_return};
      out.per_symbol[ggml::kFreePrograms] = {p.free_entry, nullptr};
      out.per_symbol[ggml::kOpPrograms] = {p.op_entry, p.op_return};
      return out;
    });
  }

  int handle_record(const void* data, size_t size) override {
    auto e = ggml::decode(data, size);
    if (!count_record(e ? &*e : nullptr)) return 0;
    const std::string& call = names_.name(e->call);
    stats_.add(*e, call);
    nested_.add(*e);
    for (uint16_t id : nested_.to_detach()) {
      probes_.detach(names_.name(id));
      detached_.push_back(names_.name(id));
    }
    int64_t to_unix = ctx_.mono_to_unix_ns;
    families::emit(
        ctx_.sink, static_cast<uint64_t>(static_cast<int64_t>(e->ts_ns) + to_unix),
        [&] { return ggml::row(*e, call, to_unix); },
        [&](uint64_t start) {
          return ggml::human_line(*e, call,
                                  static_cast<uint64_t>(static_cast<int64_t>(start) - to_unix));
        });
    return 0;
  }

  void on_process_exit(uint32_t pid, int /*exit_code*/) override { stats_.process_exit(pid); }
  std::vector<std::string> hold_names() const override { return {"libggml"}; }
  void see_families(const std::vector<const Family*>& all) override {
    llama_present_ = false;
    for (const auto* f : all)
      if (f->name() == "llama" && f->running()) llama_present_ = true;
  }

  nlohmann::json summary_json() const override {
    nlohmann::json j = with_libraries(stats_.json());
    j["detached_nested"] = detached_;
    return j;
  }

  void print_summary(std::FILE* out) const override {
    print_library_report(out);
    if (!detached_.empty()) {
      std::string names;
      for (const auto& n : detached_) names += (names.empty() ? "" : ", ") + n;
      std::fprintf(out, "  detached (only ever called inside another graph compute): %s\n",
                   names.c_str());
    }
    // Without the llama family, the per-process table is ggml's alone.
    if (!llama_present_) print_llm_table(out, nullptr, &stats_);
    stats_.print(out);
  }

  const ggml::GgmlStats& stats() const { return stats_; }

 private:
  ggml::CallNames names_;
  ggml::GgmlStats stats_;
  ggml::NestedGraphProbes nested_;
  std::vector<std::string> detached_;
  bool llama_present_ = false;
};

}  // namespace

const ggml::GgmlStats* ggml_stats_of(const Family* family) {
  auto* g = dynamic_cast<const GgmlFamily*>(family);
  return g ? &g->stats() : nullptr;
}

std::unique_ptr<Family> make_ggml_family() { return std::make_unique<GgmlFamily>(); }

}  // namespace scope::families
