// A small HTTP/1.1 client for `scope sql`, the agent's enrollment and the tests: one request per
// connection, one deadline for all of it (resolve, connect, write, read), a cap on the answer.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace scope::http {

struct ClientRequest {
  std::string method = "GET";
  std::string url;  // http://HOST[:PORT]/PATH[?QUERY]
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type = "application/json";  // sent when there is a body
  std::chrono::milliseconds timeout{30000};
  size_t max_body = 256 << 20;  // a larger answer is an error
  // When set, a 200 answer's body goes to this file (created or truncated; max_body does not
  // apply) and ClientResponse::body stays empty; any other answer is read as usual.
  std::string save_to;
};

struct ClientResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;
  const std::string* header(std::string_view lower_name) const;
};

// Sends the request and reads the answer. Errors (kUnavailable when the server cannot be reached
// or did not answer in time, kBadInput for a URL that is not http://) say which it was.
Result<ClientResponse> fetch(const ClientRequest& request);

// The message of an API error ({"error": {"message": ...}}), or the body itself.
std::string error_message(const ClientResponse& response);

}  // namespace scope::http
