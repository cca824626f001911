#include "server/node_registry.h"

#include <algorithm>

namespace scope::server {
namespace {

constexpr int64_t kMinuteNs = 60'000'000'000;
constexpr int64_t kDayNs = 24 * 60 * kMinuteNs;
constexpr size_t kMaxText = 256;

int64_t ns(std::chrono::milliseconds d) { return static_cast<int64_t>(d.count()) * 1'000'000; }

Error bad(const std::string& what) { return make_error(Errc::kBadInput, "heartbeat: " + what); }

Result<std::string> short_text(const nlohmann::json& v, const std::string& key, size_t max) {
  if (!v.is_string() || v.get_ref<const std::string&>().size() > max)
    return bad("\"" + key + "\" must be a string of at most " + std::to_string(max) + " bytes");
  return v.get<std::string>();
}

Result<nlohmann::json> count_map(const nlohmann::json& v, const std::string& key) {
  if (!v.is_object() || v.size() > 16) return bad("\"" + key + "\" must be an object of counts");
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [k, n] : v.items()) {
    if (k.size() > 32 || !n.is_number_unsigned())
      return bad("\"" + key + "\": counts by cause (names of at most 32 bytes)");
    out[k] = n;
  }
  return out;
}

Result<nlohmann::json> applied_of(const nlohmann::json& v) {
  if (!v.is_object()) return bad("\"applied\" must be an object");
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [k, x] : v.items()) {
    if (k == "version" || k == "applied_ns") {
      if (!x.is_number_integer()) return bad("\"applied." + k + "\" must be an integer");
      out[k] = x;
    } else if (k == "plan") {
      auto plan = event::parse_probe_plan(x);
      if (!plan) return bad("\"applied.plan\": " + plan.error());
      out[k] = event::probe_plan_json(*plan);
    } else if (k == "errors") {
      if (!x.is_object() || x.size() > 16) return bad("\"applied.errors\" must be an object");
      out[k] = nlohmann::json::object();
      for (const auto& [family, message] : x.items()) {
        auto m = short_text(message, "applied.errors", 1024);
        if (!m || family.size() > 32) return bad("\"applied.errors\": family → message");
        out[k][family] = *m;
      }
    }
  }
  return out;
}

}  // namespace

Result<nlohmann::json> sanitize_heartbeat(std::string_view text) {
  if (text.size() > kMaxHeartbeatBytes)
    return bad("larger than " + std::to_string(kMaxHeartbeatBytes) + " bytes");
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [key, v] : j.items()) {
    if (key == "version" || key == "kernel" || key == "boot_id") {
      auto s = short_text(v, key, kMaxText);
      if (!s) return s.failure();
      out[key] = *s;
    } else if (key == "cpus" || key == "memory_bytes" || key == "events_total" ||
               key == "events_since_last" || key == "dropped_since_last" ||
               key == "spool_pending" || key == "ts_ns") {
      if (!v.is_number_integer() || v.get<int64_t>() < 0)
        return bad("\"" + key + "\" must be a count");
      out[key] = v;
    } else if (key == "events_per_s" || key == "queue_fill") {
      if (!v.is_number() || v.get<double>() < 0) return bad("\"" + key + "\" must be a number");
      out[key] = v;
    } else if (key == "stopping") {
      if (!v.is_boolean()) return bad("\"stopping\" must be true or false");
      out[key] = v;
    } else if (key == "dropped") {
      auto m = count_map(v, key);
      if (!m) return m.failure();
      out[key] = *m;
    } else if (key == "running") {
      auto list = v.is_array() ? event::parse_probe_plan({{"families", v}})
                               : Result<event::ProbePlan>(bad("\"running\" must be an array"));
      if (!list) return bad("\"running\": " + list.error());
      out[key] = event::probe_plan_json(*list)["families"];
    } else if (key == "applied") {
      auto a = applied_of(v);
      if (!a) return a.failure();
      out[key] = *a;
    } else if (key == "gpus") {
      if (!v.is_array() || v.size() > 64) return bad("\"gpus\" must be an array");
      out[key] = nlohmann::json::array();
      for (const auto& gpu : v) {
        if (!gpu.is_object() || gpu.size() > 8) return bad("\"gpus\": objects of strings");
        nlohmann::json g = nlohmann::json::object();
        for (const auto& [k, x] : gpu.items()) {
          auto s = short_text(x, "gpus." + k, kMaxText);
          if (!s || k.size() > 32) return bad("\"gpus\": objects of short strings");
          g[k] = *s;
        }
        out[key].push_back(std::move(g));
      }
    }
    // Anything else: a newer agent's field this server does not know; left out.
  }
  return out;
}

Result<nlohmann::json> NodeRegistry::record(const std::string& node, int64_t now_ns,
                                            std::string_view heartbeat) {
  auto hb = sanitize_heartbeat(heartbeat);
  if (!hb) return hb.failure();
  bool stopping = hb->value("stopping", false);
  auto r = db_.run(
      "INSERT INTO node_status (name, first_seen_ns, last_seen_ns, up_since_ns, stopped, "
      "heartbeat) VALUES ($1, $2, $2, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET "
      "up_since_ns = CASE WHEN node_status.stopped = 1 OR $2 - node_status.last_seen_ns > $5 "
      "THEN $2 ELSE node_status.up_since_ns END, last_seen_ns = $2, stopped = $3, heartbeat = $4",
      {node, now_ns, int64_t{stopping}, hb->dump(), ns(liveness_.stale_after)});
  if (!r) return r.failure();
  auto m = db_.run(
      "INSERT INTO node_minutes (name, minute_ns, heartbeats, events, dropped) "
      "VALUES ($1, $2, 1, $3, $4) ON CONFLICT (name, minute_ns) DO UPDATE SET "
      "heartbeats = node_minutes.heartbeats + 1, events = node_minutes.events + $3, "
      "dropped = node_minutes.dropped + $4",
      {node, now_ns - now_ns % kMinuteNs, hb->value("events_since_last", int64_t{0}),
       hb->value("dropped_since_last", int64_t{0})});
  if (!m) return m.failure();
  {
    std::lock_guard lock(prune_mu_);
    if (now_ns < next_prune_ns_) return hb;
    next_prune_ns_ = now_ns + kMinuteNs;
  }
  auto p = db_.run("DELETE FROM node_minutes WHERE minute_ns < $1", {now_ns - kDayNs});
  if (!p) return p.failure();
  return hb;
}

