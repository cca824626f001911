// Library resolution as the dynamic loader (glibc ld.so) does it, so probes can be attached
// to a library before a process loads it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "discover/elf_file.h"

namespace scope::discover {

struct SearchEnv {
  std::vector<std::string> ld_library_path;

  // Reads LD_LIBRARY_PATH from "KEY=value" entries (e.g. read_environ's result).
  static SearchEnv from_environ(const std::vector<std::string>& environ);
};

// Splits a search path on ':' and ';' (as ld.so does for LD_LIBRARY_PATH), dropping empty parts.
std::vector<std::string> split_search_path(std::string_view value);

// Replaces $ORIGIN and ${ORIGIN} in a DT_RPATH/DT_RUNPATH entry with `origin_dir`.
std::string expand_origin(std::string_view entry, std::string_view origin_dir);

// All x86-64 paths for `soname` in the ld.so cache (parsed once from `ldconfig -p`).
std::vector<std::string> ld_cache_paths(std::string_view soname);

// Resolves a DT_NEEDED-style or dlopen'd name in the loader's order: a name with '/' as is; the
// requester's DT_RPATH and then the executable's (`exe_rpath`, see executable_rpath), when the
// requester has no DT_RUNPATH; LD_LIBRARY_PATH; the requester's DT_RUNPATH; the ld.so cache; the
// default directories. Returns the realpath of the first existing file for this machine's ELF
// class and architecture. `requester` may be null.
std::optional<std::string> resolve_library(std::string_view name, const ElfFile* requester,
                                           const std::string& requester_path, const SearchEnv& env,
                                           const std::vector<std::string>& exe_rpath = {});

// The executable's DT_RPATH directories ($ORIGIN expanded against `origin_path`'s directory, the
// executable's path as its process sees it; `exe_path` is where scope can open it), which glibc's
// loader searches for every object without DT_RUNPATH, dlopen included; none when the executable
// has DT_RUNPATH.
std::vector<std::string> executable_rpath(const std::string& exe_path,
                                          const std::string& origin_path);

// Realpaths of the executable, its interpreter, and all DT_NEEDED libraries, recursively
// (breadth first, deduplicated, at most 512 objects). Empty if exe_path cannot be opened.
std::vector<std::string> needed_closure(const std::string& exe_path, const SearchEnv& env);

// Finds a command like execvp: a name with '/' is used as is; otherwise each PATH directory
// (an empty entry meaning ".") is tried for a regular file with the executable bit.
std::optional<std::string> resolve_command(std::string_view cmd, const std::string& path_env);

}  // namespace scope::discover
