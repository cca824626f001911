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

// The function at an address of a live process: its name and where it lives on disk.
struct SymbolAt {
  std::string name;  // demangled
  // The mapped ELF file's path as the process sees it (its /proc/PID/maps path; the file
  // may be in another mount namespace, or deleted since).
  std::string file;
  // The symbol's value (st_value) in that file, as `nm` and `readelf -s` show it: a virtual
  // address in the file's own layout (for a PIE or shared library, relative to its load base),
  // not the runtime address.
  uint64_t value = 0;
};

// Thread-safe. ELF files are cached by path and inode; maps are cached per pid until
// invalidate(pid) (e.g. on exec or exit), and re-read once when an address is not in them.
class ProcessSymbolizer {
 public:
  // The demangled name of the function containing addr in process pid; nullopt when unknown.
  std::optional<std::string> symbolize(int pid, uint64_t addr);
  // As symbolize, with the symbol's file and value.
  std::optional<SymbolAt> symbol_at(int pid, uint64_t addr);
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
