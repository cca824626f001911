// Kernel names per process: handle (CUfunction, CUkernel or host stub) ->
// demangled name, learned from the name->handle calls and host stub symbols.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include "discover/symbolizer.h"
#include "event/cuda_event.h"

namespace scope::families {

// nvcc's host stub for kernel _Z5saxpyifPfS_ is __device_stub__Z5saxpyifPfS_,
// so the stub's (demangled) name carries the kernel's; other names pass through.
std::string kernel_from_device_stub(const std::string& stub_name);

// A kernel's name and, when a host stub named it, the stub's ELF file (as the process sees
// it) and its symbol's value there (st_value, as `nm` shows it). `file` is empty otherwise.
struct KernelSymbol {
  std::string name;
  std::string file;
  uint64_t offset = 0;
};

class KernelNames {
 public:
  // `handle` in `pid` is the kernel `name` (demangled).
  void learn(uint32_t pid, uint64_t handle, const std::string& name);
  // ... with the file and symbol value of the host stub that named it.
  void learn(uint32_t pid, uint64_t handle, KernelSymbol kernel);
  // cuKernelGetFunction: `function` runs `kernel`.
  void alias(uint32_t pid, uint64_t function, uint64_t kernel);
  // The name of a handle, or "" when unknown.
  const std::string& lookup(uint32_t pid, uint64_t handle) { return kernel(pid, handle).name; }
  // The kernel of a handle; an empty name when unknown.
  const KernelSymbol& kernel(uint32_t pid, uint64_t handle);
  bool known(uint32_t pid, uint64_t handle) const;
  // A launch of `handle` went unnamed; true the first time for this handle.
  bool note_unnamed(uint32_t pid, uint64_t handle);
  // Launches that went unnamed and whose name was learned later, by name.
  std::map<std::string, uint64_t> named_later() const;
  // The process exited or exec'd: its handles mean nothing any more.
  void forget(uint32_t pid);

 private:
  struct Process {
    std::unordered_map<uint64_t, KernelSymbol> names;
    std::unordered_map<uint64_t, uint64_t> function_kernel;
    std::unordered_map<uint64_t, uint64_t> unnamed;  // handle -> unnamed launches
  };
  void settle(const Process& p);  // keeps named_later_ across forget()

  std::unordered_map<uint32_t, Process> procs_;
  std::map<std::string, uint64_t> settled_;
};

// Names the cuda family's launches, per process: from the driver's name->handle calls
// (cuModuleGetFunction, cuLibraryGetKernel, cuKernelGetFunction), nvcc 13's __cudaGetKernel and
// host stubs' ELF symbols. Plain code: symbols come through `symbolize`.
class KernelNaming {
 public:
  // The function containing `addr` in process `pid` (its name, file and symbol value), or
  // nullopt.
  using Symbolize = std::function<std::optional<discover::SymbolAt>(uint32_t pid, uint64_t addr)>;
  explicit KernelNaming(Symbolize symbolize) : symbolize_(std::move(symbolize)) {}

  // Sets the kernel of a decoded launch (empty when unknown) and, when a host stub named it, the
  // stub's file and symbol value (kernel_file, kernel_offset). Returns true when its handle was
  // never named in its process before: the caller then probes the runtime's launch functions for
  // a while, whose host stubs name it (a process that loaded its kernels before scope attached).
  bool name_launch(CudaEvent& launch, bool stub_is_caller);
  // A name->handle call returned.
  void learn(const cuda_name_event& rec);
  // The process exited or exec'd.
  void forget(uint32_t pid) { names_.forget(pid); }
  // Launches reported without a name whose name was learned later, by name.
  std::map<std::string, uint64_t> named_later() const { return names_.named_later(); }

 private:
  Symbolize symbolize_;
  KernelNames names_;
};

}  // namespace scope::families
