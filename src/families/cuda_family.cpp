// The cuda family: the CUDA runtime and driver probed where processes map them
// (libcudart.so.* at any path, pip's copies included, a runtime linked into an
// executable, libcuda.so.*), decoded into CudaEvents with their kernels named,
// and accounted (memory, leaks, copies, sync) for the summary.
//
// Both layers are probed; a runtime call that enters the driver is one event
// (bpf/cuda.bpf.c). Launches are probed at the driver only, entry only (one
// trap per launch); the runtime's launch functions are probed where no driver
// can be found for a runtime, and for a while to name the kernels of a
// process that loaded them before scope attached.
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "bpf/shared/cuda.h"
#include "cuda.skel.h"
#include "discover/cuda_libraries.h"
#include "discover/demangle.h"
#include "discover/ld_search.h"
#include "discover/symbolizer.h"
#include "event/cuda_decode.h"
#include "families/cuda_accounting.h"
#include "families/cuda_output.h"
#include "families/kernel_names.h"
#include "families/library_family.h"

namespace scope::families {

namespace {

using discover::CudaLibraryKind;

// LibraryProbes' program pairs.
enum Programs {
  kCallPrograms = 0,
  kDriverLaunchPrograms = 1,
  kNamePrograms = 2,
  kGpuPrograms = 3,  // scope's CUPTI injection library
  kProgramCount
};
// The runtime's launch functions: attached only when asked (set_tagged).
const std::string kLaunchTag = "runtime_launch";

class CudaFamily final : public LibraryFamily<cuda_bpf> {
 public:
  CudaFamily()
      : LibraryFamily("cuda", {cuda_bpf__open, cuda_bpf__load, cuda_bpf__attach, cuda_bpf__destroy},
                      LibraryProbes("cuda", {}, {"libcuda"},
                                    [this](const discover::ElfFile& elf, const std::string& path) {
                                      return match(elf, path);
                                    })),
        naming_([this](uint32_t pid, uint64_t addr) {
          return symbolizer_.symbol_at(static_cast<int>(pid), addr);
        }) {}

  Status start(const FamilyContext& ctx) override {
    auto st = start_skeleton(ctx, [&](cuda_bpf* s) {
      s->rodata->wakeup_bytes = ctx.options.wakeup_bytes;
      uint64_t ring = 4096;
      while (ring < ctx.options.ring_bytes) ring <<= 1;  // a power of two, as the kernel wants
      bpf_map__set_max_entries(s->maps.events, ring);
      auto& p = s->progs;
      LibraryPrograms out{{p.call_entry, p.call_return, p.driver_launch, p.name_entry,
                           p.name_return, p.gpu_activity},
                          p.cuda_exit,
                          std::vector<LibraryProbes::Programs>(kProgramCount)};
      out.per_symbol[kCallPrograms] = {p.call_entry, p.call_return};
      out.per_symbol[kDriverLaunchPrograms] = {p.driver_launch, nullptr};
      out.per_symbol[kNamePrograms] = {p.name_entry, p.name_return};
      out.per_symbol[kGpuPrograms] = {p.gpu_activity, nullptr};
      return out;
    });
    if (!st) return st;
    // The host's driver (from the loader cache): every launch goes through it, so a process
    // started later is seen from its first launch.
    for (const auto& path : discover::ld_cache_paths("libcuda.so.1")) (void)on_library({0, path});
    return Ok{};
  }

  // --- the process watch --------------------------------------------------------------------

  bool on_library(const LibraryFile& file) override {
    auto m = probes_.on_library(file.path);
    if (!m.library) return false;
    if (m.first_time) {
      const File& f = files_[m.key] = File{file.path, kinds_[file.path]};
      spdlog::info("cuda: {} is a CUDA {}", file.path, discover::to_string(f.kind));
      if (f.kind == CudaLibraryKind::kRuntime || f.kind == CudaLibraryKind::kStaticRuntime)
        find_driver(m.key, file);
    }
    return true;
  }

  void on_maps(uint32_t pid, const std::vector<discover::Mapping>& maps,
               const std::vector<std::string>& taken) override {
    if (taken.empty()) return;
    for (const auto& key : taken)
      if (auto f = files_.find(key); f != files_.end() &&
                                     f->second.kind != CudaLibraryKind::kDriver &&
                                     f->second.kind != CudaLibraryKind::kGpuActivity)
        runtimes_of_[pid].insert(key);
    // Kept while a held process still waits: a short-lived process may be gone by the time its
    // launches are named from its host stubs.
    symbolizer_.set_maps(static_cast<int>(pid), maps);
  }

  void on_exec(uint32_t pid) override { forget(pid); }

