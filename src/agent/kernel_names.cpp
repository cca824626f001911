#include "agent/kernel_names.h"

#include <cctype>

#include "discover/demangle.h"

namespace scope::agent {

namespace {
const std::string kEmpty;
}

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
  if (handle == 0 || name.empty()) return;
  procs_[pid].names[handle] = name;
}

void KernelNames::alias(uint32_t pid, uint64_t function, uint64_t kernel) {
  if (function == 0) return;
  Process& p = procs_[pid];
  p.function_kernel[function] = kernel;
  auto it = p.names.find(kernel);
  if (it != p.names.end()) p.names[function] = it->second;
}

const std::string& KernelNames::lookup(uint32_t pid, uint64_t handle) {
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
    if (it != p.names.end()) settled_[it->second] += count;
  }
}

std::map<std::string, uint64_t> KernelNames::named_later() const {
  std::map<std::string, uint64_t> out = settled_;
  for (const auto& [pid, p] : procs_)
    for (const auto& [handle, count] : p.unnamed) {
      auto it = p.names.find(handle);
      if (it != p.names.end()) out[it->second] += count;
    }
  return out;
}

void KernelNames::forget(uint32_t pid) {
  auto it = procs_.find(pid);
  if (it == procs_.end()) return;
  settle(it->second);
  procs_.erase(it);
}

}  // namespace scope::agent
