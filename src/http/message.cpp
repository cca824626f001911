#include "http/message.h"

#include <unistd.h>

namespace scope::http {

FileBody::~FileBody() {
  if (fd >= 0) ::close(fd);
}

const std::string* Request::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers)
    if (name == lower_name) return &value;
  return nullptr;
}

nlohmann::json Request::json_body(std::string* error) const {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    *error = "the body must be a JSON object";
    return nlohmann::json();
  }
  return j;
}

Response Response::json(int status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  // Invalid UTF-8 from a store (a process name, a path) is replaced, not thrown.
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

Response Response::error(int status, std::string_view code, std::string_view message) {
  return json(status, {{"error", {{"code", code}, {"message", message}}}});
}

}  // namespace scope::http
