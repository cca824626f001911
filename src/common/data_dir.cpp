#include "common/data_dir.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/text.h"

namespace scope {

namespace fs = std::filesystem;

Status ensure_data_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error("cannot create the data dir " + dir + ": " + ec.message());
  if (!fs::is_directory(dir)) return make_error("the data dir " + dir + " is not a directory");
  ::chmod(dir.c_str(), 0700);
  if (::access(dir.c_str(), W_OK) != 0)
    return make_error("the data dir " + dir + " is not writable: " + std::strerror(errno));
  return Ok{};
}

Result<AdminToken> load_or_create_admin_token(const std::string& dir) {
  std::string path = dir + "/admin.token";
  AdminToken t;
  {
    std::ifstream in(path);
    if (in && std::getline(in, t.token) && !t.token.empty()) return t;
  }
  unsigned char raw[24];
  int rnd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  bool ok = rnd >= 0 && ::read(rnd, raw, sizeof raw) == static_cast<ssize_t>(sizeof raw);
  if (rnd >= 0) ::close(rnd);
  if (!ok) return make_error("cannot read /dev/urandom for the admin token");
  t.token = "scope_";
  for (unsigned char c : raw) t.token += sfmt("%02x", c);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return make_error("cannot create " + path + ": " + std::strerror(errno));
  std::string line = t.token + "\n";
  ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && !::fsync(fd);
  ::close(fd);
  if (!ok) return make_error("cannot write " + path);
  t.created = true;
  return t;
}

Status write_endpoint(const std::string& dir, const std::string& url) {
  std::string path = dir + "/endpoint.json";
  std::ofstream out(path + ".tmp", std::ios::trunc);
  out << nlohmann::json{{"url", url}, {"pid", ::getpid()}}.dump() << "\n";
  out.close();
  if (!out || ::rename((path + ".tmp").c_str(), path.c_str()) != 0)
    return make_error("cannot write " + path);
  return Ok{};
}

Result<std::string> read_endpoint(const std::string& dir) {
  std::ifstream in(dir + "/endpoint.json");
  if (!in) return make_error("no scope is running on " + dir + " (start one with 'scope up')");
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.contains("url") || !j["url"].is_string())
    return make_error(dir + "/endpoint.json is damaged");
  if (j.contains("pid") && j["pid"].is_number_integer()) {
    pid_t pid = j["pid"].get<pid_t>();
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH)
      return make_error("the scope that used " + dir + " (pid " + std::to_string(pid) +
                        ") is not running (start one with 'scope up')");
  }
  return j["url"].get<std::string>();
}

void remove_endpoint(const std::string& dir) { ::unlink((dir + "/endpoint.json").c_str()); }

}  // namespace scope
