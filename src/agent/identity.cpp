#include "agent/identity.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "auth/crypto.h"
#include "auth/nodes.h"
#include "common/data_dir.h"
#include "http/client.h"

namespace scope::agent {
namespace {

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// A file of this user that others may not read (the key) or write (the name), trimmed.
Result<std::string> read_checked(const std::string& path, FileAccess access) {
  auto text = read_private_file(path, access, 4096);
  if (!text) return text.failure();
  return trimmed(std::move(*text));
}

// A new file (O_EXCL|O_NOFOLLOW, 0600) with `text`, fsync'ed; removed again when that fails.
Status write_new(const std::string& path, const std::string& text) {
  auto fd = create_private_file(path);
  if (!fd) return fd.failure();
  bool ok = ::write(*fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::fsync(*fd) == 0 && ok;
  ::close(*fd);
  if (!ok) {
    ::unlink(path.c_str());
    return make_error(path + ": write failed");
  }
  return Ok{};
}

// POST /api/v1/nodes/enroll: the name the server enrolled `public_key` under.
Result<std::string> register_key(const std::string& server_url, const std::string& token,
                                 const std::string& public_key) {
  std::string base = server_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  http::ClientRequest req;
  req.method = "POST";
  req.url = base + "/api/v1/nodes/enroll";
  req.body =
      nlohmann::json{{"token", token}, {"public_key", auth::base64url_encode(public_key)}}.dump();
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
  return name;
}

}  // namespace

Result<std::optional<NodeIdentity>> load_node_identity(const std::string& dir) {
  const std::string key_path = dir + "/node.key";
  struct stat st {};
  if (lstat(key_path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<NodeIdentity>();
    return make_error(key_path + ": " + std::strerror(errno));
  }
  auto text = read_checked(key_path, FileAccess::kSecret);
  if (!text) return text.failure();
  auto key = auth::base64url_decode(*text);
  if (!key || key->size() != auth::kNodeSecretKeyBytes)
    return make_error(key_path + ": not an Ed25519 secret key (enroll again)");
  auto name = read_checked(dir + "/node.name", FileAccess::kState);
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
  // The secret key is on disk before the server registers its public half: a node whose key
  // cannot be written does not use up its token on a key nobody holds.
  if (auto s = write_new(key_path, auth::base64url_encode(pair->secret_key) + "\n"); !s)
    return s.failure();
  auto registered = register_key(server_url, token, pair->public_key);
  if (!registered) {
    ::unlink(key_path.c_str());
    return registered.failure();
  }
  const std::string name_path = dir + "/node.name";
  ::unlink(name_path.c_str());
  if (auto s = write_new(name_path, *registered + "\n"); !s) return s.failure();
  return *registered;
}

}  // namespace scope::agent
