// Routes: a method and a path pattern ("/api/v1/nodes/{node}") to a handler, with what the
// route demands before its body is read (who may call it, how large a body it takes) and where
// it runs (an I/O thread, or the worker pool for handlers that block: queries, password hashes).
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"
#include "http/websocket.h"

namespace scope::http {

using Handler = std::function<Response(Request&)>;

// Who may call a route. Checked on the request's headers, before any byte of its body is read.
enum class Access : uint8_t { kPublic, kViewer, kAdmin };

struct Route {
  std::string method;
  std::string pattern;
  std::vector<std::string> segments;  // "{name}" segments are parameters
  Access access = Access::kPublic;
  size_t max_body = 64 << 10;  // bytes; 0: no body accepted
  bool blocking = false;       // runs on the worker pool
  bool throttled = false;      // counted by the per-address rate limit (login, register, ...)
  bool optional_auth = false;  // public, but a bearer token sent along is checked and used
  Handler handler;
  // Set for a WebSocket route (add_websocket): a GET that upgrades; `handler` is not used.
  WebSocketHandler websocket;
  WebSocketLimits websocket_limits;
};

class Router {
 public:
  // Adds a route; the reference is for setting its limits (max_body, blocking, throttled).
  Route& add(std::string method, std::string pattern, Access access, Handler handler);
  // A WebSocket route: GET `pattern`, upgraded once the header passes every check.
  Route& add_websocket(std::string pattern, Access access, WebSocketHandler handler);

  struct Match {
    const Route* route = nullptr;
    std::map<std::string, std::string> params;
    bool other_method = false;  // the path exists with another method (405)
  };
  Match match(std::string_view method, std::string_view path) const;
  const std::deque<Route>& routes() const { return routes_; }

  // The route of a GET that no route matches, on any path (the web UI's history-mode pages:
  // /cuda?range=5m is its index.html); public, no body. Not in routes(): it is no API endpoint,
  // and its handler answers 404 for paths it does not own (/api/...).
  Route& set_fallback(Handler handler);

 private:
  std::deque<Route> routes_;    // a deque: references stay valid as routes are added
  std::deque<Route> fallback_;  // none or one
};

// "/a/b/" -> {"a", "b"}, percent-decoded; `ok` false for a path that is not one (no leading
// '/', a bad escape, an encoded '/' or NUL).
std::vector<std::string> split_path(std::string_view path, bool* ok);

}  // namespace scope::http
