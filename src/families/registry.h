// Every probe family this build has, by name, and the `--probes` list.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "families/family.h"

namespace scope::families {

// The family called `name`, or nullptr when this build has none by that name.
std::unique_ptr<Family> make_family(std::string_view name);

// Every family DESIGN.md names, in a stable order (the order they start in and report).
const std::vector<std::string>& known_families();
// The families `--probes LIST` names (errors are bad_input).
Result<std::set<std::string>> parse_probe_list(const std::string& list);
inline constexpr const char* kDefaultProbes = "cuda,ggml,llama";

}  // namespace scope::families
