#include "discover/elf_file.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "common/strings.h"

namespace scope::discover {

namespace {

bool init_libelf() {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] { ok = elf_version(EV_CURRENT) != EV_NONE; });
  return ok;
}

std::vector<std::string> split_colon(std::string_view s) { return split_nonempty(s, ":"); }

// Lower rank sorts first among symbols at the same address: global, weak, then local.
int binding_rank(uint8_t b) {
  switch (b) {
    case STB_GLOBAL:
      return 0;
    case STB_WEAK:
      return 1;
    default:
      return 2;
  }
}

// Calls fn(symbol, name) for each entry of the symbol table section `scn` (header `sh`), the name
// without its "@VERSION" suffix, until fn returns true.
template <class Fn>
void for_each_symbol(Elf* elf, Elf_Scn* scn, const GElf_Shdr& sh, Fn&& fn) {
  if (sh.sh_entsize == 0) return;
  Elf_Data* data = elf_getdata(scn, nullptr);
  if (data == nullptr) return;
  size_t count = data->d_size / sh.sh_entsize;
  for (size_t i = 1; i < count; ++i) {
    GElf_Sym s;
    if (gelf_getsym(data, static_cast<int>(i), &s) == nullptr) continue;
    const char* name = elf_strptr(elf, sh.sh_link, s.st_name);
    if (name == nullptr) continue;
    std::string_view n(name);
    if (size_t at = n.find('@'); at != std::string_view::npos && at > 0) n = n.substr(0, at);
    if (fn(s, n)) return;
  }
}

}  // namespace

Result<ElfFile> ElfFile::open(const std::string& path) {
  if (!init_libelf()) return make_error("libelf: elf_version failed");
  ElfFile f;
  f.path_ = path;
  f.fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd_ < 0) return make_error("open " + path + ": " + std::strerror(errno));
  f.elf_ = elf_begin(f.fd_, ELF_C_READ_MMAP, nullptr);
  if (f.elf_ == nullptr) return make_error("elf_begin " + path + ": " + elf_errmsg(-1));
  if (elf_kind(f.elf_) != ELF_K_ELF) return make_error(path + ": not an ELF file");
  Status st = f.load();
  if (!st) return make_error(path + ": " + st.error());
  return f;
}

ElfFile::ElfFile(ElfFile&& other) noexcept { *this = std::move(other); }

ElfFile& ElfFile::operator=(ElfFile&& other) noexcept {
  if (this == &other) return *this;
  close();
  path_ = std::move(other.path_);
  fd_ = other.fd_;
  elf_ = other.elf_;
  other.fd_ = -1;
  other.elf_ = nullptr;
  elf_type_ = other.elf_type_;
  has_symtab_ = other.has_symtab_;
  has_dynsym_ = other.has_dynsym_;
  // Moving the vector keeps its buffer, so the string_views in by_name_ stay valid.
  by_addr_ = std::move(other.by_addr_);
  by_name_ = std::move(other.by_name_);
  other.by_addr_.clear();
  other.by_name_.clear();
  loads_ = std::move(other.loads_);
  soname_ = std::move(other.soname_);
  needed_ = std::move(other.needed_);
  runpath_ = std::move(other.runpath_);
  rpath_ = std::move(other.rpath_);
  interp_ = std::move(other.interp_);
  return *this;
}

ElfFile::~ElfFile() { close(); }

void ElfFile::close() {
  if (elf_ != nullptr) elf_end(elf_);
  if (fd_ >= 0) ::close(fd_);
  elf_ = nullptr;
  fd_ = -1;
}

