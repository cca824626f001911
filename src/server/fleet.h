// The fleet's control plane on the server side: heartbeats into the registry, an admin's probe
// plan for a node stored (versioned) and delivered to it, and the routes that show and steer
// nodes. How a plan reaches a node is given: `scope server` XADDs it to the node's control
// stream in Redis (the agent reads it and reports what it applied in its next heartbeat),
// `scope up` hands it to its own probe session.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "auth/nodes.h"
#include "http/router.h"
#include "server/node_registry.h"
#include "transport/redis_stream.h"

namespace scope::server {

// Delivers a node's desired plan to it; an error when it could not be handed on (the plan is
// stored anyway and delivered again when the node's heartbeat shows an older one).
using DeliverPlan = std::function<Status(const std::string& node, const DesiredPlan& desired)>;

struct FleetOptions {
  DeliverPlan deliver;
  // The plan a node gets on its first heartbeat when an admin set none; unset: the node keeps
  // what its agent was started with (--probes, --comm, --cgroup).
  std::optional<event::ProbePlan> default_plan;
  // A node that reports an older applied version than its desired one gets the plan again,
  // at most this often (its control stream may have been lost with Redis).
  std::chrono::milliseconds redeliver_every{5000};
};

class Fleet {
 public:
  Fleet(NodeRegistry& registry, FleetOptions options)
      : registry_(registry), options_(std::move(options)) {}

  // A node's heartbeat, authenticated by the caller. Records it, gives a new node the default
  // plan, and delivers the desired plan again to a node behind it.
  Status heartbeat(const std::string& node, int64_t now_ns, std::string_view text);
  // Stores and delivers `plan`; the stored plan (with its version) and whether it was handed on.
  Result<std::pair<DesiredPlan, bool>> set_plan(const std::string& node,
                                                const event::ProbePlan& plan,
                                                const std::string& by);
  NodeRegistry& registry() { return registry_; }

 private:
  NodeRegistry& registry_;
  FleetOptions options_;
  std::mutex mu_;
  std::map<std::string, std::chrono::steady_clock::time_point> last_delivery_;
};

// XADDs a node's plan to its control stream (transport::control_stream_name; fields v, the
// version, and p, the plan's JSON; about 16 entries kept). Thread-safe.
class RedisPlanDelivery {
 public:
  RedisPlanDelivery(transport::RedisEndpoint endpoint, std::string events_stream)
      : client_(std::move(endpoint), 2000), events_stream_(std::move(events_stream)) {}
  Status operator()(const std::string& node, const DesiredPlan& desired);

 private:
  std::mutex mu_;
  transport::RedisClient client_;
  std::string events_stream_;
};

// GET /api/v1/nodes and /api/v1/nodes/{name} (viewers: liveness, what the node reports, its
// probes desired and applied; with `nodes`, the enrolled nodes that never reported too),
// GET /api/v1/nodes/{name}/probes (viewers) and PUT /api/v1/nodes/{name}/probes (admins).
void add_fleet_routes(http::Router& router, Fleet& fleet, auth::Nodes* nodes);

}  // namespace scope::server
