#include "cli/probes_command.h"

#include <chrono>
#include <cstdio>
#include <thread>

#include "common/strings.h"
#include "event/probe_plan.h"

namespace scope::cli {
namespace {

std::string plan_text(const nlohmann::json& plan) {
  if (!plan.is_object()) return "-";
  std::vector<std::string> families;
  for (const auto& f : plan.value("families", nlohmann::json::array()))
    families.push_back(f.get<std::string>());
  std::string text = families.empty() ? "none" : join(families, ",");
  if (plan.contains("comm")) text += " comm=" + plan["comm"].get<std::string>();
  if (plan.contains("cgroup")) text += " cgroup=" + plan["cgroup"].get<std::string>();
  if (plan.contains("pid")) text += " pid=" + std::to_string(plan["pid"].get<int64_t>());
  return text;
}

void print(const std::string& node, const nlohmann::json& p) {
  const auto& desired = p.value("desired", nlohmann::json());
  const auto& applied = p.value("applied", nlohmann::json());
  std::printf("node %s\n", node.c_str());
  if (desired.is_object())
    std::printf("  desired  v%-4lld %s (set by %s at %s UTC)\n",
                static_cast<long long>(desired.value("version", int64_t{0})),
                plan_text(desired.value("plan", nlohmann::json())).c_str(),
                desired.value("updated_by", "").c_str(),
                utc_text(desired.value("updated_ns", int64_t{0})).c_str());
  else
    std::printf("  desired  none set: the node runs what its agent was started with\n");
  if (applied.is_object())
    std::printf("  applied  v%-4lld %s (at %s UTC)\n",
                static_cast<long long>(applied.value("version", int64_t{0})),
                plan_text(applied.value("plan", nlohmann::json())).c_str(),
                utc_text(applied.value("applied_ns", int64_t{0})).c_str());
  std::vector<std::string> running;
  for (const auto& f : p.value("running", nlohmann::json::array()))
    running.push_back(f.get<std::string>());
  std::printf("  running  %s\n", running.empty() ? "nothing" : join(running, ",").c_str());
  if (applied.is_object()) {
    const nlohmann::json errors = applied.value("errors", nlohmann::json::object());
    for (const auto& [family, why] : errors.items())
      std::printf("  error    %s: %s\n", family.c_str(), why.get<std::string>().c_str());
  }
  if (p.value("pending", false))
    std::printf("  pending  the node has not applied the latest plan\n");
}

}  // namespace

CLI::App* add_probes_command(CLI::App& app, ProbesOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "probes",
      "Show the probes a node runs, or set them (admin): the node applies them without a "
      "restart, and with none it keeps nothing loaded in the kernel");
  add_api_flags(cmd, o.api);
  cmd->add_option("node", o.node, "The node (its name in 'scope nodes')")->required();
  cmd->add_option(
      "--set", o.set,
      "The families it should run (" + join(event::probe_families(), ",") + "), or none");
  cmd->add_option("-c,--comm", o.comm, "With --set: only processes with this name");
  cmd->add_option("--cgroup", o.cgroup, "With --set: only processes in this cgroup v2 path");
  cmd->add_option("--pid", o.pid, "With --set: only this process and its children");
  cmd->add_option("--wait", o.wait_s,
                  "With --set: seconds to wait for the node to apply it (0: do not wait)")
      ->capture_default_str();
  cmd->add_flag("--json", o.json, "Print the API's JSON");
  cmd->footer(
      "Examples:\n"
      "  scope probes gpu-7                              what it runs\n"
      "  scope probes gpu-7 --set cuda,llama --comm ollama   trace only processes named ollama\n"
      "  scope probes gpu-7 --set none                   every probe off, nothing loaded");
  return cmd;
}

int run_probes(const ProbesOptions& o) {
  auto api = api_client(o.api);
  if (!api) return report_api_error(api.failure());
  const std::string path = "/api/v1/nodes/" + o.node + "/probes";
  if (o.set.empty()) {
    if (!o.comm.empty() || !o.cgroup.empty() || o.pid != 0) {
      std::fprintf(stderr, "scope: --comm, --cgroup and --pid go with --set\n");
      return 2;
    }
    auto p = api_answer(api->call("GET", path), 200);
    if (p.is_discarded()) return 1;
    if (o.json)
      std::printf("%s\n", p.dump().c_str());
    else
      print(o.node, p);
    return 0;
  }
  auto families = o.set == "none" ? Result<std::set<std::string>>(std::set<std::string>{})
                                  : event::parse_probe_list(o.set);
  if (!families) return report_api_error(families.failure());
  event::ProbePlan plan{.families = *families, .comm = o.comm, .cgroup = o.cgroup, .pid = o.pid};
  auto set = api_answer(api->call("PUT", path, event::probe_plan_json(plan)), 202);
  if (set.is_discarded()) return 1;
  int64_t version = set.value("version", int64_t{0});
  if (!o.json)
    std::printf("plan v%lld stored for %s: %s\n", static_cast<long long>(version), o.node.c_str(),
                plan_text(set.value("plan", nlohmann::json())).c_str());
  if (o.wait_s <= 0) {
    if (o.json) std::printf("%s\n", set.dump().c_str());
    return 0;
  }
  auto until = std::chrono::steady_clock::now() +
               std::chrono::milliseconds(static_cast<int64_t>(o.wait_s * 1000));
  nlohmann::json p;
  for (;;) {
    p = api_answer(api->call("GET", path), 200);
    if (p.is_discarded()) return 1;
    // "applied" is null until the node reported once.
    const nlohmann::json& a = p["applied"];
    int64_t applied = a.is_object() ? a.value("version", int64_t{0}) : 0;
    if (applied >= version) break;
    if (std::chrono::steady_clock::now() >= until) {
      if (o.json)
        std::printf("%s\n", p.dump().c_str());
      else
        std::printf(
            "not applied yet after %.0f s: the node gets it when it next reads its control "
            "stream (is it up? 'scope nodes')\n",
            o.wait_s);
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (o.json) {
    std::printf("%s\n", p.dump().c_str());
  } else {
    print(o.node, p);
  }
  bool errors =
      p["applied"].is_object() && !p["applied"].value("errors", nlohmann::json::object()).empty();
  return errors ? 1 : 0;
}

}  // namespace scope::cli