  void on_process_exit(uint32_t pid, int /*exit_code*/) override {
    acct_.process_exit(pid);
    forget(pid);
  }

  // libscope_cupti: a program given scope's CUPTI library waits until it is probed, so that its
  // first GPU records and its status are seen.
  std::vector<std::string> hold_names() const override { return {"libcuda", "libscope_cupti"}; }
  std::string looked_for() const override {
    return "no CUDA library (libcudart, libcuda, or the runtime linked in)";
  }

  // --- records ------------------------------------------------------------------------------

  int handle_record(const void* data, size_t size) override {
    auto type = cuda_record_type(data, size);
    if (!type) return count(false), 0;
    if (*type == REC_GPU) return on_gpu_records(data), 0;
    if (*type == REC_GPU_NAME || *type == REC_GPU_STATUS) {
      cuda_name_event rec;
      std::memcpy(&rec, data, sizeof rec);
      std::string text(rec.name, std::min<size_t>(rec.name_len, sizeof rec.name));
      if (*type == REC_GPU_NAME)
        gpu_names_[{rec.pid, static_cast<uint32_t>(rec.handle)}] = discover::demangle(text);
      else
        on_gpu_status(rec.pid, rec.ret, text);
      return 0;
    }
    if (*type == REC_NAME) {
      cuda_name_event rec;
      std::memcpy(&rec, data, sizeof rec);  // ring records are only 8-byte aligned
      naming_.learn(rec);
      return 0;
    }
    cuda_event rec;
    std::memcpy(&rec, data, sizeof rec);
    count(true);
    CudaEvent ev = decode_cuda_event(rec, ctx_.mono_to_unix_ns);
    if (ev.op == CUDA_OP_LAUNCH && naming_.name_launch(ev, rec.flags & CUDA_F_STUB_IS_CALLER))
      begin_naming(ev.pid);
    acct_.add(ev);
    families::emit(
        ctx_.sink, ev.ts_ns, [&] { return cuda_row(ev); },
        [&](uint64_t start) { return format_cuda_line(ev, start); });
    return 0;
  }

  void tick(int64_t /*now*/) override {
    read_drops();
    if (naming_keys_.empty() || std::chrono::steady_clock::now() < naming_until_) return;
    for (const auto& key : naming_keys_)
      if (!files_[key].driverless) (void)probes_.set_tagged(key, kLaunchTag, false);
    naming_keys_.clear();
  }

  void finish() override {
    acct_.finish();
    for (const auto& [kernel, n] : naming_.named_later()) acct_.name_launches(kernel, n);
  }

  nlohmann::json summary_json() const override {
    auto j = cuda_summary_json(acct_);
    j["attached"] = probes_.attached_paths();
    j["problems"] = probes_.problems();
    return j;
  }
  void print_summary(std::FILE* out) const override { print_cuda_summary(out, acct_); }

 private:
  struct File {
    std::string path;
    CudaLibraryKind kind = CudaLibraryKind::kNone;
    bool driverless = false;  // no driver resolvable: launches are seen at the runtime only
  };

  // The calls of `elf`'s layer it defines, and how to probe them.
  std::vector<LibrarySymbol> match(const discover::ElfFile& elf, const std::string& path) {
    CudaLibraryKind kind = discover::classify_file(elf, path);
    if (kind == CudaLibraryKind::kNone) return {};
    kinds_[path] = kind;
    int layer = kind == CudaLibraryKind::kDriver        ? CUDA_LAYER_DRIVER
                : kind == CudaLibraryKind::kGpuActivity ? CUDA_LAYER_ACTIVITY
                                                        : CUDA_LAYER_RUNTIME;
    std::vector<LibrarySymbol> out;
    for (uint16_t call = 1; call < CALL_COUNT; ++call) {
      if (cuda_call_layer(call) != layer) continue;
      std::string symbol(cuda_call_name(call));
      auto sym = elf.find(symbol);
      if (!sym) continue;
      auto off = elf.file_offset(sym->vaddr);
      if (!off) continue;
      LibrarySymbol s{symbol, call, kCallPrograms, *off, "", false};
      if (cuda_call_op(call) == CUDA_OP_GPU) {
        s.programs = kGpuPrograms;
      } else if (cuda_call_op(call) == CUDA_OP_NAME) {
        s.programs = kNamePrograms;
      } else if (cuda_call_op(call) == CUDA_OP_LAUNCH) {
        // Every launch reaches the driver, which reports it with one trap; the runtime's own
        // launch functions only where the driver cannot see them, or to name kernels.
        if (layer == CUDA_LAYER_DRIVER) {
          s.programs = kDriverLaunchPrograms;
        } else {
          s.tag = kLaunchTag;
          s.deferred = true;
        }
      }
      out.push_back(s);
    }
    return out;
  }

