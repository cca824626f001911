// Address → function name for live processes, with per-process maps and per-file ELF caches.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "discover/elf_file.h"
#include "discover/proc_maps.h"

namespace scope::discover {

// Thread-safe. ELF files are cached by path and inode; maps are cached per pid until
// invalidate(pid) (e.g. on exec or exit), and re-read once when an address is not in them.
class ProcessSymbolizer {
 public:
  // The demangled name of the function containing addr in process pid; nullopt when unknown.
  std::optional<std::string> symbolize(int pid, uint64_t addr);
  // Uses `maps` (just read by the caller) for `pid` from now on.
  void set_maps(int pid, std::vector<Mapping> maps);
  void invalidate(int pid);
  void clear();

 private:
  const ElfFile* elf_for(int pid, const Mapping& m);
  static const Mapping* find_mapping(const std::vector<Mapping>& maps, uint64_t addr);

  std::mutex mu_;
  std::unordered_map<int, std::vector<Mapping>> maps_;               // sorted by start
  std::unordered_map<std::string, std::unique_ptr<ElfFile>> elves_;  // null: failed to open
};

}  // namespace scope::discover
