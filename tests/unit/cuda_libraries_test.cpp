#include "discover/cuda_libraries.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "discover/proc_maps.h"

namespace scope::discover {
namespace {

TEST(CudaLibraries, ClassifyPath) {
  EXPECT_EQ(classify_path("libcudart.so"), CudaLibraryKind::kRuntime);
  EXPECT_EQ(classify_path("libcudart.so.13"), CudaLibraryKind::kRuntime);
  EXPECT_EQ(classify_path("libcudart.so.12.4.127"), CudaLibraryKind::kRuntime);
  EXPECT_EQ(classify_path("/x/libcudart.so.13"), CudaLibraryKind::kRuntime);
  EXPECT_EQ(classify_path("libcuda.so"), CudaLibraryKind::kDriver);
  EXPECT_EQ(classify_path("libcuda.so.1"), CudaLibraryKind::kDriver);
  EXPECT_EQ(classify_path("/usr/lib/x86_64-linux-gnu/libcuda.so.580.95.05"),
            CudaLibraryKind::kDriver);

  EXPECT_EQ(classify_path("libcudnn.so.9"), CudaLibraryKind::kNone);
  EXPECT_EQ(classify_path("libcudart_static.a"), CudaLibraryKind::kNone);
  EXPECT_EQ(classify_path("libcuda_fake.so"), CudaLibraryKind::kNone);
  EXPECT_EQ(classify_path("libcudart.so.12."), CudaLibraryKind::kNone);
  EXPECT_EQ(classify_path("libcudart.so.x"), CudaLibraryKind::kNone);
  EXPECT_EQ(classify_path("/libcuda.so/other.so"), CudaLibraryKind::kNone);
  EXPECT_EQ(classify_path("libcudadebugger.so.1"), CudaLibraryKind::kNone);
  EXPECT_EQ(classify_path(""), CudaLibraryKind::kNone);
  EXPECT_STREQ(to_string(CudaLibraryKind::kStaticRuntime), "static_runtime");
}

TEST(CudaLibraries, ClassifyFileLibcIsNone) {
  auto maps = read_maps(static_cast<int>(::getpid()));
  ASSERT_TRUE(maps.ok());
  std::string libc;
  for (const auto& f : mapped_files(*maps)) {
    if (f.find("/libc.so") != std::string::npos) libc = f;
  }
  ASSERT_FALSE(libc.empty());
  auto elf = ElfFile::open(libc);
  ASSERT_TRUE(elf.ok());
  EXPECT_EQ(classify_file(*elf, libc), CudaLibraryKind::kNone);
  // The file name alone decides when it matches.
  EXPECT_EQ(classify_file(*elf, "/opt/cuda/libcudart.so.12"), CudaLibraryKind::kRuntime);
}

}  // namespace
}  // namespace scope::discover

// A stand-in for a statically linked CUDA runtime: this test binary defines cudaMalloc.
extern "C" __attribute__((weak, noinline, used)) int cudaMalloc(void** ptr, unsigned long size) {
  asm volatile("" ::: "memory");
  if (ptr != nullptr) *ptr = nullptr;
  return size == 0 ? 0 : 2;
}

namespace scope::discover {
namespace {

TEST(CudaLibraries, ClassifyFileStaticRuntime) {
  auto exe_path = read_exe(static_cast<int>(::getpid()));
  ASSERT_TRUE(exe_path.ok());
  auto exe = ElfFile::open(*exe_path);
  ASSERT_TRUE(exe.ok());
  if (!exe->has_symtab()) GTEST_SKIP() << "test binary is stripped";
  EXPECT_EQ(classify_file(*exe, *exe_path), CudaLibraryKind::kStaticRuntime);
}

}  // namespace
}  // namespace scope::discover
