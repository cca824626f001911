#include "families/registry.h"

#include "event/probe_plan.h"

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

const std::vector<std::string>& known_families() { return event::probe_families(); }

Result<std::set<std::string>> parse_probe_list(const std::string& list) {
  return event::parse_probe_list(list);
}

}  // namespace scope::families
