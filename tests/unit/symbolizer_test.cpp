#include "discover/symbolizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

#include "discover/elf_file.h"
#include "discover/proc_maps.h"

namespace scope_symbolizer_test {
__attribute__((noinline, used)) int marker_function(int x) {
  asm volatile("" ::: "memory");
  return x + 42;
}
}  // namespace scope_symbolizer_test

namespace scope::discover {
namespace {

bool self_has_symtab() {
  auto exe = ElfFile::open("/proc/self/exe");
  return exe.ok() && exe->has_symtab();
}

TEST(Symbolizer, OwnFunction) {
  if (!self_has_symtab()) GTEST_SKIP() << "test binary is stripped";
  ProcessSymbolizer sym;
  int pid = static_cast<int>(::getpid());
  auto addr = reinterpret_cast<uint64_t>(&scope_symbolizer_test::marker_function);
  auto name = sym.symbolize(pid, addr + 2);
  ASSERT_TRUE(name.has_value());
  EXPECT_NE(name->find("scope_symbolizer_test::marker_function"), std::string::npos) << *name;
  EXPECT_NE(name->find("(int)"), std::string::npos) << *name;
  sym.invalidate(pid);
  EXPECT_EQ(sym.symbolize(pid, addr), name);
  EXPECT_EQ(scope_symbolizer_test::marker_function(0), 42);
}

TEST(Symbolizer, LibcFunction) {
  ProcessSymbolizer sym;
  int pid = static_cast<int>(::getpid());
  auto addr = reinterpret_cast<uint64_t>(&::getpid);
  auto name = sym.symbolize(pid, addr);
  ASSERT_TRUE(name.has_value());
  EXPECT_NE(name->find("getpid"), std::string::npos) << *name;
}

TEST(Symbolizer, Unknown) {
  ProcessSymbolizer sym;
  int pid = static_cast<int>(::getpid());
  EXPECT_FALSE(sym.symbolize(pid, 0x10).has_value());
  int on_stack = 0;
  EXPECT_FALSE(sym.symbolize(pid, reinterpret_cast<uint64_t>(&on_stack)).has_value());
  EXPECT_FALSE(sym.symbolize(999999999, 0x1000).has_value());
}

}  // namespace
}  // namespace scope::discover
