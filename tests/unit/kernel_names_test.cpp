#include "families/kernel_names.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>

namespace scope::families {
namespace {

TEST(KernelFromDeviceStub, TakesTheKernelOutOfNvccsStubName) {
  EXPECT_EQ(
      kernel_from_device_stub("__device_stub__Z5saxpyifPKfPf(int, float, float const*, float*)"),
      "saxpy(int, float, float const*, float*)");
  EXPECT_EQ(kernel_from_device_stub("__device_stub__ZN5bench4fillIfEEvPT_S1_i(float*, float, int)"),
            "void bench::fill<float>(float*, float, int)");
  EXPECT_EQ(kernel_from_device_stub("vector_add(float*, float*, int)"),
            "vector_add(float*, float*, int)");
  EXPECT_EQ(kernel_from_device_stub(""), "");
}

TEST(KernelNames, LearnLookupPerProcess) {
  KernelNames names;
  names.learn(1, 0x10, "a()");
  EXPECT_EQ(names.lookup(1, 0x10), "a()");
  EXPECT_EQ(names.lookup(2, 0x10), "");  // handles are per process
  EXPECT_EQ(names.lookup(1, 0x11), "");
  names.learn(1, 0, "ignored()");
  EXPECT_EQ(names.lookup(1, 0), "");
}

TEST(KernelNames, FunctionOfKernelTakesItsName) {
  KernelNames names;
  names.alias(1, 0x200, 0x100);  // before the kernel's name is known
  names.learn(1, 0x100, "k()");
  EXPECT_EQ(names.lookup(1, 0x200), "k()");
  names.alias(1, 0x300, 0x100);  // after
  EXPECT_TRUE(names.known(1, 0x300));
}

TEST(KernelNames, UnnamedLaunchesNamedLaterAcrossExit) {
  KernelNames names;
  EXPECT_TRUE(names.note_unnamed(1, 0x10));
  EXPECT_FALSE(names.note_unnamed(1, 0x10));
  EXPECT_FALSE(names.note_unnamed(1, 0x10));
  EXPECT_TRUE(names.note_unnamed(1, 0x20));  // never named
  EXPECT_TRUE(names.named_later().empty());
  names.learn(1, 0x10, "k()");
  EXPECT_EQ(names.named_later(), (std::map<std::string, uint64_t>{{"k()", 3}}));
  names.forget(1);  // the process exited: the count stays
  EXPECT_EQ(names.named_later(), (std::map<std::string, uint64_t>{{"k()", 3}}));
  EXPECT_EQ(names.lookup(1, 0x10), "");
}

// KernelNaming with a fake process: host stubs and call sites at known addresses.
class KernelNamingTest : public ::testing::Test {
 protected:
  // Every fake symbol lives in /opt/demo at its address less 0x3000.
  KernelNaming naming_{[this](uint32_t pid, uint64_t addr) -> std::optional<discover::SymbolAt> {
    ++lookups_;
    auto it = symbols_.find({pid, addr});
    if (it == symbols_.end()) return std::nullopt;
    return discover::SymbolAt{it->second, "/opt/demo", addr - 0x3000};
  }};
  std::map<std::pair<uint32_t, uint64_t>, std::string> symbols_;
  int lookups_ = 0;

