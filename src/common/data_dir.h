// The data directory of `scope up`, `scope agent` and `scope server`: the
// store, the admin credential (mode 0600), the agent's spool and sequence
// state, and `endpoint.json`, which tells `scope sql --data-dir` where the
// running process listens.
#pragma once

#include <string>

#include "common/result.h"

namespace scope {

// Creates `dir` (and parents) with mode 0700 when missing; checks it is writable.
Status ensure_data_dir(const std::string& dir);

struct AdminToken {
  std::string token;
  bool created = false;  // first start: print it once
};
// DIR/admin.token: read it, or create a random one (mode 0600).
Result<AdminToken> load_or_create_admin_token(const std::string& dir);

// DIR/endpoint.json: {"url": "http://127.0.0.1:18080", "pid": N}.
Status write_endpoint(const std::string& dir, const std::string& url);
Result<std::string> read_endpoint(const std::string& dir);
void remove_endpoint(const std::string& dir);

}  // namespace scope
