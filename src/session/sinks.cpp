#include "session/sinks.h"

#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "common/clock.h"

namespace scope::session {

void LineWriter::line(const std::string& text) {
  if (!pending_.empty() && pending_.size() + text.size() + 1 > PIPE_BUF) flush();
  pending_ += text;
  pending_.push_back('\n');
  if (pending_.size() >= PIPE_BUF) flush();
}

void LineWriter::flush() {
  size_t done = 0;
  while (done < pending_.size()) {
    ssize_t n = ::write(fd_, pending_.data() + done, pending_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  pending_.clear();
}

void LineSink::add(const families::Event& e) {
  if (options_.quiet) return;
  if (!start_ns_) start_ns_ = e.ts_ns();
  if (!options_.json) {
    reorder_.add(e.ts_ns(), e.line(start_ns_));
    return;
  }
  event::EventRow row = e.row();
  nlohmann::json j = families::event_json(row);
  if (event::schemas().at(row.family).family != "cuda") {
    if (const auto* p = processes_.lookup(row.pid)) {
      j["cmdline"] = p->cmdline;
      j["cgroup"] = p->cgroup;
      if (!p->container_id.empty()) j["container_id"] = p->container_id;
    }
  }
  reorder_.add(e.ts_ns(), j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void LineSink::release() {
  reorder_.release(static_cast<uint64_t>(unix_now_ns()),
                   [&](const std::string& l) { out_.line(l); });
  out_.flush();
}

void LineSink::release_all() {
  reorder_.release_all([&](const std::string& l) { out_.line(l); });
  out_.flush();
}

}  // namespace scope::session
