// The agent's side of the control plane, two threads with a Redis connection each: one reads the
// node's control stream (transport::control_stream_name: the plans an admin set for this node,
// newest last) and offers the newest plan to the node; the other adds the node's heartbeat to the
// events stream every 5 s, signed like a batch (field `h`), and within 20 ms of the node applying
// a plan, so the server knows at once what runs. A last heartbeat says it stops.
//
// Its Redis user needs XADD on the events stream and XREAD and XREVRANGE on its own control
// stream, nothing more (README: Redis ACLs).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "agent/node.h"
#include "transport/redis_stream.h"

namespace scope::agent {

struct ControlLinkOptions {
  transport::RedisEndpoint redis;
  std::string stream = "scope:events";
  std::string node;
  transport::BatchSigner signer;  // null: heartbeats go unsigned (a node not enrolled)
  std::chrono::milliseconds heartbeat_every{5000};
  int block_ms = 250;  // the longest a read of the control stream waits
  // Adds to a heartbeat what the node does not know (the shipper's spool).
  std::function<void(nlohmann::json&)> extend;
};

class ControlLink {
 public:
  ControlLink(ControlLinkOptions options, Node& node);
  ~ControlLink();

  // The newest plan of the control stream, offered to the node now (before its probes start, so
  // that an agent that was away starts with what it should run). False when there is none or
  // Redis does not answer (the thread catches up later).
  bool fetch_latest();
  void start();
  // Stops the thread after a last heartbeat that says the node stops.
  void stop();
  uint64_t heartbeats_sent() const { return sent_; }

 private:
  void read_plans();
  void take(const transport::RedisValue& entries);
  void send_heartbeat(nlohmann::json&& hb);

  ControlLinkOptions options_;
  Node& node_;
  std::string key_;
  transport::RedisClient redis_;     // the control stream's reader
  transport::RedisClient reporter_;  // heartbeats
  std::string last_id_ = "0-0";
  std::thread reader_thread_;
  std::unique_ptr<HeartbeatLoop> heartbeats_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> sent_{0};
};

}  // namespace scope::agent
