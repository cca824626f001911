#include "agent/identity.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "auth/crypto.h"
#include "auth/nodes.h"
#include "http/client.h"

namespace scope::agent {
namespace {

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// Reads a small file that must belong to this user and be private to it.
Result<std::string> read_private(const std::string& path, bool must_be_private) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return make_error(path + ": " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return make_error(path + ": not a regular file");
  }
  if (must_be_private && (st.st_uid != geteuid() || (st.st_mode & 077) != 0)) {
    ::close(fd);
    return make_error(path + " must be owned by uid " + std::to_string(geteuid()) +
                      " and readable by it alone (chown, then chmod 600 " + path + ")");
  }
  std::string out;
  char buf[512];
  ssize_t n = 0;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 && out.size() < 4096)
    out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  if (n < 0) return make_error(path + ": " + std::strerror(errno));
  return trimmed(out);
}

Status write_new(const std::string& path, const std::string& text, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return make_error(path + ": " + std::strerror(errno));
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    return make_error(path + ": write failed");
  }
  return Ok{};
}

}  // namespace

Result<std::optional<NodeIdentity>> load_node_identity(const std::string& dir) {
  const std::string key_path = dir + "/node.key";
  struct stat st {};
  if (lstat(key_path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<NodeIdentity>();
    return make_error(key_path + ": " + std::strerror(errno));
  }
  auto text = read_private(key_path, true);
  if (!text) return text.failure();
  auto key = auth::base64url_decode(*text);
  if (!key || key->size() != auth::kNodeSecretKeyBytes)
    return make_error(key_path + ": not an Ed25519 secret key (enroll again)");
  auto name = read_private(dir + "/node.name", false);
  if (!name) return make_error(name.error() + " (written with node.key at enrollment)");
  if (!auth::valid_node_name(*name)) return make_error(dir + "/node.name: not a node name");
  return std::optional<NodeIdentity>(NodeIdentity{*name, std::move(*key)});
}

Result<std::string> enroll_node(const std::string& server_url, const std::string& token,
                                const std::string& dir) {
  const std::string key_path = dir + "/node.key";
  struct stat st {};
  if (lstat(key_path.c_str(), &st) == 0)
    return make_error(Errc::kBadInput,
                      key_path +
                          " exists: this node is enrolled already (delete the node on "
                          "the server and the file here to enroll it again)");
  auto pair = auth::generate_node_key();
  if (!pair) return pair.failure();
  std::string base = server_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  http::ClientRequest req;
  req.method = "POST";
  req.url = base + "/api/v1/nodes/enroll";
  req.body =
      nlohmann::json{{"token", token}, {"public_key", auth::base64url_encode(pair->public_key)}}
          .dump();
  req.timeout = std::chrono::seconds(30);
  req.max_body = 64 << 10;
  auto res = http::fetch(req);
  if (!res) return make_error(Errc::kUnavailable, "enrolling at " + base + ": " + res.error());
  if (res->status != 200)
    return make_error(Errc::kBadInput, "enrolling at " + base + ": " + std::to_string(res->status) +
                                           " " + http::error_message(*res));
  auto body = nlohmann::json::parse(res->body, nullptr, false);
  std::string name = body.is_object() ? body.value("name", "") : "";
  if (!auth::valid_node_name(name))
    return make_error("enrolling at " + base + ": the answer has no node name");
  if (auto s = write_new(key_path, auth::base64url_encode(pair->secret_key) + "\n", 0600); !s)
    return s.failure();
  const std::string name_path = dir + "/node.name";
  ::unlink(name_path.c_str());
  if (auto s = write_new(name_path, name + "\n", 0644); !s) return s.failure();
  return name;
}

}  // namespace scope::agent
