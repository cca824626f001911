#include "session/gpu_injection.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace scope::session {

namespace {

constexpr const char* kLibrary = "libscope_cupti.so";

bool is_file(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec);
}

}  // namespace

std::optional<std::string> find_gpu_injection_library() {
  if (const char* env = std::getenv("SCOPE_CUPTI_INJECTION"); env && *env) {
    if (is_file(env)) return std::string(env);
    return std::nullopt;
  }
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return std::nullopt;
  auto dir = exe.parent_path();
  for (const auto& candidate : {dir / kLibrary, dir / ".." / "lib" / "scope" / kLibrary,
                                dir / ".." / "lib" / "x86_64-linux-gnu" / "scope" / kLibrary,
                                dir / ".." / "lib64" / "scope" / kLibrary}) {
    if (is_file(candidate)) return std::filesystem::weakly_canonical(candidate, ec).string();
  }
  return std::nullopt;
}

std::optional<std::string> offer_gpu_injection() {
  if (const char* set = std::getenv("CUDA_INJECTION64_PATH"); set && *set) return std::nullopt;
  auto lib = find_gpu_injection_library();
  if (!lib) return std::nullopt;
  if (setenv("CUDA_INJECTION64_PATH", lib->c_str(), 0) != 0) return std::nullopt;
  return lib;
}

}  // namespace scope::session
