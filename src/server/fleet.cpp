#include "server/fleet.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <set>

#include "common/clock.h"

namespace scope::server {
namespace {

constexpr size_t kPlanBodyLimit = 8 << 10;
constexpr int64_t kHourNs = 3'600'000'000'000;

}  // namespace

Status Fleet::heartbeat(const std::string& node, int64_t now_ns, std::string_view text) {
  auto hb = registry_.record(node, now_ns, text);
  if (!hb) return hb.failure();
  auto desired = registry_.desired(node);
  if (!desired) return desired.failure();
  if (!*desired) {
    if (!options_.default_plan) return Ok{};
    auto set = set_plan(node, *options_.default_plan, "default");
    if (!set) return set.failure();
    spdlog::info("scope: node '{}' reported first: given the default probes (version {})", node,
                 set->first.version);
    return Ok{};
  }
  // Behind: what it applied is older than what it should run.
  int64_t applied = hb->value("applied", nlohmann::json::object()).value("version", 0);
  if (applied >= (*desired)->version || !options_.deliver || hb->value("stopping", false))
    return Ok{};
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    auto& last = last_delivery_[node];
    if (now - last < options_.redeliver_every) return Ok{};
    last = now;
  }
  return options_.deliver(node, **desired);
}

Result<std::pair<DesiredPlan, bool>> Fleet::set_plan(const std::string& node,
                                                     const event::ProbePlan& plan,
                                                     const std::string& by) {
  int64_t now = unix_now_ns();
  auto version = registry_.set_desired(node, plan, by, now);
  if (!version) return version.failure();
  DesiredPlan d{*version, plan, by, now};
  bool delivered = false;
  if (options_.deliver) {
    auto st = options_.deliver(node, d);
    if (!st)
      spdlog::warn("scope: probes for node '{}' (version {}) stored, not delivered yet: {}", node,
                   d.version, st.error());
    delivered = st.ok();
    std::lock_guard lock(mu_);
    last_delivery_[node] = std::chrono::steady_clock::now();
  }
  return std::make_pair(d, delivered);
}

Status RedisPlanDelivery::operator()(const std::string& node, const DesiredPlan& desired) {
  std::string key = transport::control_stream_name(events_stream_, node);
  std::string version = std::to_string(desired.version);
  std::string plan = event::probe_plan_json(desired.plan).dump();
  std::lock_guard lock(mu_);
  auto r = client_.command({"XADD", key, "MAXLEN", "~", "16", "*", "v", version, "p", plan});
  if (!r) return r.failure();
  return Ok{};
}

namespace {

using http::Access;
using http::Request;
using http::Response;

// What the API shows of a node: liveness and its last report from the registry, its enrollment
// (scope server), its probes desired and applied.
nlohmann::json node_view(const std::string& name, const std::optional<nlohmann::json>& status,
                         const std::optional<auth::NodeInfo>& enrollment,
                         const std::optional<DesiredPlan>& desired) {
  nlohmann::json j = {{"name", name}};
  if (enrollment) j.update(auth::node_json(*enrollment));
  nlohmann::json report = nlohmann::json::object();
  if (status) {
    for (const char* k : {"state", "since_ns", "last_seen_ns", "first_seen_ns"})
      j[k] = (*status)[k];
    report = (*status)["heartbeat"];
  } else {
    j["state"] = "never";  // enrolled (or enrolling), no heartbeat yet
  }
  j["report"] = report;
  nlohmann::json applied = report.value("applied", nlohmann::json());
  int64_t applied_version = applied.is_object() ? applied.value("version", int64_t{0}) : 0;
  j["probes"] = {{"desired", desired ? desired_json(*desired) : nlohmann::json()},
                 {"applied", applied},
                 {"pending", desired && applied_version < desired->version}};
  return j;
}

// ?from= Unix ns; default a day back.
bool history_from(const Request& req, int64_t now, int64_t* from) {
  *from = now - 24 * kHourNs;
  auto it = req.query.find("from");
  if (it == req.query.end()) return true;
  const std::string& v = it->second;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), *from);
  return ec == std::errc() && p == v.data() + v.size() && *from >= 0;
}

}  // namespace

