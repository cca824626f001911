#include "families/kernel_names.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace scope::families
