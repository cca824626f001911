// A fleet node's identity: its name and Ed25519 secret key, from `scope agent --enroll`.
// DATA_DIR/node.key holds the secret key (base64url; created O_EXCL|O_NOFOLLOW, mode 0600, and
// refused when another user owns it or group/others may read it); DATA_DIR/node.name the name the
// server gave back. The public half is registered with the server at enrollment.
#pragma once

#include <optional>
#include <string>

#include "common/result.h"

namespace scope::agent {

struct NodeIdentity {
  std::string name;
  std::string secret_key;  // 64 raw bytes
};

// The identity in `dir`, nullopt when the node is not enrolled (no node.key); an error when the
// files are unsafe (owner, mode, a link) or unreadable.
Result<std::optional<NodeIdentity>> load_node_identity(const std::string& dir);

// Enrolls this node with the server at `server_url` (http://HOST:PORT): a new key pair, its
// public half sent with the one-time `token`, its secret half written to dir/node.key. The name.
Result<std::string> enroll_node(const std::string& server_url, const std::string& token,
                                const std::string& dir);

}  // namespace scope::agent
