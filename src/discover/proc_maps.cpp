#include "discover/proc_maps.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include "common/strings.h"

namespace scope::discover {

namespace {

std::string proc_path(int pid, const char* leaf) {
  return "/proc/" + std::to_string(pid) + "/" + leaf;
}

Result<std::string> read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("cannot open " + path + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return make_error("cannot read " + path);
  return ss.str();
}

// Consumes a token up to the next space (or end); advances `s` past following spaces.
std::string_view next_token(std::string_view& s) {
  size_t end = s.find(' ');
  std::string_view tok = s.substr(0, end);
  s = end == std::string_view::npos ? std::string_view() : s.substr(end);
  size_t skip = s.find_first_not_of(' ');
  s = skip == std::string_view::npos ? std::string_view() : s.substr(skip);
  return tok;
}

bool parse_hex(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  out = v;
  return true;
}

bool parse_dec(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  out = v;
  return true;
}

bool parse_line(std::string_view line, Mapping& m) {
  std::string_view rest = line;
  std::string_view range = next_token(rest);
  std::string_view perms = next_token(rest);
  std::string_view offset = next_token(rest);
  std::string_view dev = next_token(rest);
  std::string_view inode = next_token(rest);
  size_t dash = range.find('-');
  if (dash == std::string_view::npos || dev.empty()) return false;
  size_t colon = dev.find(':');
  uint64_t major = 0, minor = 0;
  if (!parse_hex(range.substr(0, dash), m.start) || !parse_hex(range.substr(dash + 1), m.end) ||
      !parse_hex(offset, m.offset) || !parse_dec(inode, m.inode) ||
      colon == std::string_view::npos || !parse_hex(dev.substr(0, colon), major) ||
      !parse_hex(dev.substr(colon + 1), minor)) {
    return false;
  }
  m.dev = makedev(static_cast<unsigned>(major), static_cast<unsigned>(minor));
  m.perms = std::string(perms);
  // The rest of the line is the path, which may contain spaces.
  constexpr std::string_view kDeleted = " (deleted)";
  m.deleted = false;
  if (rest.size() >= kDeleted.size() && rest.substr(rest.size() - kDeleted.size()) == kDeleted) {
    m.deleted = true;
    rest.remove_suffix(kDeleted.size());
  }
  m.path = std::string(rest);
  return true;
}

}  // namespace

std::vector<Mapping> parse_maps(std::string_view text) {
  std::vector<Mapping> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    Mapping m;
    if (parse_line(line, m)) out.push_back(std::move(m));
  }
  return out;
}

Result<std::vector<Mapping>> read_maps(int pid) {
  auto text = read_whole(proc_path(pid, "maps"));
  if (!text) return make_error(text.error());
  return parse_maps(*text);
}

std::vector<MappedFile> mapped_file_keys(const std::vector<Mapping>& maps) {
  std::vector<MappedFile> out;
  std::unordered_set<std::string_view> seen;
  for (const Mapping& m : maps) {
    if (m.path.empty() || m.path[0] != '/') continue;
    if (seen.insert(m.path).second)
      out.push_back({m.path, std::to_string(m.dev) + ":" + std::to_string(m.inode)});
  }
  return out;
}

std::vector<std::string> mapped_files(const std::vector<Mapping>& maps) {
  std::vector<std::string> out;
  for (auto& f : mapped_file_keys(maps)) out.push_back(std::move(f.path));
  return out;
}

Result<std::string> read_exe(int pid) {
  std::string link = proc_path(pid, "exe");
  std::string buf(4096, '\0');
  ssize_t n = ::readlink(link.c_str(), buf.data(), buf.size());
  if (n < 0) return make_error("readlink " + link + ": " + std::strerror(errno));
  buf.resize(static_cast<size_t>(n));
  return buf;
}

Result<std::vector<std::string>> read_environ(int pid) {
  auto text = read_whole(proc_path(pid, "environ"));
  if (!text) return make_error(text.error());
  return split_nonempty(*text, std::string_view("\0", 1));
}

Result<std::string> read_comm(int pid) {
  auto text = read_whole(proc_path(pid, "comm"));
  if (!text) return make_error(text.error());
  std::string s = std::move(*text);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\0')) s.pop_back();
  return s;
}

bool process_exists(int pid) {
  if (pid <= 0) return false;
  struct stat st;
  return ::stat(("/proc/" + std::to_string(pid)).c_str(), &st) == 0;
}

bool thread_exited(uint32_t pid, uint32_t tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%u/task/%u", pid, tid);
  return ::access(path, F_OK) != 0 && errno == ENOENT;
}

std::string file_key(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

std::string host_path(int pid, const std::string& path) {
  if (path.empty() || path[0] != '/') return path;
  std::string rooted = proc_path(pid, "root") + path;
  struct stat in_root;
  if (::stat(rooted.c_str(), &in_root) != 0) return path;
  struct stat direct;
  if (::stat(path.c_str(), &direct) == 0 && direct.st_dev == in_root.st_dev &&
      direct.st_ino == in_root.st_ino) {
    return path;  // same file: the process shares our view of it
  }
  return rooted;
}

}  // namespace scope::discover
