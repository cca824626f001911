// The data dir is refused unless only scope's own user can write it, and
// nothing in it is followed or trusted blindly: real files and directories,
// some owned by another uid (65534) when the tests run as root.
#include "common/data_dir.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "agent/sequence.h"
#include "agent/spool.h"

namespace scope {
namespace {

constexpr uid_t kOtherUid = 65534;  // nobody

#define REQUIRE_ROOT()                                                       \
  do {                                                                       \
    if (::geteuid() != 0) {                                                  \
      std::printf("skipped: needs root to make files owned by uid %u\n",     \
                  static_cast<unsigned>(kOtherUid));                         \
      GTEST_SKIP() << "needs root to make files owned by uid " << kOtherUid; \
    }                                                                        \
  } while (0)

class DataDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string t = std::filesystem::temp_directory_path() / "scope-datadir-XXXXXX";
    ASSERT_NE(mkdtemp(t.data()), nullptr);
    base_ = t;
  }
  void TearDown() override { std::filesystem::remove_all(base_); }

  static std::string read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static void write(const std::string& path, const std::string& text, mode_t mode) {
    { std::ofstream(path) << text; }
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
  }
  static struct stat lstat_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return st;
  }
  // A private data dir, as scope makes it.
  std::string good_dir(const std::string& name = "data") {
    std::string d = base_ + "/" + name;
    EXPECT_TRUE(ensure_data_dir(d)) << d;
    return d;
  }
  // A root-owned file elsewhere that a symlink in the data dir points to.
  std::string victim() {
    std::string v = base_ + "/victim";
    write(v, "precious\n", 0600);
    return v;
  }

  std::string base_;
};

TEST_F(DataDirTest, AFreshDirIsCreated0700AndTheToken0600) {
  mode_t old = ::umask(022);
  std::string d = base_ + "/a/b/data";
  auto st = ensure_data_dir(d);
  ::umask(old);
  ASSERT_TRUE(st) << st.error();
  EXPECT_EQ(lstat_of(d).st_mode & 07777, 0700u);
  EXPECT_EQ(lstat_of(base_ + "/a").st_mode & 07777, 0755u);  // parents as the umask says
  auto t = load_or_create_admin_token(d);
  ASSERT_TRUE(t) << t.error();
  EXPECT_TRUE(t->created);
  EXPECT_EQ(t->token.rfind("scope_", 0), 0u);
  struct stat ts = lstat_of(d + "/admin.token");
  EXPECT_TRUE(S_ISREG(ts.st_mode));
  EXPECT_EQ(ts.st_mode & 07777, 0600u);
  auto again = load_or_create_admin_token(d);
  ASSERT_TRUE(again) << again.error();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->token, t->token);
  auto r = read_admin_token(d);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(*r, t->token);
}

// Servers behind one front share an admin token (the credential admin-token): it replaces the
// data dir's own, which then holds it for the host's CLI; a weak or mangled one is refused.
TEST_F(DataDirTest, ASharedAdminTokenReplacesTheDirsOwn) {
  std::string d = good_dir("shared");
  auto own = load_or_create_admin_token(d);
  ASSERT_TRUE(own) << own.error();
  const std::string shared = "scope_0123456789abcdef0123456789abcdef0123456789abcdef";
  auto t = use_admin_token(d, shared);
  ASSERT_TRUE(t) << t.error();
  EXPECT_EQ(t->token, shared);
  EXPECT_FALSE(t->created);  // nothing to print: the operator made it
  EXPECT_EQ(*read_admin_token(d), shared);
  EXPECT_EQ(lstat_of(d + "/admin.token").st_mode & 07777, 0600u);
  EXPECT_TRUE(use_admin_token(d, shared));  // again: unchanged
  auto loaded = load_or_create_admin_token(d);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->token, shared);
  EXPECT_FALSE(loaded->created);
  for (const std::string& bad :
       {std::string("scope_short"), shared + " x", shared + "\n" + shared}) {
    auto r = use_admin_token(d, bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.code(), Errc::kBadInput);
  }
  EXPECT_EQ(*read_admin_token(d), shared);  // a refused one changes nothing
}

TEST_F(DataDirTest, AWorldWritableDirIsRefusedAndLeftAsItIs) {
  std::string d = base_ + "/shared";
  ASSERT_EQ(::mkdir(d.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(d.c_str(), 01777), 0);
  auto st = ensure_data_dir(d);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.code(), Errc::kFailed);
  EXPECT_NE(st.error().find(d), std::string::npos) << st.error();
  EXPECT_NE(st.error().find("1777"), std::string::npos) << st.error();
  EXPECT_NE(st.error().find("chmod 700 " + d), std::string::npos) << st.error();
  EXPECT_EQ(lstat_of(d).st_mode & 07777, 01777u) << "its mode was changed";
  EXPECT_FALSE(std::filesystem::exists(d + "/admin.token"));
  EXPECT_FALSE(check_data_dir(d));
}

