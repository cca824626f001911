// The open family's plain code: flag names, path joining and normalisation,
// record decoding, output lines and the summary.
#include "families/open_family.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "bpf/shared/open.h"
#include "common/text.h"
#include "families/family.h"

namespace scope::families {
namespace {

TEST(OpenFlags, AccessModesAndFlags) {
  EXPECT_EQ(open_flags_str(0), "O_RDONLY");
  EXPECT_EQ(open_flags_str(01), "O_WRONLY");
  EXPECT_EQ(open_flags_str(02), "O_RDWR");
  EXPECT_EQ(open_flags_str(02000000), "O_RDONLY|O_CLOEXEC");
  EXPECT_EQ(open_flags_str(01 | 0100 | 01000 | 02000000), "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC");
  EXPECT_EQ(open_flags_str(0200000 | 04000 | 02000000),
            "O_RDONLY|O_NONBLOCK|O_DIRECTORY|O_CLOEXEC");
  EXPECT_EQ(open_flags_str(02 | 0200 | 0100), "O_RDWR|O_CREAT|O_EXCL");
}

TEST(OpenFlags, CompositeFlagsNamedOnce) {
  // O_SYNC includes O_DSYNC; O_TMPFILE includes O_DIRECTORY.
  EXPECT_EQ(open_flags_str(04010000 | 01), "O_WRONLY|O_SYNC");
  EXPECT_EQ(open_flags_str(010000 | 01), "O_WRONLY|O_DSYNC");
  EXPECT_EQ(open_flags_str(020200000 | 02), "O_RDWR|O_TMPFILE");
  EXPECT_EQ(open_flags_str(010000000 | 02000000), "O_RDONLY|O_CLOEXEC|O_PATH");
}

TEST(OpenFlags, UnknownBitsInHex) {
  EXPECT_EQ(open_flags_str(0x80000000ull), "O_RDONLY|0x80000000");
  EXPECT_EQ(open_flags_str(3), "O_ACCMODE");
}

TEST(OpenPath, Normalize) {
  EXPECT_EQ(normalize_path("/usr/share/./zoneinfo/../debconf/../../share/base-files/motd"),
            "/usr/share/base-files/motd");
  EXPECT_EQ(normalize_path("//etc///hostname/"), "/etc/hostname");
  EXPECT_EQ(normalize_path("/../../etc"), "/etc");
  EXPECT_EQ(normalize_path("/"), "/");
  EXPECT_EQ(normalize_path("/a/b/../.."), "/");
  EXPECT_EQ(normalize_path("a/./b/../c"), "a/c");
  EXPECT_EQ(normalize_path("../x"), "../x");
  EXPECT_EQ(normalize_path("a/../.."), "..");
  EXPECT_EQ(normalize_path(""), ".");
  EXPECT_EQ(normalize_path("..."), "...");  // not special
}

TEST(OpenPath, Resolve) {
  EXPECT_EQ(resolve_path("/usr/share",
                         "./zoneinfo/../debconf/../doc/../dict/../../share/base-files/motd"),
            "/usr/share/base-files/motd");
  EXPECT_EQ(resolve_path("/etc", "hostname"), "/etc/hostname");
  EXPECT_EQ(resolve_path("/", "etc/hostname"), "/etc/hostname");
  EXPECT_EQ(resolve_path("/home/u", "/etc/passwd"), "/etc/passwd");
  EXPECT_EQ(resolve_path("/home/u", "."), "/home/u");
  EXPECT_EQ(resolve_path("/home/u", ".."), "/home");
  EXPECT_EQ(resolve_path("/", "../../x"), "/x");
}

TEST(OpenPath, PseudoFs) {
  EXPECT_TRUE(is_pseudo_fs_path("/proc"));
  EXPECT_TRUE(is_pseudo_fs_path("/proc/self/status"));
  EXPECT_TRUE(is_pseudo_fs_path("/sys/kernel/btf/vmlinux"));
  EXPECT_FALSE(is_pseudo_fs_path("/processes/x"));
  EXPECT_FALSE(is_pseudo_fs_path("/system"));
  EXPECT_FALSE(is_pseudo_fs_path("/etc/proc"));
}

TEST(OpenErrno, Names) {
  EXPECT_EQ(errno_name(-2), "ENOENT");
  EXPECT_EQ(errno_name(-13), "EACCES");
  EXPECT_EQ(errno_name(-9999), "errno 9999");
}

open_event_rel make_record(const char* path, std::vector<const char*> dirs_leaf_first,
                           uint16_t eflags = 0) {
  open_event_rel r;
  std::memset(&r, 0, sizeof r);
  r.ev.ts_ns = 1000;
  r.ev.pid = 55;
  r.ev.tid = 56;
  r.ev.ret = 3;
  r.ev.dfd = -100;
  r.ev.flags = 02000000;
  r.ev.call = OPEN_CALL_OPENAT;
  std::strcpy(r.ev.comm, "cat");
  std::strncpy(r.ev.path, path, sizeof r.ev.path - 1);
  r.ev.path_len = static_cast<uint16_t>(std::strlen(r.ev.path));
  r.ev.eflags = eflags;
  // The names packed after the path's NUL, as the BPF side writes them.
  char* names = reinterpret_cast<char*>(&r) + OPEN_EVENT_HDR + r.ev.path_len + 1;
  size_t off = 0;
  for (const char* d : dirs_leaf_first) {
    size_t len = std::min<size_t>(std::strlen(d), OPEN_COMP_MAX - 1);
    std::memcpy(names + off, d, len);
    off += len + 1;
  }
  r.ev.dirs_len = static_cast<uint16_t>(off);
  r.ev.ndirs = static_cast<uint8_t>(dirs_leaf_first.size());
  if (!dirs_leaf_first.empty() || (eflags & OPEN_F_DIR)) r.ev.eflags |= OPEN_F_DIR;
  return r;
}

TEST(OpenDecode, AbsolutePathShortRecord) {
  auto r = make_record("/etc//hostname", {});
  auto e = decode_open_record(&r, sizeof(open_event), 5000);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->path, "/etc/hostname");
  EXPECT_EQ(e->ts_ns, 6000u);
  EXPECT_EQ(e->pid, 55u);
  EXPECT_EQ(e->tid, 56u);
  EXPECT_EQ(e->comm, "cat");
  EXPECT_EQ(e->call, "openat");
  EXPECT_EQ(e->ret, 3);
  EXPECT_FALSE(e->path_truncated);
  EXPECT_FALSE(e->path_unresolved);
}

TEST(OpenDecode, RelativeJoinedWithDirectory) {
  auto r = make_record("./zoneinfo/../base-files/motd", {"share", "usr"});
  auto e = decode_open_record(&r, sizeof r, 0);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->path, "/usr/share/base-files/motd");
}

