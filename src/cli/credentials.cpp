#include "cli/credentials.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>

namespace scope::cli {

Result<std::string> systemd_credential(std::string_view name) {
  const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
  if (!dir || !*dir) return std::string();
  const std::string path = std::string(dir) + "/" + std::string(name);
  std::FILE* f = std::fopen(path.c_str(), "re");
  if (!f) return std::string();
  constexpr size_t kMax = 64 << 10;
  std::string text(kMax + 1, '\0');
  size_t n = std::fread(text.data(), 1, text.size(), f);
  bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return make_error(Errc::kBadInput, "credential " + path + ": cannot read");
  if (n > kMax) return make_error(Errc::kBadInput, "credential " + path + ": over 64 KiB");
  text.resize(n);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  if (text.empty()) return make_error(Errc::kBadInput, "credential " + path + ": empty");
  return text;
}

Status flag_or_credential(std::string& value, std::string_view flag, std::string_view env,
                          std::string_view name, bool required) {
  if (!value.empty()) return Ok{};
  auto c = systemd_credential(name);
  if (!c) return c.failure();
  value = std::move(*c);
  if (value.empty() && required)
    return make_error(Errc::kBadInput, std::string(flag) + " is required (or " + std::string(env) +
                                           ", or the systemd credential " + std::string(name) +
                                           ")");
  return Ok{};
}

}  // namespace scope::cli
