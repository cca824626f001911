#include "common/data_dir.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/text.h"

namespace scope {

namespace fs = std::filesystem;

namespace {

std::string errno_text() { return std::strerror(errno); }

std::string mode_text(mode_t mode) { return sfmt("%04o", static_cast<unsigned>(mode & 07777)); }

std::string uid_text(uid_t uid) { return "uid " + std::to_string(uid); }

}  // namespace

Status check_private_dir(const std::string& dir, std::string_view what) {
  std::string w(what);
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return make_error(Errc::kNotFound, "the " + w + " " + dir + " is missing");
    return make_error("cannot inspect the " + w + " " + dir + ": " + errno_text());
  }
  uid_t me = ::geteuid();
  // A symlink another user owns could be pointed anywhere later: only our own.
  if (S_ISLNK(st.st_mode)) {
    if (st.st_uid != me)
      return make_error("the " + w + " " + dir + " is a symlink owned by " + uid_text(st.st_uid) +
                        ", not by " + uid_text(me) + " that scope runs as; give --data-dir " +
                        "the real directory, or remove the symlink");
    if (::stat(dir.c_str(), &st) != 0)
      return make_error("cannot inspect the " + w + " " + dir + ": " + errno_text());
  }
  if (!S_ISDIR(st.st_mode)) return make_error("the " + w + " " + dir + " is not a directory");
  if (st.st_uid != me)
    return make_error("the " + w + " " + dir + " is owned by " + uid_text(st.st_uid) + " (mode " +
                      mode_text(st.st_mode) + "), not by " + uid_text(me) +
                      " that scope runs as; scope keeps credentials and state there and " +
                      "will not trust it. Check what is in it, then 'chown " + std::to_string(me) +
                      " " + dir + "', or use another --data-dir");
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return make_error("the " + w + " " + dir + " (mode " + mode_text(st.st_mode) + ", owner " +
                      uid_text(st.st_uid) + ") can be written by other users; scope keeps " +
                      "credentials and state there and will not change its mode. Use a " +
                      "directory only its owner can write: 'chmod 700 " + dir +
                      "' (after removing anything in it you did not put there), or another " +
                      "--data-dir");
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    return make_error("the " + w + " " + dir + " is not writable: " + errno_text());
  return Ok{};
}

Status ensure_private_dir(const std::string& dir, std::string_view what) {
  if (dir.empty()) return make_error("no " + std::string(what) + " given");
  auto st = check_private_dir(dir, what);
  if (st || st.code() != Errc::kNotFound) return st;
  // Missing: its parents as the umask says (as before), itself 0700.
  std::error_code ec;
  fs::path parent = fs::path(dir).lexically_normal().parent_path();
  if (!parent.empty() && !fs::exists(parent, ec)) fs::create_directories(parent, ec);
  if (ec)
    return make_error("cannot create the " + std::string(what) + " " + dir + ": " + ec.message());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return make_error("cannot create the " + std::string(what) + " " + dir + ": " + errno_text());
  // EEXIST: made by someone else meanwhile, and checked like any existing one.
  return check_private_dir(dir, what);
}

Status ensure_data_dir(const std::string& dir) { return ensure_private_dir(dir, "data dir"); }

Status check_data_dir(const std::string& dir) { return check_private_dir(dir, "data dir"); }

Result<int> create_private_file(const std::string& path, int extra_flags) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | extra_flags,
                  0600);
  if (fd < 0) return make_error("cannot create " + path + ": " + errno_text());
  return fd;
}

Result<int> open_private_file(const std::string& path, FileAccess access) {
  // O_NONBLOCK: a FIFO planted here must not hang the open.
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return make_error(Errc::kNotFound, path + " does not exist");
    if (errno == ELOOP)
      return make_error(path +
                        " is a symlink; scope does not follow symlinks in "
                        "its data dir: remove it");
    return make_error("cannot open " + path + ": " + errno_text());
  }
  struct stat st {};
  std::string why;
  uid_t me = ::geteuid();
  mode_t not_allowed = access == FileAccess::kSecret ? 077 : 022;
  if (::fstat(fd, &st) != 0)
    why = "cannot inspect it: " + errno_text();
  else if (!S_ISREG(st.st_mode))
    why = "is not a regular file: remove it";
  else if (st.st_uid != me)
    why = "is owned by " + uid_text(st.st_uid) + ", not by " + uid_text(me) +
          " that scope runs as: another user may have put it there; remove it (or, if it is " +
          "yours, 'chown " + std::to_string(me) + " " + path + "')";
  else if (st.st_mode & not_allowed)
    why = "has mode " + mode_text(st.st_mode) +
          (access == FileAccess::kSecret ? ", readable or writable by other users"
                                         : ", writable by other users") +
          ": remove it, or 'chmod 600 " + path + "' if it is yours and unchanged";
  if (!why.empty()) {
    ::close(fd);
    return make_error(path + " " + why);
  }
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

