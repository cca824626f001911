// What a node should trace: the probe families to run and which processes (every one, or those
// with a comm, in a cgroup, or a pid and its children). The server stores one per node (desired,
// with a version), the agent applies it and reports the one it runs (applied); `--probes`,
// `--comm` and `--cgroup` make the first one an agent runs. The family names live here, with the
// vocabulary, because the server checks a plan without linking any probe.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"

namespace scope::event {

// Every family DESIGN.md names, in a stable order (the order they start in and report).
const std::vector<std::string>& probe_families();
// The families of a comma list such as `--probes` takes (errors are bad_input).
Result<std::set<std::string>> parse_probe_list(const std::string& list);

struct ProbePlan {
  std::set<std::string> families;
  std::string comm;    // only processes with this comm (at most 15 characters); empty: any
  std::string cgroup;  // only processes in this cgroup v2 path; empty: any
  uint32_t pid = 0;    // only this process and its children; 0: any
  bool operator==(const ProbePlan&) const = default;
  // Whether the processes traced differ (the probes then load again with the new filter).
  bool same_targets(const ProbePlan& o) const {
    return comm == o.comm && cgroup == o.cgroup && pid == o.pid;
  }
};

// {"families": [...], "comm": "...", "cgroup": "...", "pid": N}; comm, cgroup and pid only when
// set.
nlohmann::json probe_plan_json(const ProbePlan& plan);
// The plan a request or a control message gives. Anything unknown, a comm over 15 characters or
// with control characters, a cgroup that is not an absolute path without "..", a pid out of range:
// a bad_input error naming the field.
Result<ProbePlan> parse_probe_plan(const nlohmann::json& j);

}  // namespace scope::event