  static CudaEvent launch(uint32_t pid, uint64_t handle, uint64_t stub = 0) {
    CudaEvent e;
    e.pid = pid;
    e.op = CUDA_OP_LAUNCH;
    e.handle = handle;
    e.stub = stub;
    return e;
  }
  static cuda_name_event name_call(uint32_t pid, uint16_t call, uint64_t handle, uint64_t parent,
                                   const char* name) {
    cuda_name_event r{};
    r.pid = pid;
    r.call = call;
    r.handle = handle;
    r.parent = parent;
    std::strncpy(r.name, name, sizeof r.name - 1);
    r.name_len = static_cast<uint32_t>(std::strlen(name));
    return r;
  }
};

TEST_F(KernelNamingTest, DriverNamesAreDemangled) {
  naming_.learn(name_call(7, CALL_cuModuleGetFunction, 0xf00, 0xa0, "_Z5saxpyifPfS_"));
  auto e = launch(7, 0xf00);
  EXPECT_FALSE(naming_.name_launch(e, false));
  EXPECT_EQ(e.kernel, "saxpy(int, float, float*, float*)");
  EXPECT_EQ(e.kernel_file, "");  // the driver's calls say nothing of where a kernel lives
  EXPECT_FALSE(e.kernel_offset.has_value());
  auto other = launch(8, 0xf00);  // another process: its handles are its own
  EXPECT_TRUE(naming_.name_launch(other, false));
  EXPECT_EQ(other.kernel, "");
}

TEST_F(KernelNamingTest, AFailedNameCallTeachesNothing) {
  auto r = name_call(7, CALL_cuModuleGetFunction, 0xf00, 0xa0, "_Z1kv");
  r.ret = 500;  // CUDA_ERROR_NOT_FOUND
  naming_.learn(r);
  auto e = launch(7, 0xf00);
  EXPECT_TRUE(naming_.name_launch(e, false));
  EXPECT_EQ(e.kernel, "");
}

TEST_F(KernelNamingTest, KernelGetFunctionAliasesTheKernelsName) {
  naming_.learn(name_call(7, CALL_cuLibraryGetKernel, 0x100, 0xa0, "_Z1kv"));
  naming_.learn(name_call(7, CALL_cuKernelGetFunction, 0x200, 0x100, ""));
  auto e = launch(7, 0x200);
  EXPECT_FALSE(naming_.name_launch(e, false));
  EXPECT_EQ(e.kernel, "k()");
}

TEST_F(KernelNamingTest, HostStubsAreSymbolizedOnceAndNameTheirHandle) {
  symbols_[{7, 0x4000}] = "vector_add(float*, float*, int)";
  auto e = launch(7, 0x900, 0x4000);
  EXPECT_FALSE(naming_.name_launch(e, false));
  EXPECT_EQ(e.kernel, "vector_add(float*, float*, int)");
  EXPECT_EQ(e.kernel_file, "/opt/demo");
  EXPECT_EQ(e.kernel_offset, 0x1000u);
  auto again = launch(7, 0x900, 0x4000);
  EXPECT_FALSE(naming_.name_launch(again, false));
  EXPECT_EQ(lookups_, 1);
  auto by_handle = launch(7, 0x900);  // the driver's later launch of the same handle
  EXPECT_FALSE(naming_.name_launch(by_handle, false));
  EXPECT_EQ(by_handle.kernel, "vector_add(float*, float*, int)");
  EXPECT_EQ(by_handle.kernel_file, "/opt/demo");
  EXPECT_EQ(by_handle.kernel_offset, 0x1000u);
}

TEST_F(KernelNamingTest, AHostStubGivesADriverNamedHandleItsFile) {
  naming_.learn(name_call(7, CALL_cuLibraryGetKernel, 0x900, 0xa0, "_Z1kv"));
  auto by_driver = launch(7, 0x900);
  EXPECT_FALSE(naming_.name_launch(by_driver, false));
  EXPECT_EQ(by_driver.kernel, "k()");
  EXPECT_FALSE(by_driver.kernel_offset.has_value());
  symbols_[{7, 0x4100}] = "k()";
  auto via_stub = launch(7, 0x900, 0x4100);
  EXPECT_FALSE(naming_.name_launch(via_stub, false));
  EXPECT_EQ(via_stub.kernel_file, "/opt/demo");
  auto later = launch(7, 0x900);  // the handle keeps what the stub told
  EXPECT_FALSE(naming_.name_launch(later, false));
  EXPECT_EQ(later.kernel, "k()");
  EXPECT_EQ(later.kernel_file, "/opt/demo");
  EXPECT_EQ(later.kernel_offset, 0x1100u);
}

TEST_F(KernelNamingTest, AStubWithoutASymbolLeavesTheDriversName) {
  naming_.learn(name_call(7, CALL_cuModuleGetFunction, 0x900, 0xa0, "_Z1kv"));
  auto e = launch(7, 0x900, 0x4200);  // no symbol at 0x4200
  EXPECT_FALSE(naming_.name_launch(e, false));
  EXPECT_EQ(e.kernel, "k()");
  EXPECT_EQ(e.kernel_file, "");
  EXPECT_FALSE(e.kernel_offset.has_value());
}

TEST_F(KernelNamingTest, Nvcc13CallSitesNameTheKernelOfTheirDeviceStub) {
  // __cudaLaunchKernel's return address is inside __device_stub__Z5saxpyifPfS_.
  symbols_[{7, 0x5010}] = "__device_stub__Z5saxpyifPfS_(int, float, float*, float*)";
  auto e = launch(7, 0xabc, 0x5010);
  EXPECT_FALSE(naming_.name_launch(e, /*stub_is_caller=*/true));
  EXPECT_EQ(e.kernel, "saxpy(int, float, float*, float*)");
  EXPECT_EQ(e.kernel_offset, 0x2010u);  // the value of the symbol the return address is in
  // __cudaGetKernel: a kernel handle from its host stub's address.
  symbols_[{7, 0x6000}] = "reduce(float const*, float*, int)";
  naming_.learn(name_call(7, CALL___cudaGetKernel, 0xdef, 0x6000, ""));
  auto k = launch(7, 0xdef);
  EXPECT_FALSE(naming_.name_launch(k, false));
  EXPECT_EQ(k.kernel, "reduce(float const*, float*, int)");
  EXPECT_EQ(k.kernel_file, "/opt/demo");
  EXPECT_EQ(k.kernel_offset, 0x3000u);
}

TEST_F(KernelNamingTest, AnUnknownHandleAsksForNamingOnceAndIsCountedWhenNamedLater) {
  auto e = launch(7, 0x300);
  EXPECT_TRUE(naming_.name_launch(e, false));  // first sight: probe the runtime's launches
  auto e2 = launch(7, 0x300);
  EXPECT_FALSE(naming_.name_launch(e2, false));  // asked once per handle
  symbols_[{7, 0x7000}] = "late()";
  auto via_runtime = launch(7, 0x300, 0x7000);  // the runtime's launch names it
  EXPECT_FALSE(naming_.name_launch(via_runtime, false));
  EXPECT_EQ(via_runtime.kernel, "late()");
  EXPECT_EQ(naming_.named_later(), (std::map<std::string, uint64_t>{{"late()", 2}}));
  naming_.forget(7);
  auto after_exit = launch(7, 0x300);
  EXPECT_TRUE(naming_.name_launch(after_exit, false));  // a new process with that pid
  EXPECT_EQ(after_exit.kernel, "");
}

}  // namespace
}  // namespace scope::families
