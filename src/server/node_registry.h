// The fleet's registry: what each node's agent last reported (its heartbeat, every 5 s), the
// node's liveness worked out from when that was, a day of per-minute history, and the probes an
// admin wants it to run (its desired plan, versioned). It lives in the auth database (the
// server's own PostgreSQL schema, or `scope up`'s auth.db), so every server of a fleet sees the
// same registry whichever of them took a heartbeat from the stream.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "auth/auth_db.h"
#include "common/result.h"
#include "event/probe_plan.h"

namespace scope::server {

// Heartbeats come every 5 s: a node is stale after three are missed, down after a minute.
struct Liveness {
  std::chrono::milliseconds stale_after{15000};
  std::chrono::milliseconds down_after{60000};
};

// The largest heartbeat taken (a node's report is small; anything bigger is not one).
inline constexpr size_t kMaxHeartbeatBytes = 16 << 10;

struct DesiredPlan {
  int64_t version = 0;
  event::ProbePlan plan;
  std::string updated_by;
  int64_t updated_ns = 0;
};

class NodeRegistry {
 public:
  explicit NodeRegistry(auth::AuthDb& db, Liveness liveness = {}) : db_(db), liveness_(liveness) {}

  // A node's heartbeat (its signature already checked), received at `now_ns`. Only the fields a
  // heartbeat has are kept (sanitize_heartbeat); a heartbeat that is not one is a bad_input
  // error. The minute's row gains its events and drops; rows older than a day go.
  // The heartbeat as kept.
  Result<nlohmann::json> record(const std::string& node, int64_t now_ns,
                                std::string_view heartbeat);
  // Every node that ever reported: {name, state, since_ns, last_seen_ns, first_seen_ns,
  // heartbeat}. `state`: up, stale, down (or "stopped" when its agent said it was stopping).
  Result<std::vector<nlohmann::json>> statuses(int64_t now_ns);
  Result<std::optional<nlohmann::json>> status(const std::string& node, int64_t now_ns);
  // The node's minutes since `from_ns`: [{minute_ns, heartbeats, events, dropped}], oldest first.
  Result<nlohmann::json> history(const std::string& node, int64_t from_ns);

  // Stores `plan` as the node's desired one; its new version.
  Result<int64_t> set_desired(const std::string& node, const event::ProbePlan& plan,
                              const std::string& by, int64_t now_ns);
  Result<std::optional<DesiredPlan>> desired(const std::string& node);
  // Forgets everything about a node (it was deleted).
  Status forget(const std::string& node);

  const Liveness& liveness() const { return liveness_; }

 private:
  nlohmann::json status_json(const auth::SqlRow& row, int64_t now_ns) const;
  auth::AuthDb& db_;
  Liveness liveness_;
  std::mutex prune_mu_;
  int64_t next_prune_ns_ = 0;
};

// Only what a heartbeat carries, each with its type: host facts (version, kernel, boot_id, cpus,
// memory_bytes, gpus), the probes (running, applied), the rates and counters (events_total,
// events_per_s, dropped, spool_pending, queue_fill), ts_ns and stopping. Anything else is left
// out; a value of the wrong type is an error.
Result<nlohmann::json> sanitize_heartbeat(std::string_view text);

// {version, plan, updated_by, updated_ns}.
nlohmann::json desired_json(const DesiredPlan& d);

}  // namespace scope::server
