#include "common/text.h"

#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>

namespace scope {

std::string sfmt(const char* format, ...) {
  char buf[512];
  va_list args;
  va_start(args, format);
  int n = std::vsnprintf(buf, sizeof(buf), format, args);
  va_end(args);
  if (n < 0) return {};
  if (static_cast<size_t>(n) < sizeof(buf)) return std::string(buf, static_cast<size_t>(n));
  std::string out(static_cast<size_t>(n) + 1, '\0');
  va_start(args, format);
  std::vsnprintf(out.data(), out.size(), format, args);
  va_end(args);
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string pad_right(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

std::string fixed_string(const char* p, size_t max) { return std::string(p, strnlen(p, max)); }

std::string duration_text(uint64_t ns) {
  if (ns < 1000) return sfmt("%" PRIu64 "ns", ns);
  if (ns < 1000000) return sfmt("%.1fus", static_cast<double>(ns) / 1e3);
  if (ns < 1000000000) return sfmt("%.2fms", static_cast<double>(ns) / 1e6);
  return sfmt("%.3fs", static_cast<double>(ns) / 1e9);
}

std::string bytes_text(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return sfmt("%" PRIu64 " B", bytes);
  double v = static_cast<double>(bytes) / 1024.0;
  size_t unit = 0;
  while (v >= 1024.0 && unit + 1 < sizeof(kUnits) / sizeof(kUnits[0])) {
    v /= 1024.0;
    ++unit;
  }
  return v < 10.0 ? sfmt("%.2f %s", v, kUnits[unit]) : sfmt("%.1f %s", v, kUnits[unit]);
}

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

std::string errno_name(int64_t negative_errno) {
  int e = static_cast<int>(-negative_errno);
  const char* name = e > 0 ? strerrorname_np(e) : nullptr;
  return name ? std::string(name) : sfmt("errno %d", e);
}

int64_t parse_duration_ns(const std::string& text) {
  if (text.empty()) return -1;
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 12) return -1;
  int64_t n = std::stoll(text.substr(0, digits));
  std::string unit = text.substr(digits);
  int64_t scale = 0;
  if (unit.empty() || unit == "s")
    scale = 1;
  else if (unit == "m")
    scale = 60;
  else if (unit == "h")
    scale = 3600;
  else if (unit == "d")
    scale = 86400;
  else
    return -1;
  if (n > 9'000'000'000 / scale) return -1;  // past int64 ns
  return n * scale * 1000000000;
}

}  // namespace scope
