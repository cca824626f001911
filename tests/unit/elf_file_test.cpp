#include "discover/elf_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>

#include "discover/proc_maps.h"

namespace scope::discover {
namespace {

std::string libc_path() {
  auto maps = read_maps(static_cast<int>(::getpid()));
  if (!maps) return "";
  for (const std::string& f : mapped_files(*maps)) {
    if (f.find("/libc.so") != std::string::npos || f.find("/libc-") != std::string::npos) {
      return f;
    }
  }
  return "";
}

extern "C" __attribute__((noinline, used)) int scope_elf_test_marker(int x) {
  asm volatile("" ::: "memory");
  return x * 3 + 1;
}

TEST(ElfFile, OpenMissingFails) {
  auto f = ElfFile::open("/nonexistent/file.so");
  EXPECT_FALSE(f.ok());
  auto g = ElfFile::open("/proc/self/status");  // not ELF
  EXPECT_FALSE(g.ok());
}

TEST(ElfFile, LibcMalloc) {
  std::string path = libc_path();
  ASSERT_FALSE(path.empty());
  auto t0 = std::chrono::steady_clock::now();
  auto libc = ElfFile::open(path);
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0);
  ASSERT_TRUE(libc.ok()) << libc.error();
  EXPECT_LT(ms.count(), 500.0);
  EXPECT_TRUE(libc->is_shared_object());
  ASSERT_TRUE(libc->soname().has_value());
  EXPECT_EQ(*libc->soname(), "libc.so.6");
  EXPECT_GT(libc->symbols().size(), 1000u);

  auto malloc_sym = libc->find("malloc");
  ASSERT_TRUE(malloc_sym.has_value());
  EXPECT_EQ(malloc_sym->name, "malloc");
  EXPECT_NE(malloc_sym->vaddr, 0u);
  auto off = libc->file_offset(malloc_sym->vaddr);
  ASSERT_TRUE(off.has_value());
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_LT(*off, static_cast<uint64_t>(st.st_size));
  EXPECT_EQ(libc->vaddr_from_file_offset(*off), malloc_sym->vaddr);

  const Symbol* at = libc->symbol_at(malloc_sym->vaddr + 1);
  ASSERT_NE(at, nullptr);
  EXPECT_EQ(at->vaddr, malloc_sym->vaddr);
  EXPECT_FALSE(libc->find("no_such_function_xyz").has_value());
  EXPECT_FALSE(libc->find("malloc@GLIBC_2.2.5").has_value());

  // Movable.
  ElfFile moved = std::move(*libc);
  EXPECT_TRUE(moved.find("malloc").has_value());
  EXPECT_TRUE(moved.find("free").has_value());
}

TEST(ElfFile, SelfExecutable) {
  auto exe_path = read_exe(static_cast<int>(::getpid()));
  ASSERT_TRUE(exe_path.ok());
  auto exe = ElfFile::open(*exe_path);
  ASSERT_TRUE(exe.ok()) << exe.error();
  EXPECT_FALSE(exe->is_shared_object());
  EXPECT_FALSE(exe->interpreter().empty());
  bool needs_libc = false;
  for (const auto& n : exe->needed()) needs_libc |= n == "libc.so.6";
  EXPECT_TRUE(needs_libc);
  if (exe->has_symtab()) {
    auto sym = exe->find("scope_elf_test_marker");
    ASSERT_TRUE(sym.has_value());
    EXPECT_GT(sym->size, 0u);
    const Symbol* at = exe->symbol_at(sym->vaddr + sym->size - 1);
    ASSERT_NE(at, nullptr);
    EXPECT_EQ(at->name, "scope_elf_test_marker");
  }
  EXPECT_EQ(scope_elf_test_marker(1), 4);
}

// The loader's data symbol the loader hook reads: found by object_vaddr, not by find (functions).
TEST(ElfFile, LoaderRDebugIsAnObject) {
  auto exe_path = read_exe(static_cast<int>(::getpid()));
  ASSERT_TRUE(exe_path.ok());
  auto exe = ElfFile::open(*exe_path);
  ASSERT_TRUE(exe.ok()) << exe.error();
  auto ldso = ElfFile::open(exe->interpreter());
  ASSERT_TRUE(ldso.ok()) << ldso.error();
  auto r_debug = ldso->object_vaddr("_r_debug");
  ASSERT_TRUE(r_debug.has_value());
  EXPECT_GT(*r_debug, 0u);
  EXPECT_FALSE(ldso->find("_r_debug").has_value());
  EXPECT_TRUE(ldso->find("_dl_debug_state").has_value());
  EXPECT_FALSE(ldso->object_vaddr("_dl_debug_state").has_value());
}

TEST(ElfFile, RuntimeAddressToVaddr) {
  int pid = static_cast<int>(::getpid());
  auto maps = read_maps(pid);
  ASSERT_TRUE(maps.ok());
  auto exe_path = read_exe(pid);
  ASSERT_TRUE(exe_path.ok());
  auto exe = ElfFile::open(*exe_path);
  ASSERT_TRUE(exe.ok());
  auto addr = reinterpret_cast<uint64_t>(&scope_elf_test_marker);
  const Mapping* hit = nullptr;
  for (const Mapping& m : *maps) {
    if (addr >= m.start && addr < m.end) hit = &m;
  }
  ASSERT_NE(hit, nullptr);
  auto vaddr = runtime_to_vaddr(*exe, *hit, addr);
  ASSERT_TRUE(vaddr.ok()) << vaddr.error();
  const Symbol* s = exe->symbol_at(*vaddr);
  if (exe->has_symtab()) {
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->name, "scope_elf_test_marker");
    EXPECT_EQ(s->vaddr, *vaddr);
  }
  EXPECT_FALSE(runtime_to_vaddr(*exe, *hit, hit->end).ok());
}

}  // namespace
}  // namespace scope::discover