  // A runtime dlopens libcuda.so.1 at its first call: find that file now, as its loader would
  // (the runtime's DT_RPATH, the executable's, LD_LIBRARY_PATH, RUNPATH, the cache), and attach
  // before it is mapped. Without one, the runtime's launch functions are probed for good.
  void find_driver(const std::string& runtime_key, const LibraryFile& runtime) {
    auto elf = discover::ElfFile::open(runtime.path);
    std::vector<std::string> env, exe_rpath;
    if (runtime.loader) {
      env = runtime.loader->environ();
      exe_rpath = discover::executable_rpath(runtime.loader->exe(), runtime.loader->exe_as_seen());
    }
    std::vector<std::string> candidates;
    if (auto p = discover::resolve_library("libcuda.so.1", elf ? &*elf : nullptr, runtime.path,
                                           discover::SearchEnv::from_environ(env), exe_rpath))
      candidates.push_back(*p);
    for (const auto& p : discover::ld_cache_paths("libcuda.so.1")) candidates.push_back(p);
    for (const auto& c : candidates) (void)on_library({0, c, runtime.loader});
    // A driver attached earlier (from maps or another runtime) counts too.
    bool found = false;
    for (const auto& [key, f] : files_) found |= f.kind == CudaLibraryKind::kDriver;
    File& f = files_[runtime_key];
    f.driverless = !found;
    if (f.driverless) {
      spdlog::info("cuda: no CUDA driver found for {}: probing its launch functions", f.path);
      (void)probes_.set_tagged(runtime_key, kLaunchTag, true);
    }
  }

  // A launch of a handle never named: the runtime's launch functions of the process's runtimes
  // are probed for a while (their host stubs name kernels).
  void begin_naming(uint32_t pid) {
    auto it = runtimes_of_.find(pid);
    if (it == runtimes_of_.end()) return;
    naming_until_ = std::chrono::steady_clock::now() + ctx_.options.naming_window;
    for (const auto& key : it->second) {
      if (probes_.tagged_attached(key, kLaunchTag)) continue;
      if (probes_.set_tagged(key, kLaunchTag, true)) naming_keys_.insert(key);
    }
  }

  // GPU records from scope's CUPTI library: one event each, named by the names it sent first.
  void on_gpu_records(const void* data) {
    cuda_gpu_event rec;
    std::memcpy(&rec, data, sizeof rec);
    uint32_t n = std::min<uint32_t>(rec.count, GPU_BATCH_MAX);
    for (uint32_t i = 0; i < n; ++i) {
      CudaEvent ev = decode_gpu_record(rec, i);
      if (auto it = gpu_names_.find({rec.pid, rec.records[i].name_id}); it != gpu_names_.end())
        ev.kernel = it->second;
      count(true);
      acct_.add(ev);
      families::emit(
          ctx_.sink, ev.ts_ns, [&] { return cuda_row(ev); },
          [&](uint64_t start) { return format_cuda_line(ev, start); });
    }
  }

  void on_gpu_status(uint32_t pid, int32_t code, const std::string& message) {
    if (code == GPU_STATUS_ON)
      spdlog::info("cuda: pid {}: GPU times on (CUPTI)", pid);
    else
      spdlog::warn("cuda: pid {}: {}", pid, message);
    acct_.gpu_status(pid, code, message);
  }

  void forget(uint32_t pid) {
    naming_.forget(pid);
    std::erase_if(gpu_names_, [pid](const auto& kv) { return kv.first.first == pid; });
    runtimes_of_.erase(pid);
    symbolizer_.invalidate(static_cast<int>(pid));
  }

  void release_links() override {
    LibraryFamily::release_links();
    files_.clear();
    naming_keys_.clear();
  }

  std::map<std::pair<uint32_t, uint32_t>, std::string> gpu_names_;  // (pid, name id) -> kernel
  discover::ProcessSymbolizer symbolizer_;
  KernelNaming naming_;
  CudaAccounting acct_;
  std::map<std::string, File> files_;             // by file key
  std::map<std::string, CudaLibraryKind> kinds_;  // by path, as match() classified them
  std::unordered_map<uint32_t, std::set<std::string>> runtimes_of_;  // pid -> runtime keys
  std::chrono::steady_clock::time_point naming_until_{};
  std::set<std::string> naming_keys_;  // runtimes whose launches are probed to name kernels
};

}  // namespace

std::unique_ptr<Family> make_cuda_family() { return std::make_unique<CudaFamily>(); }

}  // namespace scope::families
