#include "discover/ld_search.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "common/strings.h"

namespace scope::discover {

namespace {

constexpr size_t kMaxClosure = 512;

constexpr const char* kDefaultDirs[] = {
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
};

#if defined(__x86_64__)
constexpr uint16_t kHostMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr uint16_t kHostMachine = EM_AARCH64;
#else
constexpr uint16_t kHostMachine = EM_NONE;
#endif

std::optional<std::string> real_path(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return std::nullopt;
  return std::string(buf);
}

std::string dir_name(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// A regular file that is a 64-bit ELF for this machine (the loader skips other files).
bool is_loadable(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  Elf64_Ehdr eh;
  ssize_t n = ::read(fd, &eh, sizeof(eh));
  ::close(fd);
  if (n != static_cast<ssize_t>(sizeof(eh))) return false;
  if (eh.e_ident[EI_MAG0] != ELFMAG0 || eh.e_ident[EI_MAG1] != ELFMAG1 ||
      eh.e_ident[EI_MAG2] != ELFMAG2 || eh.e_ident[EI_MAG3] != ELFMAG3) {
    return false;
  }
  if (eh.e_ident[EI_CLASS] != ELFCLASS64) return false;
  return kHostMachine == EM_NONE || eh.e_machine == kHostMachine;
}

std::optional<std::string> try_dirs(std::string_view name, const std::vector<std::string>& dirs,
                                    const std::string& origin) {
  for (const std::string& d : dirs) {
    std::string dir = expand_origin(d, origin);
    if (dir.empty()) continue;
    std::string cand = dir + "/" + std::string(name);
    if (is_loadable(cand)) return cand;
  }
  return std::nullopt;
}

// Resolves to the path as found (not canonicalised). `inherited_rpath` holds the already
// expanded DT_RPATH directories of the loaders above the requester.
std::optional<std::string> resolve_found(std::string_view name, const ElfFile* requester,
                                         const std::string& requester_path,
                                         const std::vector<std::string>& inherited_rpath,
                                         const SearchEnv& env) {
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string_view::npos) {
    std::string p(name);
    if (is_loadable(p)) return p;
    return std::nullopt;
  }
  std::string origin;
  if (!requester_path.empty()) {
    auto rp = real_path(requester_path);
    origin = dir_name(rp ? *rp : requester_path);
  }
  bool has_runpath = requester != nullptr && requester->has_runpath();
  if (requester != nullptr && !has_runpath) {
    if (auto p = try_dirs(name, requester->rpath(), origin)) return p;
  }
  if (!has_runpath) {
    if (auto p = try_dirs(name, inherited_rpath, origin)) return p;
  }
  if (auto p = try_dirs(name, env.ld_library_path, origin)) return p;
  if (has_runpath) {
    if (auto p = try_dirs(name, requester->runpath(), origin)) return p;
  }
  for (const std::string& p : ld_cache_paths(name)) {
    if (is_loadable(p)) return p;
  }
  for (const char* d : kDefaultDirs) {
    std::string cand = std::string(d) + "/" + std::string(name);
    if (is_loadable(cand)) return cand;
  }
  return std::nullopt;
}

using Cache = std::unordered_map<std::string, std::vector<std::string>>;

Cache load_ld_cache() {
  Cache cache;
  FILE* f = nullptr;
  for (const char* tool : {"/sbin/ldconfig", "/usr/sbin/ldconfig"}) {
    if (::access(tool, X_OK) != 0) continue;
    f = ::popen((std::string(tool) + " -p 2>/dev/null").c_str(), "re");
    if (f != nullptr) break;
  }
  if (f == nullptr) return cache;
  std::string line;
  char buf[4096];
  while (std::fgets(buf, sizeof(buf), f) != nullptr) {
    line.assign(buf);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    // "\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1"
    size_t open = line.find(" (");
    size_t close = line.find(") => ");
    if (open == std::string::npos || close == std::string::npos || close < open) continue;
    std::string_view flags(line.data() + open + 2, close - open - 2);
#if defined(__x86_64__)
    if (flags.find("x86-64") == std::string_view::npos) continue;
#elif defined(__aarch64__)
    if (flags.find("AArch64") == std::string_view::npos) continue;
#endif
    size_t start = line.find_first_not_of(" \t");
    std::string soname = line.substr(start, open - start);
    cache[soname].push_back(line.substr(close + 5));
  }
  ::pclose(f);
  return cache;
}

}  // namespace

SearchEnv SearchEnv::from_environ(const std::vector<std::string>& environ) {
  SearchEnv env;
  constexpr std::string_view kKey = "LD_LIBRARY_PATH=";
  for (const std::string& e : environ) {
    if (std::string_view(e).substr(0, kKey.size()) == kKey) {
      env.ld_library_path = split_search_path(std::string_view(e).substr(kKey.size()));
    }
  }
  return env;
}

std::vector<std::string> split_search_path(std::string_view value) {
  return split_nonempty(value, ":;");
}

std::string expand_origin(std::string_view entry, std::string_view origin_dir) {
  std::string out;
  out.reserve(entry.size() + origin_dir.size());
  size_t i = 0;
  while (i < entry.size()) {
    std::string_view rest = entry.substr(i);
    if (rest.substr(0, 9) == "${ORIGIN}") {
      out.append(origin_dir);
      i += 9;
    } else if (rest.substr(0, 7) == "$ORIGIN" &&
               (rest.size() == 7 ||
                !(std::isalnum(static_cast<unsigned char>(rest[7])) || rest[7] == '_'))) {
      out.append(origin_dir);
      i += 7;
    } else {
      out.push_back(entry[i]);
      ++i;
    }
  }
  return out;
}

std::vector<std::string> ld_cache_paths(std::string_view soname) {
  static std::once_flag once;
  static Cache* cache = nullptr;
  std::call_once(once, [] { cache = new Cache(load_ld_cache()); });
  auto it = cache->find(std::string(soname));
  if (it == cache->end()) return {};
  return it->second;
}

std::optional<std::string> resolve_library(std::string_view name, const ElfFile* requester,
                                           const std::string& requester_path, const SearchEnv& env,
                                           const std::vector<std::string>& exe_rpath) {
  auto found = resolve_found(name, requester, requester_path, exe_rpath, env);
  if (!found) return std::nullopt;
  return real_path(*found);
}

std::vector<std::string> executable_rpath(const std::string& exe_path,
                                          const std::string& origin_path) {
  auto elf = ElfFile::open(exe_path);
  if (!elf || elf->has_runpath()) return {};
  std::string origin = dir_name(origin_path.empty() ? exe_path : origin_path);
  std::vector<std::string> dirs;
  for (const std::string& d : elf->rpath()) dirs.push_back(expand_origin(d, origin));
  return dirs;
}

std::vector<std::string> needed_closure(const std::string& exe_path, const SearchEnv& env) {
  struct Node {
    std::string found_path;
    std::vector<std::string> inherited_rpath;  // expanded DT_RPATH of the loaders above
  };
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;                       // realpaths
  std::unordered_map<std::string, std::string> loaded_names;  // soname/needed name → realpath
  std::deque<Node> queue;

  auto exe_real = real_path(exe_path);
  if (!exe_real) return out;
  seen.insert(*exe_real);
  out.push_back(*exe_real);
  queue.push_back({exe_path, {}});

  bool first = true;
  while (!queue.empty() && out.size() < kMaxClosure) {
    Node node = std::move(queue.front());
    queue.pop_front();
    auto elf = ElfFile::open(node.found_path);
    if (!elf) continue;
    if (auto so = elf->soname()) {
      auto rp = real_path(node.found_path);
      if (rp) loaded_names.emplace(*so, *rp);
    }
    if (first) {
      first = false;
      std::string interp = elf->interpreter();
      if (!interp.empty()) {
        if (auto rp = real_path(interp); rp && seen.insert(*rp).second) out.push_back(*rp);
      }
    }
    std::vector<std::string> child_rpath;
    if (!elf->has_runpath()) {
      auto rp = real_path(node.found_path);
      std::string origin = dir_name(rp ? *rp : node.found_path);
      for (const std::string& d : elf->rpath()) child_rpath.push_back(expand_origin(d, origin));
    }
    child_rpath.insert(child_rpath.end(), node.inherited_rpath.begin(), node.inherited_rpath.end());
    for (const std::string& name : elf->needed()) {
      if (out.size() >= kMaxClosure) break;
      if (loaded_names.count(name) != 0) continue;
      auto found = resolve_found(name, &*elf, node.found_path, node.inherited_rpath, env);
      if (!found) continue;
      auto rp = real_path(*found);
      if (!rp) continue;
      loaded_names.emplace(name, *rp);
      if (!seen.insert(*rp).second) continue;
      out.push_back(*rp);
      queue.push_back({*found, child_rpath});
    }
  }
  return out;
}

std::optional<std::string> resolve_command(std::string_view cmd, const std::string& path_env) {
  auto runnable = [](const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
  };
  if (cmd.empty()) return std::nullopt;
  if (cmd.find('/') != std::string_view::npos) {
    std::string p(cmd);
    if (runnable(p)) return p;
    return std::nullopt;
  }
  std::string_view rest = path_env;
  while (true) {
    size_t sep = rest.find(':');
    std::string_view dir = rest.substr(0, sep);
    std::string cand = (dir.empty() ? std::string(".") : std::string(dir)) + "/" + std::string(cmd);
    if (runnable(cand)) return cand;
    if (sep == std::string_view::npos) break;
    rest.remove_prefix(sep + 1);
  }
  return std::nullopt;
}

}  // namespace scope::discover
