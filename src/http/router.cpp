#include "http/router.h"

namespace scope::http {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_parameter(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

std::vector<std::string> split_path(std::string_view path, bool* ok) {
  *ok = false;
  std::vector<std::string> out;
  if (path.empty() || path.front() != '/') return out;
  std::string segment;
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (!segment.empty()) out.push_back(std::move(segment));
      segment.clear();
      continue;
    }
    char c = path[i];
    if (c == '%') {
      int hi = i + 2 < path.size() ? hex_value(path[i + 1]) : -1;
      int lo = i + 2 < path.size() ? hex_value(path[i + 2]) : -1;
      if (hi < 0 || lo < 0) return {};
      c = static_cast<char>(hi * 16 + lo);
      // An encoded '/' or NUL would let a parameter smuggle a path or end a C string.
      if (c == '/' || c == '\0') return {};
      i += 2;
    }
    segment.push_back(c);
  }
  *ok = true;
  return out;
}

Route& Router::add(std::string method, std::string pattern, Access access, Handler handler) {
  bool ok = false;
  Route r;
  r.segments = split_path(pattern, &ok);
  r.method = std::move(method);
  r.pattern = std::move(pattern);
  r.access = access;
  r.handler = std::move(handler);
  routes_.push_back(std::move(r));
  return routes_.back();
}

Route& Router::add_websocket(std::string pattern, Access access, WebSocketHandler handler) {
  Route& r = add("GET", std::move(pattern), access, nullptr);
  r.max_body = 0;
  r.websocket = std::move(handler);
  return r;
}

Route& Router::set_fallback(Handler handler) {
  fallback_.clear();
  Route r;
  r.method = "GET";
  r.pattern = "/{path...}";
  r.access = Access::kPublic;
  r.max_body = 0;
  r.handler = std::move(handler);
  fallback_.push_back(std::move(r));
  return fallback_.back();
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  Match m;
  bool ok = false;
  auto segments = split_path(path, &ok);
  if (!ok) return m;
  for (const auto& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    std::map<std::string, std::string> params;
    bool same = true;
    for (size_t i = 0; same && i < segments.size(); ++i) {
      const std::string& want = route.segments[i];
      if (is_parameter(want))
        params[want.substr(1, want.size() - 2)] = segments[i];
      else
        same = want == segments[i];
    }
    if (!same) continue;
    if (route.method != method) {
      m.other_method = true;
      continue;
    }
    m.route = &route;
    m.params = std::move(params);
    m.other_method = false;
    return m;
  }
  if (!m.other_method && !fallback_.empty() && method == fallback_.front().method)
    m.route = &fallback_.front();
  return m;
}

}  // namespace scope::http
