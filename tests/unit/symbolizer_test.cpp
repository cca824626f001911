#include "discover/symbolizer.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

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

// `nm`'s value (st_value) of `symbol` in `path`, or nullopt.
std::optional<uint64_t> nm_value(const std::string& path, const std::string& symbol) {
  std::string cmd = "nm --defined-only '" + path + "' 2>/dev/null";
  FILE* f = ::popen(cmd.c_str(), "r");
  if (f == nullptr) return std::nullopt;
  std::optional<uint64_t> value;
  char line[1024];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    std::string l(line);
    while (!l.empty() && (l.back() == '\n' || l.back() == '\r')) l.pop_back();
    auto sp = l.rfind(' ');
    if (sp != std::string::npos && l.substr(sp + 1) == symbol)
      value = std::stoull(l.substr(0, l.find(' ')), nullptr, 16);
  }
  ::pclose(f);
  return value;
}

// The stand-in CUDA demo, running (--loop) until the test ends.
class RunningDemo {
 public:
  explicit RunningDemo(const std::string& path) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      ::execl(path.c_str(), path.c_str(), "--loop", "--threads", "1", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[1]);
    // "ready PID" once its first iteration is done: everything is mapped.
    FILE* out = ::fdopen(fds[0], "r");
    char line[128];
    ready_ = out != nullptr && std::fgets(line, sizeof line, out) != nullptr &&
             std::string(line).rfind("ready ", 0) == 0;
    if (out != nullptr) std::fclose(out);
  }
  ~RunningDemo() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  RunningDemo(const RunningDemo&) = delete;
  RunningDemo& operator=(const RunningDemo&) = delete;
  bool ready() const { return ready_; }
  int pid() const { return pid_; }

 private:
  int pid_ = -1;
  bool ready_ = false;
};

// A host stub in the demo (an executable built in testdata): its file as the process maps it,
// and its symbol's value as `nm` shows it.
TEST(Symbolizer, HostStubsFileAndNmValue) {
  const std::string demo = std::string(SCOPE_TESTDATA_DIR) + "/bin/cuda_demo";
  auto want = nm_value(demo, "_Z10vector_addPfS_i");
  if (!want) GTEST_SKIP() << "no nm, or no vector_add in " << demo;
  RunningDemo run(demo);
  ASSERT_TRUE(run.ready()) << demo;
  auto maps = read_maps(run.pid());
  ASSERT_TRUE(maps.ok());
  const std::string path = std::filesystem::canonical(demo).string();
  // The load base: where the file's first byte is mapped (its first PT_LOAD's vaddr is 0: PIE).
  uint64_t base = 0;
  for (const auto& m : *maps)
    if (m.path == path && m.offset == 0) base = m.start;
  ASSERT_NE(base, 0u) << "no mapping of " << path;
  auto elf = ElfFile::open(demo);
  ASSERT_TRUE(elf.ok());
  ASSERT_EQ(elf->vaddr_from_file_offset(0), std::optional<uint64_t>(0)) << "the demo is not a PIE";

  ProcessSymbolizer sym;
  auto at = sym.symbol_at(run.pid(), base + *want + 4);  // inside the function
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(at->name, "vector_add(float*, float*, int)");
  EXPECT_EQ(at->file, path);
  EXPECT_EQ(at->value, *want);
  EXPECT_EQ(sym.symbolize(run.pid(), base + *want), at->name);
  // A template stub, as the other kernels' are.
  auto scale = nm_value(demo, "_ZN10scope_demo5scaleIfEEvPT_S1_i");
  ASSERT_TRUE(scale.has_value());
  auto s = sym.symbol_at(run.pid(), base + *scale);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->name, "void scope_demo::scale<float>(float*, float, int)");
  EXPECT_EQ(s->file, path);
  EXPECT_EQ(s->value, *scale);
}

}  // namespace
}  // namespace scope::discover
