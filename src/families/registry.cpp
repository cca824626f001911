#include "families/registry.h"

#include <algorithm>

#include "common/strings.h"

namespace scope::families {

std::unique_ptr<Family> make_cuda_family();
std::unique_ptr<Family> make_exec_family();
std::unique_ptr<Family> make_open_family();
std::unique_ptr<Family> make_syscalls_family();
std::unique_ptr<Family> make_sched_family();
std::unique_ptr<Family> make_net_family();
std::unique_ptr<Family> make_llama_family();
std::unique_ptr<Family> make_ggml_family();

std::unique_ptr<Family> make_family(std::string_view name) {
  if (name == "cuda") return make_cuda_family();
  if (name == "exec") return make_exec_family();
  if (name == "open") return make_open_family();
  if (name == "syscalls") return make_syscalls_family();
  if (name == "sched") return make_sched_family();
  if (name == "net") return make_net_family();
  if (name == "llama") return make_llama_family();
  if (name == "ggml") return make_ggml_family();
  return nullptr;
}

const std::vector<std::string>& known_families() {
  static const std::vector<std::string> all = {"cuda", "ggml",  "llama",    "exec",
                                               "open", "sched", "syscalls", "net"};
  return all;
}

Result<std::set<std::string>> parse_probe_list(const std::string& list) {
  const auto& known = known_families();
  std::set<std::string> families;
  for (std::string item : split_nonempty(list, ",")) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item.empty()) continue;
    if (std::find(known.begin(), known.end(), item) == known.end())
      return make_error(Errc::kBadInput,
                        "unknown probe family '" + item + "' (known: " + join(known, ",") + ")");
    families.insert(item);
  }
  return families;
}

}  // namespace scope::families