TEST_F(DataDirTest, AGroupWritableDirIsRefused) {
  std::string d = base_ + "/group";
  ASSERT_EQ(::mkdir(d.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(d.c_str(), 0770), 0);
  auto st = ensure_data_dir(d);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().find("0770"), std::string::npos) << st.error();
  EXPECT_EQ(lstat_of(d).st_mode & 07777, 0770u);
}

TEST_F(DataDirTest, ADirOfAnotherUserIsRefused) {
  REQUIRE_ROOT();
  std::string d = base_ + "/theirs";
  ASSERT_EQ(::mkdir(d.c_str(), 0700), 0);
  ASSERT_EQ(::chown(d.c_str(), kOtherUid, kOtherUid), 0);
  auto st = ensure_data_dir(d);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.code(), Errc::kFailed);
  EXPECT_NE(st.error().find(d), std::string::npos) << st.error();
  EXPECT_NE(st.error().find("uid 65534"), std::string::npos) << st.error();
  EXPECT_NE(st.error().find("chown"), std::string::npos) << st.error();
  struct stat after = lstat_of(d);
  EXPECT_EQ(after.st_uid, kOtherUid);
  EXPECT_EQ(after.st_mode & 07777, 0700u);
}

TEST_F(DataDirTest, ASymlinkOfAnotherUserAsTheDirIsRefused) {
  REQUIRE_ROOT();
  std::string real = good_dir("real");
  std::string link = base_ + "/link";
  ASSERT_EQ(::symlink(real.c_str(), link.c_str()), 0);
  EXPECT_TRUE(ensure_data_dir(link));  // our own symlink to our own dir
  ASSERT_EQ(::lchown(link.c_str(), kOtherUid, kOtherUid), 0);
  auto st = ensure_data_dir(link);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().find("symlink"), std::string::npos) << st.error();
}

TEST_F(DataDirTest, APlantedTokenOfAnotherUserIsRefused) {
  REQUIRE_ROOT();
  std::string d = good_dir();
  std::string tok = d + "/admin.token";
  write(tok, "scope_planted\n", 0600);
  ASSERT_EQ(::chown(tok.c_str(), kOtherUid, kOtherUid), 0);
  auto t = load_or_create_admin_token(d);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.code(), Errc::kFailed);
  EXPECT_NE(t.error().find(tok), std::string::npos) << t.error();
  EXPECT_NE(t.error().find("uid 65534"), std::string::npos) << t.error();
  EXPECT_EQ(read(tok), "scope_planted\n");
  EXPECT_FALSE(read_admin_token(d));
}

TEST_F(DataDirTest, ATokenOthersCanReadIsRefused) {
  std::string d = good_dir();
  std::string tok = d + "/admin.token";
  write(tok, "scope_leaky\n", 0644);
  auto t = load_or_create_admin_token(d);
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().find("0644"), std::string::npos) << t.error();
  EXPECT_NE(t.error().find("chmod 600"), std::string::npos) << t.error();
  EXPECT_EQ(lstat_of(tok).st_mode & 07777, 0644u);
  write(tok, "scope_group\n", 0640);
  EXPECT_FALSE(load_or_create_admin_token(d));
}

TEST_F(DataDirTest, ATokenThatIsASymlinkIsRefusedAndItsTargetUntouched) {
  std::string d = good_dir();
  std::string v = victim();
  ASSERT_EQ(::symlink(v.c_str(), (d + "/admin.token").c_str()), 0);
  auto t = load_or_create_admin_token(d);
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().find("symlink"), std::string::npos) << t.error();
  EXPECT_EQ(read(v), "precious\n");
  EXPECT_EQ(lstat_of(v).st_mode & 07777, 0600u);
}

TEST_F(DataDirTest, ADanglingTokenSymlinkIsNotCreatedThrough) {
  std::string d = good_dir();
  std::string target = base_ + "/created-through-link";
  ASSERT_EQ(::symlink(target.c_str(), (d + "/admin.token").c_str()), 0);
  EXPECT_FALSE(load_or_create_admin_token(d));
  EXPECT_FALSE(std::filesystem::exists(target));
}

TEST_F(DataDirTest, AFifoAsTheTokenIsRefusedWithoutHanging) {
  std::string d = good_dir();
  ASSERT_EQ(::mkfifo((d + "/admin.token").c_str(), 0600), 0);
  auto t = load_or_create_admin_token(d);
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().find("not a regular file"), std::string::npos) << t.error();
}

