#include "discover/symbolizer.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "discover/demangle.h"

namespace scope::discover {

const Mapping* ProcessSymbolizer::find_mapping(const std::vector<Mapping>& maps, uint64_t addr) {
  auto it = std::upper_bound(maps.begin(), maps.end(), addr,
                             [](uint64_t a, const Mapping& m) { return a < m.start; });
  if (it == maps.begin()) return nullptr;
  --it;
  return addr < it->end ? &*it : nullptr;
}

const ElfFile* ProcessSymbolizer::elf_for(int pid, const Mapping& m) {
  std::string key = m.path + '\0' + std::to_string(m.inode);
  auto it = elves_.find(key);
  if (it != elves_.end()) return it->second.get();
  std::unique_ptr<ElfFile> elf;
  auto opened = ElfFile::open(host_path(pid, m.path));
  if (!opened && m.deleted) {
    // The file is gone from the file system; its mapping may still be reachable.
    char range[64];
    std::snprintf(range, sizeof(range), "%llx-%llx", static_cast<unsigned long long>(m.start),
                  static_cast<unsigned long long>(m.end));
    opened = ElfFile::open("/proc/" + std::to_string(pid) + "/map_files/" + range);
  }
  if (opened) elf = std::make_unique<ElfFile>(std::move(*opened));
  const ElfFile* raw = elf.get();
  elves_.emplace(std::move(key), std::move(elf));
  return raw;
}

namespace {
void sort_by_start(std::vector<Mapping>& maps) {
  std::sort(maps.begin(), maps.end(),
            [](const Mapping& a, const Mapping& b) { return a.start < b.start; });
}
}  // namespace

void ProcessSymbolizer::set_maps(int pid, std::vector<Mapping> maps) {
  sort_by_start(maps);
  std::lock_guard<std::mutex> lock(mu_);
  maps_[pid] = std::move(maps);
}

std::optional<std::string> ProcessSymbolizer::symbolize(int pid, uint64_t addr) {
  auto sym = symbol_at(pid, addr);
  if (!sym) return std::nullopt;
  return std::move(sym->name);
}

std::optional<SymbolAt> ProcessSymbolizer::symbol_at(int pid, uint64_t addr) {
  std::lock_guard<std::mutex> lock(mu_);
  const Mapping* m = nullptr;
  auto cached = maps_.find(pid);
  if (cached != maps_.end()) m = find_mapping(cached->second, addr);
  if (m == nullptr) {
    auto fresh = read_maps(pid);
    if (!fresh) {
      maps_.erase(pid);
      return std::nullopt;
    }
    std::vector<Mapping> maps = std::move(*fresh);
    sort_by_start(maps);
    auto& slot = maps_[pid];
    slot = std::move(maps);
    m = find_mapping(slot, addr);
  }
  if (m == nullptr || m->path.empty() || m->path[0] != '/') return std::nullopt;
  const ElfFile* elf = elf_for(pid, *m);
  if (elf == nullptr) return std::nullopt;
  auto vaddr = runtime_to_vaddr(*elf, *m, addr);
  if (!vaddr) return std::nullopt;
  const Symbol* sym = elf->symbol_at(*vaddr);
  if (sym == nullptr) return std::nullopt;
  return SymbolAt{demangle(sym->name), m->path, sym->vaddr};
}

void ProcessSymbolizer::invalidate(int pid) {
  std::lock_guard<std::mutex> lock(mu_);
  maps_.erase(pid);
}

void ProcessSymbolizer::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  maps_.clear();
  elves_.clear();
}

}  // namespace scope::discover
