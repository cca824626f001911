// Fleet nodes and their keys. An admin creates a node by name and gets a one-time enrollment
// token (24 h; stored as its SHA-256); the node's agent trades it once for registering its
// Ed25519 public key, and signs every batch it ships with the secret half, which never leaves
// the node. The server's ingest stores a batch only when its signature verifies with the key of
// the node the batch names (NodeKeyCache). Deleting a node drops its key: the node's later
// batches are refused within a refresh of the cache.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth/accounts.h"
#include "auth/auth_db.h"
#include "http/router.h"

namespace scope::auth {

struct NodeInfo {
  std::string name;
  bool enrolled = false;
  std::string fingerprint;  // of the public key; empty until enrolled
  std::string created_by;
  int64_t created_ns = 0;
  int64_t enrolled_ns = 0;
  int64_t enroll_expires_ns = 0;  // of the pending token; 0 once enrolled
};

struct NodeCreated {
  std::string name;
  std::string enrollment_token;
  int64_t expires_ns = 0;
};

class Nodes {
 public:
  Nodes(AuthDb& db, Accounts& accounts,
        std::chrono::seconds enroll_lifetime = std::chrono::hours(24))
      : db_(db), accounts_(accounts), enroll_lifetime_(enroll_lifetime) {}

  ApiResult<NodeCreated> create(const std::string& name, const http::Principal& caller,
                                const std::string& remote);
  Result<std::vector<NodeInfo>> list();
  Result<std::optional<NodeInfo>> get(const std::string& name);
  ApiResult<bool> remove(const std::string& name, const http::Principal& caller,
                         const std::string& remote);
  // Trades a one-time token for registering `public_key` (base64url of the 32 raw bytes);
  // the node's name.
  ApiResult<std::string> enroll(const std::string& token, const std::string& public_key,
                                const std::string& remote);

 private:
  AuthDb& db_;
  Accounts& accounts_;
  std::chrono::seconds enroll_lifetime_;
};

// {name, enrolled, created_by, created_ns, and public_key_fingerprint + enrolled_ns or
// enroll_expires_ns}.
nlohmann::json node_json(const NodeInfo& n);

// A node name the API accepts: 1 to 64 of [A-Za-z0-9._-], not starting with '.' or '-'.
bool valid_node_name(const std::string& name);

// POST /api/v1/nodes and DELETE /api/v1/nodes/{name} (admin), /api/v1/nodes/enroll (public,
// throttled); `on_removed` is told of each node deleted. (Listing nodes is the fleet's:
// server/fleet.h.)
void add_node_routes(http::Router& router, Nodes& nodes,
                     const std::function<void(const std::string&)>& on_removed = {});

// Ingest's view of the node keys: name -> raw Ed25519 public key, re-read from auth_nodes every
// `refresh`, and on a miss for an entry read from the stream after the last load began. An
// agent enrolls before it ships, so a load that begins after its entry was read sees its key:
// a node enrolled a moment ago is never refused, and a stream full of entries for unknown nodes
// (or with bad signatures) costs at most one load per read of the stream. Thread-safe.
class NodeKeyCache {
 public:
  using Clock = std::chrono::steady_clock;
  explicit NodeKeyCache(AuthDb& db, std::chrono::milliseconds refresh = std::chrono::seconds(3))
      : db_(db), refresh_(refresh) {}
  // The key of `node`, for an entry read at `read_at`; nullopt when the node has none (unknown,
  // not enrolled, deleted); an error when the database cannot say (the caller retries).
  // `stale`: the key this gave did not verify the entry: re-read like a miss (the node may have
  // been deleted and enrolled again since the last load).
  Result<std::optional<std::string>> key(const std::string& node, Clock::time_point read_at,
                                         bool stale = false);
  // How many times auth_nodes was read (what a flood of forgeries costs the database).
  uint64_t loads() {
    std::lock_guard lock(mu_);
    return loads_;
  }

 private:
  Status reload(Clock::time_point now);
  AuthDb& db_;
  std::chrono::milliseconds refresh_;
  std::mutex mu_;
  std::unordered_map<std::string, std::string> keys_;
  bool loaded_ = false;
  Clock::time_point loaded_at_{};  // when the last successful load began
  Clock::time_point last_attempt_{};
  uint64_t loads_ = 0;
};

}  // namespace scope::auth
