#include "families/kernel_names.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>
#include <utility>

#include "discover/demangle.h"

namespace scope::families {

namespace {
const KernelSymbol kEmpty;
const std::string kUnknown = "?";  // a host stub without a symbol: not asked again
}  // namespace

std::string kernel_from_device_stub(const std::string& stub_name) {
  static const std::string kPrefix = "__device_stub__";
  auto pos = stub_name.find(kPrefix);
  if (pos == std::string::npos) return stub_name;
  size_t start = pos + kPrefix.size();
  size_t end = start;
  while (end < stub_name.size() &&
         (std::isalnum(static_cast<unsigned char>(stub_name[end])) || stub_name[end] == '_'))
    ++end;
  std::string mangled = "_" + stub_name.substr(start, end - start);
  std::string name = discover::demangle(mangled);
  return name == mangled ? stub_name.substr(start, end - start) : name;
}

void KernelNames::learn(uint32_t pid, uint64_t handle, const std::string& name) {
  learn(pid, handle, KernelSymbol{name, {}, 0});
}

void KernelNames::learn(uint32_t pid, uint64_t handle, KernelSymbol kernel) {
  if (handle == 0 || kernel.name.empty()) return;
  procs_[pid].names[handle] = std::move(kernel);
}

void KernelNames::alias(uint32_t pid, uint64_t function, uint64_t kernel) {
  if (function == 0) return;
  Process& p = procs_[pid];
  p.function_kernel[function] = kernel;
  auto it = p.names.find(kernel);
  if (it != p.names.end()) p.names[function] = it->second;
}

const KernelSymbol& KernelNames::kernel(uint32_t pid, uint64_t handle) {
  auto pit = procs_.find(pid);
  if (pit == procs_.end() || handle == 0) return kEmpty;
  Process& p = pit->second;
  auto it = p.names.find(handle);
  if (it != p.names.end()) return it->second;
  auto fk = p.function_kernel.find(handle);
  if (fk != p.function_kernel.end()) {
    auto kn = p.names.find(fk->second);
    if (kn != p.names.end()) return p.names[handle] = kn->second;
  }
  return kEmpty;
}

bool KernelNames::known(uint32_t pid, uint64_t handle) const {
  auto pit = procs_.find(pid);
  return pit != procs_.end() && pit->second.names.count(handle);
}

bool KernelNames::note_unnamed(uint32_t pid, uint64_t handle) {
  return procs_[pid].unnamed[handle]++ == 0;
}

void KernelNames::settle(const Process& p) {
  for (const auto& [handle, count] : p.unnamed) {
    auto it = p.names.find(handle);
    if (it != p.names.end()) settled_[it->second.name] += count;
  }
}

std::map<std::string, uint64_t> KernelNames::named_later() const {
  std::map<std::string, uint64_t> out = settled_;
  for (const auto& [pid, p] : procs_)
    for (const auto& [handle, count] : p.unnamed) {
      auto it = p.names.find(handle);
      if (it != p.names.end()) out[it->second.name] += count;
    }
  return out;
}

void KernelNames::forget(uint32_t pid) {
  auto it = procs_.find(pid);
  if (it == procs_.end()) return;
  settle(it->second);
  procs_.erase(it);
}

namespace {
void set_kernel(CudaEvent& ev, const KernelSymbol& k) {
  ev.kernel = k.name;
  ev.kernel_file = k.file;
  ev.kernel_offset = k.file.empty() ? std::nullopt : std::optional<uint64_t>(k.offset);
}
}  // namespace

bool KernelNaming::name_launch(CudaEvent& ev, bool stub_is_caller) {
  if (ev.stub) {
    // The host stub (or, for nvcc 13's __cudaLaunchKernel, a return address inside it) is
    // named by its ELF symbol, which also says where it lives.
    if (!names_.known(ev.pid, ev.stub)) {
      auto sym = symbolize_ ? symbolize_(ev.pid, ev.stub) : std::nullopt;
      KernelSymbol k;
      if (sym)
        k = {stub_is_caller ? kernel_from_device_stub(sym->name) : sym->name, sym->file,
             sym->value};
      if (k.name.empty()) k = {kUnknown, {}, 0};
      names_.learn(ev.pid, ev.stub, std::move(k));
    }
    KernelSymbol k = names_.kernel(ev.pid, ev.stub);  // a copy: kernel() may add to the map
    if (k.name != kUnknown) {
      set_kernel(ev, k);
      // The handle takes the stub's name, and its file where the driver's calls named it alone.
      if (ev.handle &&
          (!names_.known(ev.pid, ev.handle) || names_.kernel(ev.pid, ev.handle).file.empty()))
        names_.learn(ev.pid, ev.handle, k);
    }
  }
  if (ev.kernel.empty()) set_kernel(ev, names_.kernel(ev.pid, ev.handle));
  return ev.kernel.empty() && names_.note_unnamed(ev.pid, ev.handle);
}

void KernelNaming::learn(const cuda_name_event& rec) {
  if (rec.ret != 0 || rec.handle == 0) return;
  if (rec.call == CALL___cudaGetKernel) {  // kernel handle <- host stub
    auto sym = symbolize_ ? symbolize_(rec.pid, rec.parent) : std::nullopt;
    if (sym) names_.learn(rec.pid, rec.handle, KernelSymbol{sym->name, sym->file, sym->value});
    return;
  }
  if (rec.call == CALL_cuKernelGetFunction) {
    names_.alias(rec.pid, rec.handle, rec.parent);
    return;
  }
  // Named by the driver: the kernel's file and offset stay unknown (the caller is the runtime or
  // a library loading a module; the module's image need not be any file).
  size_t len = std::min<size_t>(rec.name_len, CUDA_NAME_MAX - 1);
  std::string mangled(rec.name, strnlen(rec.name, len));
  names_.learn(rec.pid, rec.handle, discover::demangle(mangled));
}

}  // namespace scope::families
