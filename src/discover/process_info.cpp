#include "discover/process_info.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <vector>

#include "common/redact.h"

namespace scope::discover {

namespace {

bool read_file(const std::string& path, std::string& out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  out = ss.str();
  return true;
}

bool is_hex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace

std::string container_id_from_cgroup(std::string_view path) {
  // Look at every path component, with a runtime prefix and a ".scope" suffix stripped.
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    std::string_view part =
        path.substr(start, end == std::string_view::npos ? path.npos : end - start);
    if (part.size() > 6 && part.substr(part.size() - 6) == ".scope") part.remove_suffix(6);
    size_t dash = part.rfind('-');
    std::string_view tail = dash == std::string_view::npos ? part : part.substr(dash + 1);
    if (is_hex64(tail)) return std::string(tail);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return {};
}

std::string join_cmdline(std::string_view raw, size_t max_bytes, bool redact_args) {
  while (!raw.empty() && raw.back() == '\0') raw.remove_suffix(1);
  raw = raw.substr(0, max_bytes);
  if (redact_args) {
    std::vector<std::string> argv;
    for (size_t pos = 0; pos <= raw.size();) {
      size_t nul = std::min(raw.find('\0', pos), raw.size());
      argv.emplace_back(raw.substr(pos, nul - pos));
      pos = nul + 1;
    }
    if (redact_argv(argv) > 0) {
      std::string out;
      for (size_t i = 0; i < argv.size(); ++i) {
        if (i > 0) out += ' ';
        out += argv[i];
      }
      return out;
    }
  }
  std::string out(raw);
  for (char& c : out)
    if (c == '\0') c = ' ';
  return out;
}

std::string cgroup_v2_path(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? text.npos : nl - pos);
    if (line.substr(0, 3) == "0::") return std::string(line.substr(3));
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return {};
}

const ProcessInfo* ProcessInfoCache::lookup(uint32_t pid) {
  auto now = std::chrono::steady_clock::now();
  auto it = cache_.find(pid);
  if (it != cache_.end() && now - it->second.read_at < ttl_)
    return it->second.info ? &*it->second.info : nullptr;
  if (cache_.size() > 65536) cache_.clear();  // bounded: pids are reused anyway
  Entry& e = cache_[pid];
  e.read_at = now;
  std::string base = "/proc/" + std::to_string(pid);
  std::string raw, cg;
  if (!read_file(base + "/cmdline", raw)) {
    e.info.reset();
    return nullptr;
  }
  ProcessInfo info;
  info.cmdline = join_cmdline(raw, 4096, redact_args_);
  if (read_file(base + "/cgroup", cg)) {
    info.cgroup = cgroup_v2_path(cg);
    info.container_id = container_id_from_cgroup(info.cgroup);
  }
  e.info = std::move(info);
  return &*e.info;
}

}  // namespace scope::discover