Status ElfFile::load() {
  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf_, &ehdr) == nullptr) return make_error(elf_errmsg(-1));
  elf_type_ = ehdr.e_type;

  // Program headers: PT_LOAD segments and PT_INTERP.
  size_t phnum = 0;
  if (elf_getphdrnum(elf_, &phnum) != 0) phnum = 0;
  size_t raw_size = 0;
  const char* raw = elf_rawfile(elf_, &raw_size);
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(elf_, static_cast<int>(i), &ph) == nullptr) continue;
    if (ph.p_type == PT_LOAD) {
      loads_.push_back({ph.p_vaddr, ph.p_memsz, ph.p_offset, ph.p_filesz, ph.p_flags});
    } else if (ph.p_type == PT_INTERP && raw != nullptr && ph.p_offset < raw_size) {
      size_t n = std::min<size_t>(ph.p_filesz, raw_size - ph.p_offset);
      interp_.assign(raw + ph.p_offset, strnlen(raw + ph.p_offset, n));
    }
  }

  std::vector<Symbol> syms;
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf_, scn)) != nullptr) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) == nullptr) continue;
    if (sh.sh_type == SHT_SYMTAB || sh.sh_type == SHT_DYNSYM) {
      if (sh.sh_type == SHT_SYMTAB) has_symtab_ = true;
      if (sh.sh_type == SHT_DYNSYM) has_dynsym_ = true;
      for_each_symbol(elf_, scn, sh, [&](const GElf_Sym& s, std::string_view n) {
        uint8_t type = GELF_ST_TYPE(s.st_info);
        if (type != STT_FUNC && type != STT_GNU_IFUNC) return false;
        if (s.st_shndx == SHN_UNDEF || s.st_value == 0 || n.empty()) return false;
        syms.push_back({std::string(n), s.st_value, s.st_size,
                        static_cast<uint8_t>(GELF_ST_BIND(s.st_info)), type});
        return false;
      });
    } else if (sh.sh_type == SHT_DYNAMIC) {
      if (sh.sh_entsize == 0) continue;
      Elf_Data* data = elf_getdata(scn, nullptr);
      if (data == nullptr) continue;
      size_t count = data->d_size / sh.sh_entsize;
      for (size_t i = 0; i < count; ++i) {
        GElf_Dyn d;
        if (gelf_getdyn(data, static_cast<int>(i), &d) == nullptr) break;
        if (d.d_tag == DT_NULL) break;
        if (d.d_tag != DT_SONAME && d.d_tag != DT_NEEDED && d.d_tag != DT_RUNPATH &&
            d.d_tag != DT_RPATH) {
          continue;
        }
        const char* str = elf_strptr(elf_, sh.sh_link, d.d_un.d_val);
        if (str == nullptr) continue;
        switch (d.d_tag) {
          case DT_SONAME:
            soname_ = str;
            break;
          case DT_NEEDED:
            needed_.emplace_back(str);
            break;
          case DT_RUNPATH:
            runpath_ = split_colon(str);
            break;
          case DT_RPATH:
            rpath_ = split_colon(str);
            break;
          default:
            break;
        }
      }
    }
  }

  // Sort by address; among aliases prefer global, then sized, then by name; then dedupe
  // identical (vaddr, name) pairs that appear in both .symtab and .dynsym.
  std::sort(syms.begin(), syms.end(), [](const Symbol& a, const Symbol& b) {
    if (a.vaddr != b.vaddr) return a.vaddr < b.vaddr;
    int ra = binding_rank(a.binding), rb = binding_rank(b.binding);
    if (ra != rb) return ra < rb;
    if ((a.size == 0) != (b.size == 0)) return a.size != 0;
    return a.name < b.name;
  });
  syms.erase(std::unique(syms.begin(), syms.end(),
                         [](const Symbol& a, const Symbol& b) {
                           return a.vaddr == b.vaddr && a.name == b.name;
                         }),
             syms.end());
  by_addr_ = std::move(syms);
  by_name_.reserve(by_addr_.size());
  for (size_t i = 0; i < by_addr_.size(); ++i) {
    auto [it, inserted] = by_name_.try_emplace(by_addr_[i].name, i);
    // Same name at several addresses (e.g. local statics): prefer a global definition.
    if (!inserted &&
        binding_rank(by_addr_[i].binding) < binding_rank(by_addr_[it->second].binding)) {
      it->second = i;
    }
  }
  return Ok{};
}

std::optional<Symbol> ElfFile::find(std::string_view name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return std::nullopt;
  return by_addr_[it->second];
}

std::optional<uint64_t> ElfFile::object_vaddr(std::string_view name) const {
  if (elf_ == nullptr) return std::nullopt;
  std::optional<uint64_t> found;
  Elf_Scn* scn = nullptr;
  while (!found && (scn = elf_nextscn(elf_, scn)) != nullptr) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) == nullptr) continue;
    if (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) continue;
    for_each_symbol(elf_, scn, sh, [&](const GElf_Sym& s, std::string_view n) {
      if (GELF_ST_TYPE(s.st_info) != STT_OBJECT || s.st_shndx == SHN_UNDEF || n != name)
        return false;
      found = s.st_value;
      return true;
    });
  }
  return found;
}

const Symbol* ElfFile::symbol_at(uint64_t vaddr) const {
  auto it = std::upper_bound(by_addr_.begin(), by_addr_.end(), vaddr,
                             [](uint64_t v, const Symbol& s) { return v < s.vaddr; });
  if (it == by_addr_.begin()) return nullptr;
  size_t i = static_cast<size_t>(it - by_addr_.begin()) - 1;
  // The group of aliases at the nearest preceding address; the preferred one sorts first.
  size_t first = i;
  while (first > 0 && by_addr_[first - 1].vaddr == by_addr_[i].vaddr) --first;
  for (size_t k = first; k <= i; ++k) {
    const Symbol& s = by_addr_[k];
    if (s.size == 0 || vaddr - s.vaddr < s.size) return &s;
  }
  // A larger symbol further back may still enclose vaddr (nested/overlapping symbols).
  size_t limit = first > 16 ? first - 16 : 0;
  for (size_t k = first; k > limit; --k) {
    const Symbol& s = by_addr_[k - 1];
    if (s.size != 0 && vaddr - s.vaddr < s.size) return &s;
  }
  return nullptr;
}

std::optional<uint64_t> ElfFile::file_offset(uint64_t vaddr) const {
  for (const LoadSegment& seg : loads_) {
    if (vaddr >= seg.vaddr && vaddr - seg.vaddr < seg.filesz) {
      return vaddr - seg.vaddr + seg.offset;
    }
  }
  return std::nullopt;
}

std::optional<uint64_t> ElfFile::vaddr_from_file_offset(uint64_t file_off) const {
  for (const LoadSegment& seg : loads_) {
    if (file_off >= seg.offset && file_off - seg.offset < seg.filesz) {
      return file_off - seg.offset + seg.vaddr;
    }
  }
  return std::nullopt;
}

bool ElfFile::is_shared_object() const {
  if (elf_type_ != ET_DYN) return false;
  // A PIE executable is ET_DYN too; it has an interpreter and (usually) no soname.
  return soname_.has_value() || interp_.empty();
}

std::vector<std::string> ElfFile::runpath() const { return runpath_.empty() ? rpath_ : runpath_; }

Result<uint64_t> runtime_to_vaddr(const ElfFile& elf, const Mapping& mapping, uint64_t addr) {
  if (addr < mapping.start || addr >= mapping.end) {
    return make_error("address outside the mapping");
  }
  uint64_t file_off = addr - mapping.start + mapping.offset;
  auto v = elf.vaddr_from_file_offset(file_off);
  if (!v) return make_error(elf.path() + ": no PT_LOAD segment holds file offset");
  return *v;
}

}  // namespace scope::discover