nlohmann::json NodeRegistry::status_json(const auth::SqlRow& row, int64_t now_ns) const {
  // name, first_seen_ns, last_seen_ns, up_since_ns, stopped, heartbeat
  int64_t last = auth::as_int(row[2]);
  int64_t age = now_ns - last;
  std::string state;
  int64_t since = 0;
  if (auth::as_int(row[4]) != 0) {
    state = "stopped";
    since = last;
  } else if (age <= ns(liveness_.stale_after)) {
    state = "up";
    since = auth::as_int(row[3]);
  } else if (age <= ns(liveness_.down_after)) {
    state = "stale";
    since = last + ns(liveness_.stale_after);
  } else {
    state = "down";
    since = last + ns(liveness_.down_after);
  }
  auto hb = nlohmann::json::parse(row[5].value_or("{}"), nullptr, false);
  return {{"name", row[0].value_or("")},
          {"state", state},
          {"since_ns", since},
          {"last_seen_ns", last},
          {"first_seen_ns", auth::as_int(row[1])},
          {"heartbeat", hb.is_discarded() ? nlohmann::json::object() : hb}};
}

constexpr const char* kStatusColumns =
    "SELECT name, first_seen_ns, last_seen_ns, up_since_ns, stopped, heartbeat FROM node_status";

Result<std::vector<nlohmann::json>> NodeRegistry::statuses(int64_t now_ns) {
  auto rows = db_.run(std::string(kStatusColumns) + " ORDER BY name");
  if (!rows) return rows.failure();
  std::vector<nlohmann::json> out;
  for (const auto& row : *rows) out.push_back(status_json(row, now_ns));
  return out;
}

Result<std::optional<nlohmann::json>> NodeRegistry::status(const std::string& node,
                                                           int64_t now_ns) {
  auto rows = db_.run(std::string(kStatusColumns) + " WHERE name = $1", {node});
  if (!rows) return rows.failure();
  if (rows->empty()) return std::optional<nlohmann::json>{};
  return std::optional<nlohmann::json>(status_json(rows->front(), now_ns));
}

Result<nlohmann::json> NodeRegistry::history(const std::string& node, int64_t from_ns) {
  auto rows = db_.run(
      "SELECT minute_ns, heartbeats, events, dropped FROM node_minutes "
      "WHERE name = $1 AND minute_ns >= $2 ORDER BY minute_ns",
      {node, from_ns - from_ns % kMinuteNs});
  if (!rows) return rows.failure();
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : *rows)
    out.push_back({{"minute_ns", auth::as_int(r[0])},
                   {"heartbeats", auth::as_int(r[1])},
                   {"events", auth::as_int(r[2])},
                   {"dropped", auth::as_int(r[3])}});
  return out;
}

Result<int64_t> NodeRegistry::set_desired(const std::string& node, const event::ProbePlan& plan,
                                          const std::string& by, int64_t now_ns) {
  auto rows = db_.run(
      "INSERT INTO node_probes (name, version, plan, updated_by, updated_ns) "
      "VALUES ($1, 1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET "
      "version = node_probes.version + 1, plan = $2, updated_by = $3, updated_ns = $4 "
      "RETURNING version",
      {node, event::probe_plan_json(plan).dump(), by, now_ns});
  if (!rows) return rows.failure();
  if (rows->empty()) return make_error("no version returned");
  return auth::as_int(rows->front()[0]);
}

Result<std::optional<DesiredPlan>> NodeRegistry::desired(const std::string& node) {
  auto rows = db_.run(
      "SELECT version, plan, updated_by, updated_ns FROM node_probes WHERE name = $1", {node});
  if (!rows) return rows.failure();
  if (rows->empty()) return std::optional<DesiredPlan>{};
  const auto& r = rows->front();
  auto j = nlohmann::json::parse(r[1].value_or(""), nullptr, false);
  auto plan = event::parse_probe_plan(j);
  if (!plan) return make_error("node_probes of '" + node + "': " + plan.error());
  return std::optional<DesiredPlan>(
      DesiredPlan{auth::as_int(r[0]), *plan, r[2].value_or(""), auth::as_int(r[3])});
}

Status NodeRegistry::forget(const std::string& node) {
  for (const char* table : {"node_status", "node_minutes", "node_probes"})
    if (auto r = db_.run(std::string("DELETE FROM ") + table + " WHERE name = $1", {node}); !r)
      return r.failure();
  return Ok{};
}

nlohmann::json desired_json(const DesiredPlan& d) {
  return {{"version", d.version},
          {"plan", event::probe_plan_json(d.plan)},
          {"updated_by", d.updated_by},
          {"updated_ns", d.updated_ns}};
}

}  // namespace scope::server
