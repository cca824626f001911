#include "discover/proc_maps.h"

#include <gtest/gtest.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>

namespace scope::discover {
namespace {

constexpr const char* kSample =
    "55d0c0a00000-55d0c0a02000 r--p 00000000 08:01 1234                       /usr/bin/cat\n"
    "55d0c0a02000-55d0c0a07000 r-xp 00002000 08:01 1234                       /usr/bin/cat\n"
    "55d0c1e4a000-55d0c1e6b000 rw-p 00000000 00:00 0                          [heap]\n"
    "7f1a2b000000-7f1a2b100000 r-xp 00010000 fd:02 98765                      "
    "/opt/my libs/libfoo bar.so (deleted)\n"
    "7f1a2c000000-7f1a2c001000 rw-p 00000000 00:00 0 \n"
    "7ffd1a0e7000-7ffd1a108000 rw-p 00000000 00:00 0                          [stack]\n"
    "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n"
    "garbage line\n";

TEST(ProcMaps, ParsesSample) {
  auto maps = parse_maps(kSample);
  ASSERT_EQ(maps.size(), 7u);
  EXPECT_EQ(maps[0].start, 0x55d0c0a00000u);
  EXPECT_EQ(maps[0].end, 0x55d0c0a02000u);
  EXPECT_EQ(maps[0].perms, "r--p");
  EXPECT_EQ(maps[0].inode, 1234u);
  EXPECT_EQ(maps[0].path, "/usr/bin/cat");
  EXPECT_FALSE(maps[0].deleted);
  EXPECT_EQ(maps[1].offset, 0x2000u);
  EXPECT_EQ(maps[2].path, "[heap]");
  EXPECT_EQ(maps[3].path, "/opt/my libs/libfoo bar.so");
  EXPECT_TRUE(maps[3].deleted);
  EXPECT_EQ(maps[3].offset, 0x10000u);
  EXPECT_EQ(maps[3].inode, 98765u);
  EXPECT_EQ(maps[4].path, "");
  EXPECT_EQ(maps[6].start, 0xffffffffff600000u);
}

TEST(ProcMaps, MappedFilesAreUniqueAbsolutePaths) {
  auto files = mapped_files(parse_maps(kSample));
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0], "/usr/bin/cat");
  EXPECT_EQ(files[1], "/opt/my libs/libfoo bar.so");
}

// The key a maps line gives is the one stat gives the same file: a scan can skip the stat.
TEST(ProcMaps, MappedFileKeysAreTheFilesStatKeys) {
  auto keys = mapped_file_keys(parse_maps(kSample));
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].key, std::to_string(makedev(8, 1)) + ":1234");
  EXPECT_EQ(keys[1].key, std::to_string(makedev(0xfd, 2)) + ":98765");
  auto maps = read_maps(static_cast<int>(::getpid()));
  ASSERT_TRUE(maps.ok()) << maps.error();
  int compared = 0;
  for (const auto& f : mapped_file_keys(*maps)) {
    std::string by_stat = file_key(f.path);
    if (by_stat.empty()) continue;  // gone since
    EXPECT_EQ(f.key, by_stat) << f.path;
    ++compared;
  }
  EXPECT_GT(compared, 0);
}

TEST(ProcMaps, ReadsSelf) {
  int pid = static_cast<int>(::getpid());
  auto maps = read_maps(pid);
  ASSERT_TRUE(maps.ok()) << maps.error();
  EXPECT_FALSE(maps->empty());
  auto exe = read_exe(pid);
  ASSERT_TRUE(exe.ok()) << exe.error();
  auto files = mapped_files(*maps);
  EXPECT_NE(std::find(files.begin(), files.end(), *exe), files.end());

  auto env = read_environ(pid);
  ASSERT_TRUE(env.ok()) << env.error();
  auto comm = read_comm(pid);
  ASSERT_TRUE(comm.ok()) << comm.error();
  EXPECT_FALSE(comm->empty());
  EXPECT_EQ(comm->find('\n'), std::string::npos);
  EXPECT_TRUE(process_exists(pid));
  EXPECT_FALSE(process_exists(-1));
  // Same mount namespace: the path is returned unchanged.
  EXPECT_EQ(host_path(pid, *exe), *exe);
  EXPECT_EQ(host_path(pid, "/definitely/not/here"), "/definitely/not/here");
}

TEST(ProcMaps, MissingProcessIsAnError) {
  EXPECT_FALSE(read_maps(999999999).ok());
  EXPECT_FALSE(read_exe(999999999).ok());
  EXPECT_FALSE(read_comm(999999999).ok());
  EXPECT_FALSE(process_exists(999999999));
}

}  // namespace
}  // namespace scope::discover
