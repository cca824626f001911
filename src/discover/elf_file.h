// ELF reading with libelf: function symbols, segments, and the dynamic section.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "discover/proc_maps.h"

typedef struct Elf Elf;  // NOLINT: libelf's opaque handle, declared as <libelf.h> does

namespace scope::discover {

struct Symbol {
  std::string name;  // plain, without any "@version" suffix
  uint64_t vaddr = 0;
  uint64_t size = 0;
  uint8_t binding = 0;  // STB_LOCAL, STB_GLOBAL, STB_WEAK, ...
  uint8_t type = 0;     // STT_FUNC or STT_GNU_IFUNC
};

struct LoadSegment {
  uint64_t vaddr = 0;
  uint64_t memsz = 0;
  uint64_t offset = 0;
  uint64_t filesz = 0;
  uint32_t flags = 0;  // PF_R | PF_W | PF_X
};

// An opened ELF file whose symbols and headers are indexed once at open(). Movable, not
// copyable; closes its Elf* and fd.
class ElfFile {
 public:
  static Result<ElfFile> open(const std::string& path);

  ElfFile(ElfFile&& other) noexcept;
  ElfFile& operator=(ElfFile&& other) noexcept;
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;
  ~ElfFile();

  const std::string& path() const { return path_; }

  // Defined function symbol with exactly this name (from .symtab or .dynsym).
  std::optional<Symbol> find(std::string_view name) const;
  // Address of a defined data (OBJECT) symbol, looked up on demand (not indexed: rarely needed).
  std::optional<uint64_t> object_vaddr(std::string_view name) const;
  // The function symbol containing vaddr, or the nearest preceding one when its size is 0.
  const Symbol* symbol_at(uint64_t vaddr) const;
  // All function symbols, sorted by vaddr.
  const std::vector<Symbol>& symbols() const { return by_addr_; }

  // File offset of vaddr through the PT_LOAD segment that contains it (what a uprobe needs).
  std::optional<uint64_t> file_offset(uint64_t vaddr) const;
  // The inverse: vaddr of a file offset through the PT_LOAD segment whose file range holds it.
  std::optional<uint64_t> vaddr_from_file_offset(uint64_t file_off) const;
  bool has_symtab() const { return has_symtab_; }
  bool has_dynsym() const { return has_dynsym_; }
  bool is_shared_object() const;
  std::optional<std::string> soname() const { return soname_; }
  std::vector<std::string> needed() const { return needed_; }
  // DT_RUNPATH split on ':', or DT_RPATH when there is no RUNPATH.
  std::vector<std::string> runpath() const;
  bool has_runpath() const { return !runpath_.empty(); }
  std::vector<std::string> rpath() const { return rpath_; }  // DT_RPATH only
  std::string interpreter() const { return interp_; }        // PT_INTERP, empty if none

 private:
  ElfFile() = default;
  Status load();
  void close();

  std::string path_;
  int fd_ = -1;
  Elf* elf_ = nullptr;
  uint16_t elf_type_ = 0;
  bool has_symtab_ = false;
  bool has_dynsym_ = false;
  std::vector<Symbol> by_addr_;
  std::unordered_map<std::string_view, size_t> by_name_;  // views into by_addr_ names
  std::vector<LoadSegment> loads_;
  std::optional<std::string> soname_;
  std::vector<std::string> needed_;
  std::vector<std::string> runpath_;
  std::vector<std::string> rpath_;
  std::string interp_;
};

// Maps a runtime address inside `mapping` of a process to the ELF vaddr of `elf`:
// file_off = addr - start + offset, then through the PT_LOAD segment holding file_off.
Result<uint64_t> runtime_to_vaddr(const ElfFile& elf, const Mapping& mapping, uint64_t addr);

}  // namespace scope::discover
