// Every host probe family this build has, by name.
#include "families/probe_family.h"

namespace scope::families {

std::unique_ptr<ProbeFamily> make_exec_family();
std::unique_ptr<ProbeFamily> make_open_family();
std::unique_ptr<ProbeFamily> make_syscalls_family();
std::unique_ptr<ProbeFamily> make_sched_family();
std::unique_ptr<ProbeFamily> make_net_family();

std::unique_ptr<ProbeFamily> make_family(std::string_view name) {
  if (name == "exec") return make_exec_family();
  if (name == "open") return make_open_family();
  if (name == "syscalls") return make_syscalls_family();
  if (name == "sched") return make_sched_family();
  if (name == "net") return make_net_family();
  return nullptr;
}

}  // namespace scope::families