TEST(OpenDecode, RelativeAtRoot) {
  auto r = make_record("etc/hostname", {}, OPEN_F_DIR);
  auto e = decode_open_record(&r, sizeof r, 0);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->path, "/etc/hostname");
}

TEST(OpenDecode, TooDeepAndUnknownDirectory) {
  auto deep = make_record("f", {"c", "b"}, OPEN_F_DIR_TOO_DEEP);
  auto e = decode_open_record(&deep, sizeof deep, 0);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->path, "/.../b/c/f");
  EXPECT_TRUE(e->path_truncated);

  auto bad = make_record("f", {}, OPEN_F_DIR_UNKNOWN);
  bad.ev.ret = -9;
  e = decode_open_record(&bad, sizeof(open_event), 0);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->path, "f");
  EXPECT_TRUE(e->path_unresolved);
}

TEST(OpenDecode, EmptyOrUnreadablePathNotResolved) {
  auto r = make_record("", {"tmp"}, OPEN_F_PATH_UNREADABLE);
  r.ev.ret = -14;
  auto e = decode_open_record(&r, sizeof r, 0);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->path, "");
  EXPECT_TRUE(e->path_unresolved);
  EXPECT_EQ(event_json(open_row(*e))["errno_name"], "EFAULT");
}

TEST(OpenDecode, ShortRecordRejected) {
  char buf[16] = {};
  EXPECT_FALSE(decode_open_record(buf, sizeof buf, 0));
}

TEST(OpenOutput, JsonAndHumanLine) {
  OpenEvent e;
  e.ts_ns = 2'001'234'000;
  e.pid = 55;
  e.tid = 55;
  e.comm = "cat";
  e.call = "openat";
  e.path = "/etc/hostname";
  e.flags = 02000000;
  e.ret = 3;
  auto j = event_json(open_row(e));
  EXPECT_EQ(j["event"], "open");
  EXPECT_EQ(j["path"], "/etc/hostname");
  EXPECT_EQ(j["flags"], 02000000);
  EXPECT_EQ(j["flags_str"], "O_RDONLY|O_CLOEXEC");
  EXPECT_EQ(j["ret"], 3);
  EXPECT_FALSE(j.contains("errno_name"));
  EXPECT_EQ(format_open_line(e, 2'000'000'000),
            "   0.001234 cat[55/55]               openat  /etc/hostname O_RDONLY|O_CLOEXEC ret=3");
  e.ret = -2;
  e.flags = 0;
  EXPECT_EQ(event_json(open_row(e))["errno_name"], "ENOENT");
  EXPECT_EQ(format_open_line(e, 2'000'000'000),
            "   0.001234 cat[55/55]               openat  /etc/hostname O_RDONLY ret=-2 (ENOENT)");
}

TEST(OpenStatsTest, Aggregates) {
  OpenStats s;
  OpenEvent e;
  e.comm = "cat";
  e.path = "/etc/hostname";
  e.ret = 3;
  s.add(e);
  s.add(e);
  e.comm = "sh";
  e.path = "/nope";
  e.ret = -2;
  s.add(e);
  s.add_skipped();
  auto j = s.json();
  EXPECT_EQ(j["opens"], 3);
  EXPECT_EQ(j["failed"], 1);
  EXPECT_EQ(j["skipped_pseudo"], 1);
  ASSERT_EQ(j["by_comm"].size(), 2u);
  EXPECT_EQ(j["by_comm"][0]["comm"], "cat");
  EXPECT_EQ(j["by_comm"][0]["count"], 2);
  EXPECT_EQ(j["top_paths"][0]["path"], "/etc/hostname");
  EXPECT_EQ(j["top_paths"][0]["count"], 2);
  ASSERT_EQ(j["errors"].size(), 1u);
  EXPECT_EQ(j["errors"][0]["errno_name"], "ENOENT");
  EXPECT_EQ(j["errors"][0]["count"], 1);
}

TEST(OpenStatsTest, TopPathsCappedAtTen) {
  OpenStats s;
  OpenEvent e;
  for (int i = 0; i < 15; ++i) {
    e.path = "/p" + std::to_string(i);
    for (int k = 0; k <= i; ++k) s.add(e);
  }
  auto j = s.json();
  ASSERT_EQ(j["top_paths"].size(), 10u);
  EXPECT_EQ(j["top_paths"][0]["path"], "/p14");
  EXPECT_EQ(j["top_paths"][0]["count"], 15);
}

}  // namespace
}  // namespace scope::families
