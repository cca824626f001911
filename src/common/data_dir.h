// The data directory of `scope up`, `scope agent` and `scope server`: the
// store, the admin credential (mode 0600), the agent's spool and sequence
// state, and `endpoint.json`, which tells `scope sql --data-dir` where the
// running process listens.
//
// scope runs as root and trusts what it finds here, so the directory must be
// one only its own user can write: one that other users can write (a 1777
// dir) or that another user owns is refused, never chmod'ed. Files are
// created new (O_EXCL, O_NOFOLLOW, 0600), replaced by renaming a new file
// over them, and read only when they are regular files of the same user.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.h"

namespace scope {

// Creates `dir` with mode 0700 when missing (its missing parents as the umask
// says), then checks it as check_private_dir does. An existing directory is
// never changed. `what` names it in errors ("data dir", "spool dir").
Status ensure_private_dir(const std::string& dir, std::string_view what);
// A directory that is owned by the effective uid and that neither group nor
// others can write; a symlink to one only when the symlink is the same user's
// too. Otherwise an error naming what was found and what to do; not_found when
// it is missing.
Status check_private_dir(const std::string& dir, std::string_view what);

// ensure_private_dir(dir, "data dir").
Status ensure_data_dir(const std::string& dir);
// check_private_dir(dir, "data dir"): for commands that only read it (`scope sql`).
Status check_data_dir(const std::string& dir);

// Creates `path`, which must not exist (not even as a symlink), with mode
// 0600: open(O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | `extra_flags`).
// The fd.
Result<int> create_private_file(const std::string& path, int extra_flags = 0);

// What an existing file may allow others.
enum class FileAccess {
  kSecret,  // tokens, keys: no group or other permission bits at all
  kState,   // state: neither group nor others may write it
};
// Opens an existing file read-only without following a symlink and checks it
// is a regular file owned by the effective uid with no more permission than
// `access` allows. The fd; not_found when missing, else an error naming what was found
// and what to do.
Result<int> open_private_file(const std::string& path, FileAccess access);
// Its whole text through open_private_file; an error when over `max_bytes`.
Result<std::string> read_private_file(const std::string& path, FileAccess access,
                                      size_t max_bytes = 1u << 20);

// Replaces `path` with `content` atomically: a new, uniquely named file beside
// it (create_private_file), written, fsync'ed when `sync`, renamed over it. A
// symlink at `path` is replaced, never followed.
Status replace_file(const std::string& path, std::string_view content, bool sync = true);

struct AdminToken {
  std::string token;
  bool created = false;  // first start: print it once
};
// DIR/admin.token: read it (refused unless a regular 0600-or-stricter file of
// this user), or create a random one (mode 0600).
Result<AdminToken> load_or_create_admin_token(const std::string& dir);
// `token` (one several servers share, e.g. behind nginx: a systemd credential) as the admin
// token: refused when shorter than 32 characters or not printable ASCII; written to
// DIR/admin.token (0600) when that holds another or none, so that the host's CLI finds it.
Result<AdminToken> use_admin_token(const std::string& dir, const std::string& token);
// DIR/admin.token as load_or_create_admin_token checks it; never creates it.
Result<std::string> read_admin_token(const std::string& dir);

// DIR/endpoint.json: {"url": "http://127.0.0.1:18080", "pid": N}.
Status write_endpoint(const std::string& dir, const std::string& url);
Result<std::string> read_endpoint(const std::string& dir);
void remove_endpoint(const std::string& dir);

}  // namespace scope
