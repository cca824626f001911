// /proc/<pid>/ readers: memory maps, exe, environ, comm, and mount-namespace-aware paths.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace scope::discover {

struct Mapping {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t offset = 0;
  std::string perms;  // e.g. "r-xp"
  uint64_t dev = 0;   // makedev(major, minor) of the file's device, as stat's st_dev
  uint64_t inode = 0;
  std::string path;  // without the " (deleted)" suffix; may be empty or "[heap]" etc.
  bool deleted = false;
};

// Parses the text of a /proc/<pid>/maps file. Malformed lines are skipped.
std::vector<Mapping> parse_maps(std::string_view text);

// Reads and parses /proc/<pid>/maps.
Result<std::vector<Mapping>> read_maps(int pid);

// Unique absolute file paths among the mappings, in first-seen order.
std::vector<std::string> mapped_files(const std::vector<Mapping>& maps);

// A mapped file: its path (as the process sees it) and file_key, taken from the maps line itself
// (the kernel's device and inode of the file, whatever mount namespace the process is in).
struct MappedFile {
  std::string path;
  std::string key;
};
// As mapped_files, with their keys.
std::vector<MappedFile> mapped_file_keys(const std::vector<Mapping>& maps);

// readlink(/proc/<pid>/exe).
Result<std::string> read_exe(int pid);

// /proc/<pid>/environ split on NUL ("KEY=value" entries).
Result<std::vector<std::string>> read_environ(int pid);

// /proc/<pid>/comm without the trailing newline.
Result<std::string> read_comm(int pid);

bool process_exists(int pid);
// Whether thread `tid` of process `pid` is gone: /proc has no task for it (and says so; any other
// error counts as still there, so that a thread's counters are never retired by mistake).
bool thread_exited(uint32_t pid, uint32_t tid);

// "dev:inode" of the file at `path` (one key per file, whatever the path), or
// empty when it cannot be stat'ed.
std::string file_key(const std::string& path);

// A path that reaches `path` (as seen by process `pid`) from scope's mount namespace:
// "/proc/<pid>/root" + path when that exists and is not the same file as `path`, else `path`.
std::string host_path(int pid, const std::string& path);

}  // namespace scope::discover
