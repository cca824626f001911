#include "discover/cuda_libraries.h"

namespace scope::discover {

namespace {

// True when `rest` is empty or ".N", ".N.N", ... (digits separated by single dots).
bool is_version_suffix(std::string_view rest) {
  if (rest.empty()) return true;
  if (rest.front() != '.') return false;
  rest.remove_prefix(1);
  bool need_digit = true;
  for (char c : rest) {
    if (c >= '0' && c <= '9') {
      need_digit = false;
    } else if (c == '.' && !need_digit) {
      need_digit = true;
    } else {
      return false;
    }
  }
  return !need_digit;
}

bool matches_lib(std::string_view file, std::string_view stem) {
  if (file.substr(0, stem.size()) != stem) return false;
  return is_version_suffix(file.substr(stem.size()));
}

std::string_view base_name(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

const char* to_string(CudaLibraryKind kind) {
  switch (kind) {
    case CudaLibraryKind::kRuntime:
      return "runtime";
    case CudaLibraryKind::kDriver:
      return "driver";
    case CudaLibraryKind::kStaticRuntime:
      return "static_runtime";
    case CudaLibraryKind::kGpuActivity:
      return "gpu_activity";
    case CudaLibraryKind::kNone:
      break;
  }
  return "none";
}

CudaLibraryKind classify_path(std::string_view path) {
  std::string_view file = base_name(path);
  if (matches_lib(file, "libcudart.so")) return CudaLibraryKind::kRuntime;
  if (matches_lib(file, "libcuda.so")) return CudaLibraryKind::kDriver;
  if (matches_lib(file, "libscope_cupti.so")) return CudaLibraryKind::kGpuActivity;
  return CudaLibraryKind::kNone;
}

CudaLibraryKind classify_file(const ElfFile& elf, std::string_view path) {
  CudaLibraryKind by_name = classify_path(path);
  if (by_name != CudaLibraryKind::kNone) return by_name;
  if (auto so = elf.soname()) {
    CudaLibraryKind by_soname = classify_path(*so);
    if (by_soname != CudaLibraryKind::kNone) return by_soname;
  }
  if (elf.find("cudaLaunchKernel") || elf.find("cudaMalloc")) {
    return CudaLibraryKind::kStaticRuntime;
  }
  return CudaLibraryKind::kNone;
}

}  // namespace scope::discover
