// Recognising the CUDA runtime and driver libraries by file name and by ELF contents.
#pragma once

#include <string_view>

#include "discover/elf_file.h"

namespace scope::discover {

enum class CudaLibraryKind {
  kNone,
  kRuntime,        // libcudart.so[.N[.N...]]
  kDriver,         // libcuda.so[.N[.N...]], or soname libcuda.so.1
  kStaticRuntime,  // an executable or library with the CUDA runtime linked in statically
  kGpuActivity,    // libscope_cupti.so: scope's own CUPTI injection library (GPU times)
};

const char* to_string(CudaLibraryKind kind);

// Classifies by file name only: libcudart.so, libcudart.so.13, libcudart.so.12.4.127 → kRuntime;
// libcuda.so, libcuda.so.1, libcuda.so.580.95.05 → kDriver; anything else → kNone.
CudaLibraryKind classify_path(std::string_view path);

// classify_path, plus: kDriver for soname libcuda.so.1 under any name, kRuntime for soname
// libcudart.so.*, and kStaticRuntime for any other file defining cudaLaunchKernel or cudaMalloc.
CudaLibraryKind classify_file(const ElfFile& elf, std::string_view path);

}  // namespace scope::discover
