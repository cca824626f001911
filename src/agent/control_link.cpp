#include "agent/control_link.h"

#include <spdlog/spdlog.h>

#include "event/probe_plan.h"

namespace scope::agent {

ControlLink::ControlLink(ControlLinkOptions options, Node& node)
    : options_(std::move(options)),
      node_(node),
      key_(transport::control_stream_name(options_.stream, options_.node)),
      redis_(options_.redis, options_.block_ms + 2000),
      reporter_(options_.redis, 2000) {}

ControlLink::~ControlLink() { stop(); }

// [[id, [field, value, ...]], ...]: the last entry with a plan that parses is offered.
void ControlLink::take(const transport::RedisValue& entries) {
  for (const auto& e : entries.elements) {
    if (e.type != transport::RedisValue::kArray || e.elements.size() < 2) continue;
    last_id_ = e.elements[0].str;
    int64_t version = 0;
    std::string plan_text;
    const auto& fields = e.elements[1].elements;
    for (size_t i = 0; i + 1 < fields.size(); i += 2) {
      if (fields[i].str == "v") version = std::strtoll(fields[i + 1].str.c_str(), nullptr, 10);
      if (fields[i].str == "p") plan_text = fields[i + 1].str;
    }
    auto plan = event::parse_probe_plan(nlohmann::json::parse(plan_text, nullptr, false));
    if (!plan || version <= 0) {
      spdlog::warn("scope: control entry {} of {} is not a plan: {}", last_id_, key_,
                   plan ? "no version" : plan.error());
      continue;
    }
    node_.offer(version, std::move(*plan));
  }
}

bool ControlLink::fetch_latest() {
  auto r = redis_.command({"XREVRANGE", key_, "+", "-", "COUNT", "1"});
  if (!r) {
    spdlog::warn("scope: cannot read {} now ({}): starting with the probes of the flags", key_,
                 r.error());
    return false;
  }
  if (r->elements.empty()) return false;
  take(*r);
  return true;
}

void ControlLink::send_heartbeat(nlohmann::json&& hb) {
  if (options_.extend) options_.extend(hb);
  std::string text = hb.dump();
  Result<transport::RedisValue> r = make_error("");
  if (options_.signer) {
    std::string signature = options_.signer(text);
    r = reporter_.command(
        {"XADD", options_.stream, "*", "h", text, "n", options_.node, "s", signature});
  } else {
    r = reporter_.command({"XADD", options_.stream, "*", "h", text, "n", options_.node});
  }
  if (r) ++sent_;
}

void ControlLink::start() {
  stopping_ = false;
  reader_thread_ = std::thread([this] { read_plans(); });
  heartbeats_ = std::make_unique<HeartbeatLoop>(
      node_, options_.heartbeat_every,
      [this](nlohmann::json&& hb) { send_heartbeat(std::move(hb)); });
}

void ControlLink::stop() {
  if (!reader_thread_.joinable()) return;
  stopping_ = true;
  reader_thread_.join();
  heartbeats_.reset();  // its last heartbeat says the node stops
}

void ControlLink::read_plans() {
  std::string block = std::to_string(options_.block_ms);
  while (!stopping_) {
    auto r = redis_.command({"XREAD", "COUNT", "16", "BLOCK", block, "STREAMS", key_, last_id_});
    if (!r) {
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.block_ms));
      continue;
    }
    // Nil on a timeout; else [[key, entries]].
    if (r->type == transport::RedisValue::kArray && !r->elements.empty() &&
        r->elements[0].elements.size() == 2)
      take(r->elements[0].elements[1]);
  }
}

}  // namespace scope::agent
