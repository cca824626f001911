#include "agent/cuda_tracer.h"

#include <dirent.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <cstring>

#include "discover/cuda_libraries.h"
#include "discover/demangle.h"
#include "discover/elf_file.h"
#include "discover/ld_search.h"
#include "discover/proc_maps.h"
#include "event/cuda_decode.h"

namespace scope::agent {

namespace {

using discover::CudaLibraryKind;
using discover::file_key;

struct CallInfo {
  const char* symbol;
  int layer;
  int op;
};

#define SCOPE_CALL_INFO(id, sym, layer, op, args, kind, async, mem) \
  {#sym, CUDA_LAYER_##layer, CUDA_OP_##op},
const CallInfo kCalls[] = {{"", 0, 0}, CUDA_CALLS(SCOPE_CALL_INFO)};
#undef SCOPE_CALL_INFO
static_assert(sizeof(kCalls) / sizeof(kCalls[0]) == CALL_COUNT);

bool is_loader_path(const std::string& path) {
  auto slash = path.rfind('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  return base.rfind("ld-linux", 0) == 0 ||
         (base.rfind("ld-", 0) == 0 && base.find(".so") != std::string::npos);
}

}  // namespace

int64_t clock_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int64_t mono_to_unix_ns() { return clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC); }

Result<std::unique_ptr<CudaTracer>> CudaTracer::create(const CudaTracerOptions& options,
                                                       EventSink on_event, ExitSink on_exit) {
  std::unique_ptr<CudaTracer> tracer(new CudaTracer(options));
  probe::CudaProbeOptions popts;
  popts.filter = options.filter;
  popts.ring_bytes = options.ring_bytes;
  popts.wakeup_bytes = options.wakeup_bytes;
  popts.hold_cuda_loads = options.hold_cuda_loads;
  auto probe = probe::CudaProbe::open(popts);
  if (!probe) return make_error(probe.error());
  tracer->probe_ = std::move(probe.value());
  tracer->on_event_ = std::move(on_event);
  tracer->on_exit_ = std::move(on_exit);
  tracer->mono_to_unix_ns_ = mono_to_unix_ns();
  if (auto st = tracer->probe_->open_ring(&CudaTracer::on_record, tracer.get()); !st)
    return make_error(st.error());
  return tracer;
}

CudaTracer::~CudaTracer() { release_held(); }

uint64_t CudaTracer::dropped() const { return probe_->dropped(); }

void CudaTracer::note_problem(const std::string& line) {
  if (problem_set_.insert(line).second) {
    problems_.push_back(line);
    spdlog::warn("{}", line);
  }
}

void CudaTracer::attach_loader(const std::string& path) {
  std::string key = file_key(path);
  if (key.empty() || loader_hooks_.count(key)) return;
  loader_hooks_.insert(key);
  auto elf = discover::ElfFile::open(path);
  if (!elf) return;
  auto sym = elf->find("_dl_debug_state");
  if (!sym) {
    spdlog::debug("{} has no _dl_debug_state: dlopen will be found by rescans only", path);
    return;
  }
  auto off = elf->file_offset(sym->vaddr);
  if (!off) return;
  // glibc's loader calls the hook before mapping objects (RT_ADD) and after (RT_CONSISTENT):
  // with `_r_debug` known the hook holds a process at the second call only.
  auto r_debug = elf->object_vaddr("_r_debug");
  int64_t delta = r_debug ? static_cast<int64_t>(*r_debug - sym->vaddr) : 0;
  if (auto st = probe_->attach_loader_hook("ldso:" + key, path, *off, delta); !st)
    spdlog::debug("{}", st.error());
}

std::vector<std::string> CudaTracer::LoaderEnv::get() const {
  if (environ) return *environ;
  if (pid) {
    if (auto env = discover::read_environ(pid)) return *env;
  }
  return {};
}

std::string CudaTracer::attach_file(const std::string& path, const LoaderEnv& env) {
  std::string key = file_key(path);
  if (key.empty()) return {};
  if (files_.count(key)) return key;
  if (scanned_paths_.count(key)) return {};  // known not to be CUDA
  CudaLibraryKind kind = discover::classify_path(path);
  auto elf = discover::ElfFile::open(path);
  if (!elf) {
    if (kind != CudaLibraryKind::kNone)
      note_problem("scope: cannot read " + path + ": " + elf.error());
    scanned_paths_.insert(key);
    return {};
  }
  CudaLibraryKind file_kind = discover::classify_file(*elf, path);
  if (file_kind != CudaLibraryKind::kNone) kind = file_kind;
  if (kind == CudaLibraryKind::kNone) {
    scanned_paths_.insert(key);
    return {};
  }
  int layer = kind == CudaLibraryKind::kDriver ? CUDA_LAYER_DRIVER : CUDA_LAYER_RUNTIME;

  std::vector<probe::ProbePoint> calls, launches, names;
  for (uint16_t call = 1; call < CALL_COUNT; ++call) {
    if (kCalls[call].layer != layer) continue;
    auto sym = elf->find(kCalls[call].symbol);
    if (!sym) continue;
    auto off = elf->file_offset(sym->vaddr);
    if (!off) continue;
    probe::ProbePoint point{call, *off};
    if (kCalls[call].op == CUDA_OP_LAUNCH)
      launches.push_back(point);
    else if (kCalls[call].op == CUDA_OP_NAME)
      names.push_back(point);
    else
      calls.push_back(point);
  }
  scanned_paths_.insert(key);
  if (calls.empty() && launches.empty() && names.empty()) {
    if (kind == CudaLibraryKind::kStaticRuntime) {
      note_problem("scope: " + path +
                   " links the CUDA runtime statically but has no symbol table: its calls are "
                   "seen at the driver only");
    } else {
      note_problem("scope: " + path + " has no CUDA " +
                   std::string(layer == CUDA_LAYER_DRIVER ? "driver" : "runtime") +
                   " symbols (stripped, or not a CUDA library): nothing attached to it");
    }
    return {};
  }

  FileInfo info;
  info.path = path;
  info.kind = static_cast<int>(kind);
  size_t n = 0;
  auto attach = [&](const std::string& group, const std::vector<probe::ProbePoint>& points,
                    probe::ProbeKind pk) {
    if (points.empty()) return;
    auto r = probe_->attach(group, path, points, pk);
    if (!r)
      note_problem("scope: " + r.error());
    else
      n += *r;
  };
  attach(key, calls, probe::ProbeKind::kCall);
  if (layer == CUDA_LAYER_DRIVER) {
    attach(key + ":launch", launches, probe::ProbeKind::kDriverLaunch);
    attach(key + ":names", names, probe::ProbeKind::kName);
  } else {
    attach(key + ":names", names, probe::ProbeKind::kName);
    // The runtime's launches reach the driver, which reports them with one
    // trap; the runtime's own launch functions are probed only where the
    // driver cannot see them or to name kernels (begin_naming).
    info.launch_group = key + ":launch";
    info.launch_points = launches;
  }
  files_[key] = info;
  attached_files_.push_back(path);
  spdlog::info("attached {} probes to {} ({})", n, path, discover::to_string(kind));

  if (layer == CUDA_LAYER_RUNTIME) {
    attach_driver_candidates(path, env.get(), files_[key]);
    if (files_[key].driverless || force_runtime_launches_) set_runtime_launch_probes(key, true);
  }
  return key;
}

// The runtime dlopens libcuda.so.1 at its first call: find that file now, as
// the loader would, and attach before it is mapped.
void CudaTracer::attach_driver_candidates(const std::string& runtime_path,
                                          const std::vector<std::string>& environ, FileInfo& info) {
  auto elf = discover::ElfFile::open(runtime_path);
  auto env = discover::SearchEnv::from_environ(environ);
  std::vector<std::string> candidates;
  if (auto p = discover::resolve_library("libcuda.so.1", elf ? &*elf : nullptr, runtime_path, env))
    candidates.push_back(*p);
  for (const auto& p : discover::ld_cache_paths("libcuda.so.1")) candidates.push_back(p);
  bool found = false;
  for (const auto& c : candidates) {
    if (!attach_file(c, {}).empty()) found = true;
  }
  // A driver attached earlier (from maps or another runtime) counts too.
  for (const auto& [k, f] : files_)
    if (f.kind == static_cast<int>(CudaLibraryKind::kDriver)) found = true;
  info.driverless = !found;
  if (!found)
    spdlog::info("no CUDA driver found for {}: probing its launch functions", runtime_path);
}

void CudaTracer::set_runtime_launch_probes(const std::string& key, bool on) {
  auto it = files_.find(key);
  if (it == files_.end() || it->second.launch_points.empty()) return;
  FileInfo& f = it->second;
  if (on == f.launch_attached) return;
  if (on) {
    auto r = probe_->attach(f.launch_group, f.path, f.launch_points, probe::ProbeKind::kCall);
    if (!r) {
      note_problem("scope: " + r.error());
      return;
    }
  } else {
    probe_->detach(f.launch_group);
  }
  f.launch_attached = on;
  spdlog::debug("runtime launch probes {} on {}", on ? "on" : "off", f.path);
}

void CudaTracer::force_runtime_launch_probes() {
  force_runtime_launches_ = true;
  for (auto& [key, f] : files_) set_runtime_launch_probes(key, true);
}

Result<size_t> CudaTracer::scan_process(uint32_t pid) {
  auto maps = discover::read_maps(pid);
  if (!maps) return make_error("pid " + std::to_string(pid) + " has exited (" + maps.error() + ")");
  size_t cuda = 0, listened = 0;
  auto count_cuda = [&](const std::string& key) {
    ++cuda;
    if (files_[key].kind != static_cast<int>(CudaLibraryKind::kDriver)) pid_files_[pid].insert(key);
  };
  for (const auto& [file, map_key] : discover::mapped_file_keys(*maps)) {
    // A file handled before, known by the device and inode its maps line gives: this pid's
    // bookkeeping only, without a stat or an ELF read (a held process waits for this scan).
    if (auto seen = handled_files_.find(map_key); seen != handled_files_.end()) {
      if (seen->second) ++listened;
      if (options_.cuda && files_.count(map_key)) count_cuda(map_key);
      continue;
    }
    std::string path = discover::host_path(pid, file);
    if (is_loader_path(file)) {
      attach_loader(path);
      handled_files_[map_key] = false;
      continue;
    }
    bool listens = options_.on_library && options_.on_library(pid, path);
    if (listens) ++listened;
    std::string key = options_.cuda ? attach_file(path, {.pid = pid}) : std::string();
    if (!key.empty()) count_cuda(key);
    // Remembered only when the maps' identity is the one the file was handled under.
    if (key.empty() || key == map_key) handled_files_[map_key] = listens;
  }
  // Keep the maps read now (a held process is still stopped): a short-lived
  // process may be gone by the time its launches are named from host stubs.
  if (cuda) symbolizer_.set_maps(static_cast<int>(pid), std::move(*maps));
  return cuda + listened;
}

void CudaTracer::attach_host_driver() {
  if (!options_.cuda) return;
  for (const auto& path : discover::ld_cache_paths("libcuda.so.1")) (void)attach_file(path, {});
}

void CudaTracer::scan_all_processes() {
  DIR* dir = opendir("/proc");
  if (!dir) return;
  while (dirent* de = readdir(dir)) {
    char* end = nullptr;
    long pid = strtol(de->d_name, &end, 10);
    if (!end || *end || pid <= 0) continue;
    (void)scan_process(static_cast<uint32_t>(pid));
  }
  closedir(dir);
}

Status CudaTracer::prepare_command(const std::string& exe,
                                   const std::vector<std::string>& environ) {
  auto env = discover::SearchEnv::from_environ(environ);
  auto elf = discover::ElfFile::open(exe);
  if (elf && !elf->interpreter().empty()) attach_loader(elf->interpreter());
  for (const auto& file : discover::needed_closure(exe, env)) {
    if (is_loader_path(file)) {
      attach_loader(file);
      continue;
    }
    if (options_.on_library) (void)options_.on_library(0, file);
    if (options_.cuda) (void)attach_file(file, {.environ = &environ});
  }
  return Ok{};
}

int CudaTracer::on_record(void* ctx, void* data, size_t size) {
  return static_cast<CudaTracer*>(ctx)->handle_record(data, size);
}

int CudaTracer::handle_record(const void* data, size_t size) {
  ++stats_.records;
  auto type = cuda_record_type(data, size);
  if (!type) {
    ++stats_.decode_errors;
    return 0;
  }
  // Copies: ring-buffer records are only 8-byte aligned.
  if (*type == REC_CUDA) {
    cuda_event rec;
    std::memcpy(&rec, data, sizeof(rec));
    handle_cuda(rec);
  } else if (*type == REC_NAME) {
    handle_name(*static_cast<const cuda_name_event*>(data));
  } else {
    loader_event rec;
    std::memcpy(&rec, data, sizeof(rec));
    handle_loader(rec);
  }
  return 0;
}

void CudaTracer::handle_cuda(const cuda_event& rec) {
  ++stats_.cuda_events;
  CudaEvent ev = decode_cuda_event(rec, mono_to_unix_ns_);
  if (ev.op == CUDA_OP_LAUNCH) {
    if (ev.stub) {
      // The host stub (or, for nvcc 13's __cudaLaunchKernel, a return address
      // inside it) is named by its ELF symbol.
      if (!names_.known(ev.pid, ev.stub)) {
        auto sym = symbolizer_.symbolize(static_cast<int>(ev.pid), ev.stub);
        std::string name = sym ? *sym : std::string();
        if (rec.flags & CUDA_F_STUB_IS_CALLER) name = kernel_from_device_stub(name);
        names_.learn(ev.pid, ev.stub, name.empty() ? std::string("?") : name);
      }
      ev.kernel = names_.lookup(ev.pid, ev.stub);
      if (ev.kernel == "?") ev.kernel.clear();
      if (!ev.kernel.empty() && ev.handle && !names_.known(ev.pid, ev.handle))
        names_.learn(ev.pid, ev.handle, ev.kernel);
    }
    if (ev.kernel.empty()) ev.kernel = names_.lookup(ev.pid, ev.handle);
    // A handle never named before: probe the runtime's launches for a while,
    // whose host stubs carry names (a process traced since before it loaded
    // its kernels never needs this).
    if (ev.kernel.empty() && names_.note_unnamed(ev.pid, ev.handle)) begin_naming(ev.pid);
  }
  on_event_(ev);
}

void CudaTracer::handle_name(const cuda_name_event& rec) {
  ++stats_.name_events;
  if (rec.ret != 0 || rec.handle == 0) return;
  if (rec.call == CALL___cudaGetKernel) {  // kernel handle <- host stub
    auto name = symbolizer_.symbolize(static_cast<int>(rec.pid), rec.parent);
    if (name) names_.learn(rec.pid, rec.handle, *name);
    return;
  }
  if (rec.call == CALL_cuKernelGetFunction) {
    names_.alias(rec.pid, rec.handle, rec.parent);
    return;
  }
  size_t len = std::min<size_t>(rec.name_len, CUDA_NAME_MAX - 1);
  std::string mangled(rec.name, strnlen(rec.name, len));
  names_.learn(rec.pid, rec.handle, discover::demangle(mangled));
}

void CudaTracer::begin_naming(uint32_t pid) {
  auto it = pid_files_.find(pid);
  if (it == pid_files_.end()) return;
  naming_until_ = std::chrono::steady_clock::now() + options_.naming_window;
  for (const auto& key : it->second) {
    auto f = files_.find(key);
    if (f == files_.end() || f->second.launch_attached) continue;
    set_runtime_launch_probes(key, true);
    naming_keys_.insert(key);
  }
}

void CudaTracer::resume(uint32_t pid) {
  if (held_.erase(pid)) kill(static_cast<pid_t>(pid), SIGCONT);
}

void CudaTracer::handle_loader(const loader_event& rec) {
  ++stats_.loader_events;
  switch (rec.what) {
    case LOADER_EXEC:
    case LOADER_DLOPEN:
      if (rec.held) {
        held_.insert(rec.pid);
        ++(rec.what == LOADER_EXEC ? stats_.held_at_exec : stats_.held_at_loader);
      }
      if (rec.what == LOADER_EXEC) {
        names_.forget(rec.pid);
        pid_files_.erase(rec.pid);
      }
      symbolizer_.invalidate(static_cast<int>(rec.pid));
      (void)scan_process(rec.pid);  // also hands its maps to the symbolizer
      resume(rec.pid);
      break;
    case LOADER_EXIT: {
      held_.erase(rec.pid);
      int status = static_cast<int>(rec.ppid);
      on_exit_(rec.pid, status);
      names_.forget(rec.pid);
      pid_files_.erase(rec.pid);
      symbolizer_.invalidate(static_cast<int>(rec.pid));
      break;
    }
    default:
      ++stats_.decode_errors;
  }
}

int CudaTracer::poll(int timeout_ms) {
  int n = probe_->poll(timeout_ms);
  if (!naming_keys_.empty() && std::chrono::steady_clock::now() > naming_until_) {
    for (const auto& key : naming_keys_) {
      auto f = files_.find(key);
      if (f != files_.end() && !f->second.driverless && !force_runtime_launches_)
        set_runtime_launch_probes(key, false);
    }
    naming_keys_.clear();
  }
  return n;
}

void CudaTracer::drain() {
  while (probe_->consume() > 0) {
  }
}

void CudaTracer::release_held() {
  for (uint32_t pid : held_) kill(static_cast<pid_t>(pid), SIGCONT);
  held_.clear();
}

}  // namespace scope::agent
