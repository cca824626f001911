// Kernel names per process: handle (CUfunction, CUkernel or host stub) ->
// demangled name, learned from the name->handle calls and host stub symbols.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>

namespace scope::agent {

// nvcc's host stub for kernel _Z5saxpyifPfS_ is __device_stub__Z5saxpyifPfS_,
// so the stub's (demangled) name carries the kernel's; other names pass through.
std::string kernel_from_device_stub(const std::string& stub_name);

class KernelNames {
 public:
  // `handle` in `pid` is the kernel `name` (demangled).
  void learn(uint32_t pid, uint64_t handle, const std::string& name);
  // cuKernelGetFunction: `function` runs `kernel`.
  void alias(uint32_t pid, uint64_t function, uint64_t kernel);
  // The name of a handle, or "" when unknown.
  const std::string& lookup(uint32_t pid, uint64_t handle);
  bool known(uint32_t pid, uint64_t handle) const;
  // A launch of `handle` went unnamed; true the first time for this handle.
  bool note_unnamed(uint32_t pid, uint64_t handle);
  // Launches that went unnamed and whose name was learned later, by name.
  std::map<std::string, uint64_t> named_later() const;
  // The process exited or exec'd: its handles mean nothing any more.
  void forget(uint32_t pid);

 private:
  struct Process {
    std::unordered_map<uint64_t, std::string> names;
    std::unordered_map<uint64_t, uint64_t> function_kernel;
    std::unordered_map<uint64_t, uint64_t> unnamed;  // handle -> unnamed launches
  };
  void settle(const Process& p);  // keeps named_later_ across forget()

  std::unordered_map<uint32_t, Process> procs_;
  std::map<std::string, uint64_t> settled_;
};

}  // namespace scope::agent
