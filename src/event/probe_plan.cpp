#include "event/probe_plan.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/strings.h"

namespace scope::event {

const std::vector<std::string>& probe_families() {
  static const std::vector<std::string> all = {"cuda", "ggml",  "llama",    "exec",
                                               "open", "sched", "syscalls", "net"};
  return all;
}

Result<std::set<std::string>> parse_probe_list(const std::string& list) {
  const auto& known = probe_families();
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

nlohmann::json probe_plan_json(const ProbePlan& plan) {
  nlohmann::json j = {{"families", nlohmann::json::array()}};
  // In probe_families() order, as everywhere else they are listed.
  for (const auto& f : probe_families())
    if (plan.families.count(f)) j["families"].push_back(f);
  if (!plan.comm.empty()) j["comm"] = plan.comm;
  if (!plan.cgroup.empty()) j["cgroup"] = plan.cgroup;
  if (plan.pid != 0) j["pid"] = plan.pid;
  return j;
}

namespace {

Error bad(const std::string& what) { return make_error(Errc::kBadInput, what); }

bool printable(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; });
}

}  // namespace

Result<ProbePlan> parse_probe_plan(const nlohmann::json& j) {
  if (!j.is_object()) return bad("the probe plan must be a JSON object");
  ProbePlan plan;
  for (const auto& [key, value] : j.items()) {
    if (key == "families") {
      if (!value.is_array()) return bad("\"families\" must be an array of family names");
      const auto& known = probe_families();
      for (const auto& f : value) {
        if (!f.is_string() ||
            std::find(known.begin(), known.end(), f.get<std::string>()) == known.end())
          return bad("\"families\": unknown family " + f.dump() + " (known: " + join(known, ",") +
                     ")");
        plan.families.insert(f.get<std::string>());
      }
    } else if (key == "comm") {
      if (!value.is_string()) return bad("\"comm\" must be a string");
      plan.comm = value.get<std::string>();
      if (plan.comm.size() > 15 || !printable(plan.comm))
        return bad("\"comm\": at most 15 printable characters (the kernel's comm)");
    } else if (key == "cgroup") {
      if (!value.is_string()) return bad("\"cgroup\" must be a string");
      plan.cgroup = value.get<std::string>();
      if (!plan.cgroup.empty() &&
          (plan.cgroup[0] != '/' || plan.cgroup.size() > 4096 || !printable(plan.cgroup) ||
           plan.cgroup.find("/../") != std::string::npos || plan.cgroup.ends_with("/..")))
        return bad("\"cgroup\": an absolute cgroup v2 path such as /system.slice/ollama.service");
    } else if (key == "pid") {
      if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > 4194304)
        return bad("\"pid\" must be a process id (0: any process)");
      plan.pid = static_cast<uint32_t>(value.get<int64_t>());
    } else {
      return bad("unknown field \"" + key + "\" (families, comm, cgroup, pid)");
    }
  }
  if (!j.contains("families")) return bad("\"families\" is required ([] turns every probe off)");
  return plan;
}

}  // namespace scope::event
