// Small text helpers the output code of every family shares.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace scope {

// printf into a std::string, of any length.
std::string sfmt(const char* format, ...) __attribute__((format(printf, 1, 2)));
// `s` padded with spaces to at least `width` characters.
std::string pad_right(std::string s, size_t width);
// A fixed-size char field (comm, a path buffer) up to its first NUL.
std::string fixed_string(const char* p, size_t max);
// 850ns, 52.1us, 2.10ms, 1.234s.
std::string duration_text(uint64_t ns);
// 512 B, 3.00 MiB, 12.5 GiB.
std::string bytes_text(uint64_t bytes);
// strerror of an errno, given as positive or negative.
std::string errno_text(int err);
// The symbolic name of an errno given as a negative return value: -2 -> "ENOENT"; one the C
// library has no name for -> "errno 999".
std::string errno_name(int64_t negative_errno);
// "90s", "15m", "12h", "7d", or a plain number of seconds, as ns; -1 when malformed.
int64_t parse_duration_ns(const std::string& text);

}  // namespace scope
