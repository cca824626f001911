// Every probe family this build has besides cuda, by name.
#include <algorithm>
#include <sstream>

#include "families/probe_family.h"

namespace scope::families {

std::unique_ptr<ProbeFamily> make_exec_family();
std::unique_ptr<ProbeFamily> make_open_family();
std::unique_ptr<ProbeFamily> make_syscalls_family();
std::unique_ptr<ProbeFamily> make_sched_family();
std::unique_ptr<ProbeFamily> make_net_family();
std::unique_ptr<ProbeFamily> make_llama_family();
std::unique_ptr<ProbeFamily> make_ggml_family();

std::unique_ptr<ProbeFamily> make_family(std::string_view name) {
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

namespace {

bool built(const std::string& family) { return family == "cuda" || make_family(family) != nullptr; }

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

}  // namespace

std::vector<std::string> built_families() {
  std::vector<std::string> out;
  for (const auto& f : known_families())
    if (built(f)) out.push_back(f);
  return out;
}

Result<std::set<std::string>> parse_probe_list(const std::string& list, bool explicit_list) {
  static const std::set<std::string> defaults = {"cuda", "ggml", "llama"};
  const auto& known = known_families();
  std::set<std::string> families;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item.empty()) continue;
    if (std::find(known.begin(), known.end(), item) == known.end())
      return make_error("unknown probe family '" + item + "' (known: " + join(known, ", ") + ")");
    if (!built(item)) {
      if (explicit_list || !defaults.count(item))
        return make_error("probe family '" + item +
                          "' is not available in this build yet (available: " +
                          join(built_families(), ", ") + ")");
      continue;  // a default family that has not landed yet
    }
    families.insert(item);
  }
  if (families.empty()) return make_error("--probes lists no probe family");
  return families;
}

Result<std::vector<std::unique_ptr<ProbeFamily>>> start_families(
    const std::set<std::string>& wanted, const FamilyContext& shared, probe::RingPoller& poller) {
  std::vector<std::unique_ptr<ProbeFamily>> started;
  FamilyContext ctx = shared;
  if (wanted.count("syscalls") &&
      (wanted.count("exec") || wanted.count("open") || wanted.count("net"))) {
    auto dispatch = probe::SyscallDispatch::create();
    if (!dispatch) return make_error("syscalls: " + dispatch.error());
    ctx.syscall_dispatch = *dispatch;
  }
  for (const auto& name : known_families()) {
    if (name == "cuda" || !wanted.count(name)) continue;
    auto family = make_family(name);
    if (!family) continue;
    if (auto st = family->start(ctx); !st) return make_error(name + ": " + st.error());
    if (family->ring_map_fd() >= 0) {
      auto st = poller.add(
          family->ring_map_fd(),
          [](void* fctx, void* data, size_t size) {
            return static_cast<ProbeFamily*>(fctx)->handle_record(data, size);
          },
          family.get());
      if (!st) return make_error(name + ": " + st.error());
    }
    started.push_back(std::move(family));
  }
  return started;
}

}  // namespace scope::families