Result<std::string> read_private_file(const std::string& path, FileAccess access,
                                      size_t max_bytes) {
  auto fd = open_private_file(path, access);
  if (!fd) return fd.failure();
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(*fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string err = errno_text();
      ::close(*fd);
      return make_error("cannot read " + path + ": " + err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) {
      ::close(*fd);
      return make_error(path + " is larger than " + std::to_string(max_bytes) +
                        " bytes: not a file scope wrote");
    }
  }
  ::close(*fd);
  return out;
}

Status replace_file(const std::string& path, std::string_view content, bool sync) {
  // A fresh name per call: nothing that sits at a fixed temp path is ever opened.
  static std::atomic<uint64_t> counter{0};
  int fd = -1;
  std::string tmp;
  for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
    tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) return make_error("cannot create " + tmp + ": " + errno_text());
  const char* p = content.data();
  size_t left = content.size();
  bool ok = true;
  while (ok && left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) {
      p += n;
      left -= static_cast<size_t>(n);
    }
  }
  if (ok && sync) ok = ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (ok && ::rename(tmp.c_str(), path.c_str()) == 0) return Ok{};
  if (ok) err = errno;
  ::unlink(tmp.c_str());
  return make_error("cannot write " + path + ": " + std::strerror(err));
}

namespace {

// A new private file holding `token` and a newline, synced; none at all when it cannot be
// written whole (half a token would be refused at the next start).
Status write_token_file(const std::string& path, const std::string& token) {
  auto fd = create_private_file(path);
  if (!fd) return fd.failure();
  std::string line = token + "\n";
  bool ok =
      ::write(*fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && !::fsync(*fd);
  ::close(*fd);
  if (!ok) {
    ::unlink(path.c_str());
    return make_error("cannot write " + path);
  }
  return Ok{};
}

}  // namespace

Result<std::string> read_admin_token(const std::string& dir) {
  std::string path = dir + "/admin.token";
  auto text = read_private_file(path, FileAccess::kSecret, 4096);
  if (!text) return text.failure();
  std::string token = text->substr(0, text->find('\n'));
  if (token.empty()) return make_error(path + " is empty: remove it and a new token is made");
  return token;
}

Result<AdminToken> load_or_create_admin_token(const std::string& dir) {
  std::string path = dir + "/admin.token";
  AdminToken t;
  auto existing = read_admin_token(dir);
  if (existing) {
    t.token = std::move(*existing);
    return t;
  }
  if (existing.code() != Errc::kNotFound) return existing.failure();
  unsigned char raw[24];
  int rnd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  bool ok = rnd >= 0 && ::read(rnd, raw, sizeof raw) == static_cast<ssize_t>(sizeof raw);
  if (rnd >= 0) ::close(rnd);
  if (!ok) return make_error("cannot read /dev/urandom for the admin token");
  t.token = "scope_";
  for (unsigned char c : raw) t.token += sfmt("%02x", c);
  if (auto st = write_token_file(path, t.token); !st) return st.failure();
  t.created = true;
  return t;
}

Result<AdminToken> use_admin_token(const std::string& dir, const std::string& token) {
  if (token.size() < 32)
    return make_error(Errc::kBadInput, "the shared admin token is shorter than 32 characters");
  for (char c : token)
    if (c < 0x21 || c > 0x7e)
      return make_error(Errc::kBadInput,
                        "the shared admin token holds a character that is not "
                        "printable ASCII (a space or a newline inside it?)");
  AdminToken t;
  t.token = token;
  auto existing = read_admin_token(dir);
  if (existing && *existing == token) return t;
  if (!existing && existing.code() != Errc::kNotFound) return existing.failure();
  std::string path = dir + "/admin.token";
  ::unlink(path.c_str());
  if (auto st = write_token_file(path, token); !st) return st.failure();
  return t;
}

Status write_endpoint(const std::string& dir, const std::string& url) {
  // Rewritten at every start; not worth an fsync.
  return replace_file(dir + "/endpoint.json",
                      nlohmann::json{{"url", url}, {"pid", ::getpid()}}.dump() + "\n", false);
}

Result<std::string> read_endpoint(const std::string& dir) {
  std::string path = dir + "/endpoint.json";
  auto text = read_private_file(path, FileAccess::kState, 64u << 10);
  if (!text && text.code() == Errc::kNotFound)
    return make_error(Errc::kNotFound,
                      "no scope is running on " + dir + " (start one with 'scope up')");
  if (!text) return text.failure();
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.contains("url") || !j["url"].is_string())
    return make_error(path + " is damaged");
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
