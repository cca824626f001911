// Result<T>: a value or an error. Expected failures (a missing file, a process
// that exited, a kernel without a feature) are values, not exceptions;
// exceptions stay at the edges. An error carries a code a caller can branch on
// (the CLI's exit status, a test's skip, an API's HTTP status) and a message
// for people.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace scope {

enum class Errc : uint8_t {
  kFailed,        // "failed": none of the below
  kBadInput,      // "bad_input": a flag, request or file that is not what it should be
  kNotFound,      // "not_found": no such process, command, file or family
  kNotRoot,       // "not_root": needs root, or CAP_BPF + CAP_PERFMON
  kKernelTooOld,  // "kernel_too_old": the running kernel lacks a feature
  kUnavailable,   // "unavailable": a server or service cannot be reached now (retry)
  kInternal,      // "internal": a bug in scope
};

// The code's name as DESIGN.md and the API spell it ("not_root").
constexpr std::string_view errc_name(Errc code) {
  switch (code) {
    case Errc::kBadInput:
      return "bad_input";
    case Errc::kNotFound:
      return "not_found";
    case Errc::kNotRoot:
      return "not_root";
    case Errc::kKernelTooOld:
      return "kernel_too_old";
    case Errc::kUnavailable:
      return "unavailable";
    case Errc::kInternal:
      return "internal";
    case Errc::kFailed:
      break;
  }
  return "failed";
}

struct Error {
  Errc code = Errc::kFailed;
  std::string message;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const std::string& error() const { return std::get<1>(v_).message; }
  Errc code() const { return ok() ? Errc::kFailed : std::get<1>(v_).code; }
  // The error as it is, to pass up (code kept).
  const Error& failure() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

struct Ok {};
using Status = Result<Ok>;

inline Error make_error(std::string message) { return Error{Errc::kFailed, std::move(message)}; }
inline Error make_error(Errc code, std::string message) { return Error{code, std::move(message)}; }
// The same error with `prefix` before its message ("open: " + ...).
inline Error prefixed(const Error& e, std::string_view prefix) {
  return Error{e.code, std::string(prefix) + e.message};
}

}  // namespace scope
