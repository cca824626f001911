#include "server/export_route.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "auth/auth_routes.h"
#include "common/clock.h"
#include "export/perfetto_export.h"
#include "server/queries.h"

namespace scope::server {

namespace {

// A file no other process can open: made O_EXCL and unlinked at once, it lives as long as its fd.
int anonymous_file() {
  std::string path = (std::filesystem::temp_directory_path() / "scope-export-XXXXXX").string();
  int fd = mkostemp(path.data(), O_CLOEXEC);
  if (fd >= 0) ::unlink(path.c_str());
  return fd;
}

http::Response perfetto(store::Store& store, http::Request& req) {
  auto parsed =
      parse_query_params(req.query, unix_now_ns(), QueryRules{.default_limit = 0, .max_limit = 0});
  if (const auto* bad = std::get_if<std::string>(&parsed))
    return auth::error_response({400, "bad_request", *bad});
  const auto& p = std::get<QueryParams>(parsed);
  if (!p.comm.empty())
    return auth::error_response(
        {400, "bad_request", "the export is one node's processes: filter by pid, not comm"});
  perfetto::ExportOptions o;
  o.from_ns = p.from_ns;
  o.to_ns = p.to_ns;
  o.node = p.node;
  if (p.pid) o.pid = static_cast<uint32_t>(p.pid);

  auto file = std::make_shared<http::FileBody>(anonymous_file());
  if (file->fd < 0)
    return auth::error_response(
        {500, "internal", std::string("cannot make a temporary file: ") + std::strerror(errno)});
  uint64_t written = 0;
  bool too_large = false;
  auto r = perfetto::export_trace(store, o, [&](std::string_view bytes) {
    if ((written += bytes.size()) > kMaxExportBytes) return !(too_large = true);
    for (size_t off = 0; off < bytes.size();) {
      ssize_t n = ::write(file->fd, bytes.data() + off, bytes.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  });
  if (too_large)
    return auth::error_response({413, "too_large",
                                 "the trace passes 4 GiB: narrow the window (from, to) or pick a "
                                 "pid"});
  if (!r) {
    int status = r.code() == Errc::kBadInput ? 400 : r.code() == Errc::kNotFound ? 404 : 500;
    const char* code = status == 400 ? "bad_request" : status == 404 ? "not_found" : "internal";
    return auth::error_response({status, code, r.error()});
  }
  http::Response res;
  res.content_type = "application/octet-stream";
  res.headers.emplace_back("Content-Disposition",
                           "attachment; filename=\"scope-" + r->node + ".pftrace\"");
  res.headers.emplace_back("X-Scope-Export", perfetto::summary_json(*r).dump());
  res.file = std::move(file);
  return res;
}

}  // namespace

void add_export_routes(http::Router& router, store::Store& store) {
  auto& route = router.add("GET", "/api/v1/export/perfetto", http::Access::kViewer,
                           [&store](http::Request& req) { return perfetto(store, req); });
  route.max_body = 0;
  route.blocking = true;
}

}  // namespace scope::server