TEST_F(DataDirTest, TheEndpointReplacesASymlinkInsteadOfWritingThroughIt) {
  std::string d = good_dir();
  std::string v = victim();
  std::string ep = d + "/endpoint.json";
  ASSERT_EQ(::symlink(v.c_str(), ep.c_str()), 0);
  // The fixed temp name of earlier versions, and the next unique ones of this process.
  ASSERT_EQ(::symlink(v.c_str(), (ep + ".tmp").c_str()), 0);
  for (int i = 0; i < 8; ++i) {
    std::string tmp = ep + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(i);
    EXPECT_EQ(::symlink(v.c_str(), tmp.c_str()), 0);
  }
  EXPECT_FALSE(read_endpoint(d)) << "a symlinked endpoint was read";
  auto st = write_endpoint(d, "http://127.0.0.1:1234");
  ASSERT_TRUE(st) << st.error();
  EXPECT_EQ(read(v), "precious\n");
  struct stat es = lstat_of(ep);
  EXPECT_TRUE(S_ISREG(es.st_mode));
  EXPECT_EQ(es.st_mode & 07777, 0600u);
  auto url = read_endpoint(d);
  ASSERT_TRUE(url) << url.error();
  EXPECT_EQ(*url, "http://127.0.0.1:1234");
}

TEST_F(DataDirTest, AnEndpointOfAnotherUserIsNotBelieved) {
  REQUIRE_ROOT();
  std::string d = good_dir();
  std::string ep = d + "/endpoint.json";
  write(ep, R"({"url":"http://evil.example:80"})", 0644);
  ASSERT_EQ(::chown(ep.c_str(), kOtherUid, kOtherUid), 0);
  auto url = read_endpoint(d);
  ASSERT_FALSE(url);
  EXPECT_NE(url.error().find("uid 65534"), std::string::npos) << url.error();
}

TEST_F(DataDirTest, ReplaceFileNeverOpensAnExistingPath) {
  std::string d = good_dir();
  std::string v = victim();
  std::string p = d + "/state";
  ASSERT_EQ(::symlink(v.c_str(), p.c_str()), 0);
  ASSERT_TRUE(replace_file(p, "new\n"));
  EXPECT_EQ(read(v), "precious\n");
  EXPECT_EQ(read(p), "new\n");
  EXPECT_EQ(lstat_of(p).st_mode & 07777, 0600u);
  // No temp file left behind.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(d)) files += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 1);
  EXPECT_FALSE(create_private_file(p)) << "O_EXCL";
}

TEST_F(DataDirTest, TheSequenceFileIsNotFollowedNorWrittenThroughItsTempName) {
  std::string d = good_dir();
  std::string v = victim();
  ASSERT_EQ(::symlink(v.c_str(), (d + "/agent.seq.tmp").c_str()), 0);
  {
    auto seq = agent::SequenceAllocator::open(d + "/agent.seq", 16);
    ASSERT_TRUE(seq) << seq.error();
    EXPECT_EQ(*seq->take(4), 0u);
  }
  EXPECT_EQ(read(v), "precious\n");
  EXPECT_EQ(read(d + "/agent.seq"), "16\n");
  EXPECT_EQ(lstat_of(d + "/agent.seq").st_mode & 07777, 0600u);
  {
    auto seq = agent::SequenceAllocator::open(d + "/agent.seq", 16);
    ASSERT_TRUE(seq) << seq.error();
    EXPECT_EQ(*seq->take(1), 16u);  // continues after what was reserved
  }
  std::filesystem::remove(d + "/agent.seq");
  ASSERT_EQ(::symlink(v.c_str(), (d + "/agent.seq").c_str()), 0);
  auto seq = agent::SequenceAllocator::open(d + "/agent.seq", 16);
  EXPECT_FALSE(seq) << "a symlinked state file was read";
  EXPECT_EQ(read(v), "precious\n");
}

TEST_F(DataDirTest, TheSpoolRefusesAnOpenDirAndDoesNotFollowItsHeadTemp) {
  std::string open_dir = base_ + "/spool-open";
  ASSERT_EQ(::mkdir(open_dir.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(open_dir.c_str(), 0777), 0);
  auto refused = agent::Spool::open({open_dir, 1 << 20});
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("0777"), std::string::npos) << refused.error();
  EXPECT_EQ(lstat_of(open_dir).st_mode & 07777, 0777u);

  std::string d = good_dir();
  std::string sd = d + "/spool";
  std::string v = victim();
  ASSERT_EQ(::mkdir(sd.c_str(), 0700), 0);
  ASSERT_EQ(::symlink(v.c_str(), (sd + "/head.tmp").c_str()), 0);
  {
    auto spool = agent::Spool::open({sd, 1 << 20});
    ASSERT_TRUE(spool) << spool.error();
    ASSERT_TRUE((*spool)->append("batch", 1));
    auto rec = (*spool)->peek();
    ASSERT_TRUE(rec && rec->has_value());
    ASSERT_TRUE((*spool)->pop());
  }
  EXPECT_EQ(read(v), "precious\n");
  EXPECT_TRUE(S_ISREG(lstat_of(sd + "/head").st_mode));
  EXPECT_EQ(lstat_of(sd + "/head").st_mode & 07777, 0600u);
}

}  // namespace
}  // namespace scope