void add_fleet_routes(http::Router& router, Fleet& fleet, auth::Nodes* nodes) {
  NodeRegistry& registry = fleet.registry();
  auto internal = [](const std::string& why) { return Response::error(500, "internal", why); };

  // Every node: those that reported, and (scope server) those enrolled that did not yet.
  auto& list = router.add("GET", "/api/v1/nodes", Access::kViewer, [&, nodes, internal](Request&) {
    int64_t now = unix_now_ns();
    auto statuses = registry.statuses(now);
    if (!statuses) return internal(statuses.error());
    std::map<std::string, std::optional<nlohmann::json>> status_of;
    for (auto& s : *statuses) status_of[s["name"].get<std::string>()] = std::move(s);
    std::map<std::string, std::optional<auth::NodeInfo>> enrollment_of;
    if (nodes) {
      auto enrolled = nodes->list();
      if (!enrolled) return internal(enrolled.error());
      for (auto& n : *enrolled) enrollment_of[n.name] = std::move(n);
    }
    std::set<std::string> names;
    for (const auto& [n, _] : status_of) names.insert(n);
    for (const auto& [n, _] : enrollment_of) names.insert(n);
    nlohmann::json out = nlohmann::json::array();
    for (const auto& name : names) {
      auto desired = registry.desired(name);
      if (!desired) return internal(desired.error());
      out.push_back(node_view(name, status_of[name], enrollment_of[name], *desired));
    }
    return Response::json(200, {{"nodes", out}, {"now_ns", now}});
  });

  // One node, with its per-minute history (?from= Unix ns; a day by default).
  auto& get = router.add(
      "GET", "/api/v1/nodes/{name}", Access::kViewer, [&, nodes, internal](Request& req) {
        const std::string& name = req.params["name"];
        int64_t now = unix_now_ns();
        int64_t from = 0;
        if (!history_from(req, now, &from))
          return Response::error(400, "bad_request", "\"from\" must be Unix nanoseconds");
        auto status = registry.status(name, now);
        if (!status) return internal(status.error());
        std::optional<auth::NodeInfo> enrollment;
        if (nodes) {
          auto n = nodes->get(name);
          if (!n) return internal(n.error());
          enrollment = *n;
        }
        if (!*status && !enrollment)
          return Response::error(404, "not_found", "no node '" + name + "'");
        auto desired = registry.desired(name);
        if (!desired) return internal(desired.error());
        auto history = registry.history(name, from);
        if (!history) return internal(history.error());
        auto j = node_view(name, *status, enrollment, *desired);
        j["history"] = *history;
        j["now_ns"] = now;
        return Response::json(200, j);
      });

  auto& probes = router.add(
      "GET", "/api/v1/nodes/{name}/probes", Access::kViewer, [&, internal](Request& req) {
        const std::string& name = req.params["name"];
        auto status = registry.status(name, unix_now_ns());
        if (!status) return internal(status.error());
        auto desired = registry.desired(name);
        if (!desired) return internal(desired.error());
        if (!*status && !*desired)
          return Response::error(404, "not_found", "node '" + name + "' has not reported");
        auto view = node_view(name, *status, std::nullopt, *desired);
        nlohmann::json j = view["probes"];
        j["running"] = view["report"].value("running", nlohmann::json::array());
        return Response::json(200, j);
      });

  auto& put = router.add("PUT", "/api/v1/nodes/{name}/probes", Access::kAdmin,
                         [&, nodes, internal](Request& req) {
                           const std::string& name = req.params["name"];
                           std::string error;
                           nlohmann::json body = req.json_body(&error);
                           if (!error.empty()) return Response::error(400, "bad_request", error);
                           auto plan = event::parse_probe_plan(body);
                           if (!plan) return Response::error(400, "bad_request", plan.error());
                           // Only for a node there is: one that reported, or one enrolled.
                           auto status = registry.status(name, unix_now_ns());
                           if (!status) return internal(status.error());
                           bool known = status->has_value();
                           if (!known && nodes) {
                             auto n = nodes->get(name);
                             if (!n) return internal(n.error());
                             known = n->has_value();
                           }
                           if (!known)
                             return Response::error(404, "not_found", "no node '" + name + "'");
                           auto set = fleet.set_plan(name, *plan, req.principal.user);
                           if (!set) return internal(set.error());
                           auto j = desired_json(set->first);
                           j["delivered"] = set->second;
                           return Response::json(202, j);
                         });
  for (http::Route* r : {&list, &get, &probes, &put}) {
    r->blocking = true;
    r->max_body = r == &put ? kPlanBodyLimit : 0;
  }
}

}  // namespace scope::server
