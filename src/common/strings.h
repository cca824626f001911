// Small string helpers shared across modules.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace scope {

// The non-empty pieces of `text` between any of the characters in `separators`.
inline std::vector<std::string> split_nonempty(std::string_view text, std::string_view separators) {
  std::vector<std::string> out;
  while (true) {
    size_t sep = text.find_first_of(separators);
    std::string_view part = text.substr(0, sep);
    if (!part.empty()) out.emplace_back(part);
    if (sep == std::string_view::npos) break;
    text.remove_prefix(sep + 1);
  }
  return out;
}

// The items of `items` with `separator` between them.
template <class Items>
std::string join(const Items& items, std::string_view separator) {
  std::string out;
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += separator;
    out += item;
    first = false;
  }
  return out;
}

}  // namespace scope
