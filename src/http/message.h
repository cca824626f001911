// An HTTP request and response as handlers see them: plain values, no Beast types, so that
// only the .cpp files of src/http compile Boost.Beast.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace scope::http {

// Who made a request, as authentication found it.
enum class Role : uint8_t { kNone, kViewer, kAdmin };

struct Principal {
  Role role = Role::kNone;
  std::string user;  // the user's name ("admin" for scope up's admin token)
  int64_t user_id = 0;
  std::string jti;         // the access token's id, for logout
  std::string session;     // its refresh-token family, ended by logout
  int64_t expires_ns = 0;  // the access token's expiry
};

struct Request {
  std::string method;  // "GET"
  std::string target;  // as sent: path and query
  std::string path;    // without the query
  std::map<std::string, std::string> query;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;
  std::string remote;                         // the peer's address
  std::string request_id;                     // X-Request-Id: the client's (when sane) or a new one
  std::map<std::string, std::string> params;  // from the route's {placeholders}
  Principal principal;

  // A header's value, or nullptr.
  const std::string* header(std::string_view lower_name) const;
  // The body as a JSON object, or a 400 error message in `error`.
  nlohmann::json json_body(std::string* error) const;
};

// An open file sent as a response's body from its start, closed when sent (or dropped): an
// answer too large to hold in memory (a Perfetto trace) is written to an unlinked temporary file.
struct FileBody {
  int fd = -1;
  explicit FileBody(int f) : fd(f) {}
  FileBody(const FileBody&) = delete;
  FileBody& operator=(const FileBody&) = delete;
  ~FileBody();
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::shared_ptr<FileBody> file;  // when set, the body instead of `body`

  static Response json(int status, const nlohmann::json& body);
  // {"error": {"code": CODE, "message": MESSAGE}} (DESIGN.md's typed API errors).
  static Response error(int status, std::string_view code, std::string_view message);
};

}  // namespace scope::http
