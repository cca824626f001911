// systemd credentials ($CREDENTIALS_DIRECTORY/NAME) as the fallback of the secret flags.
#include "cli/credentials.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace scope::cli {
namespace {

class Credentials : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / "scope-cred-XXXXXX";
    ASSERT_TRUE(mkdtemp(dir_.data()));
    setenv("CREDENTIALS_DIRECTORY", dir_.c_str(), 1);
  }
  void TearDown() override {
    unsetenv("CREDENTIALS_DIRECTORY");
    std::filesystem::remove_all(dir_);
  }
  void put(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }
  std::string dir_;
};

TEST_F(Credentials, AFlagOrVariableWinsOverTheCredential) {
  put("redis", "redis://:secret@10.0.0.1:6379\n");
  std::string value = "redis://127.0.0.1:6379";
  ASSERT_TRUE(flag_or_credential(value, "--redis", "SCOPE_REDIS", "redis", true));
  EXPECT_EQ(value, "redis://127.0.0.1:6379");
}

TEST_F(Credentials, TheCredentialFillsAnEmptyFlagWithoutItsNewline) {
  put("redis", "redis://:secret@10.0.0.1:6379\n");
  std::string value;
  ASSERT_TRUE(flag_or_credential(value, "--redis", "SCOPE_REDIS", "redis", true));
  EXPECT_EQ(value, "redis://:secret@10.0.0.1:6379");
}

TEST_F(Credentials, MissingIsAnErrorOnlyWhenRequiredAndSaysWhereToPutIt) {
  std::string value;
  ASSERT_TRUE(flag_or_credential(value, "--enroll", "SCOPE_ENROLL_TOKEN", "enroll-token", false));
  EXPECT_EQ(value, "");
  auto st = flag_or_credential(value, "--postgres", "SCOPE_POSTGRES", "postgres", true);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error(),
            "--postgres is required (or SCOPE_POSTGRES, or the systemd credential postgres)");
  unsetenv("CREDENTIALS_DIRECTORY");
  EXPECT_FALSE(flag_or_credential(value, "--postgres", "SCOPE_POSTGRES", "postgres", true));
}

TEST_F(Credentials, AnEmptyOrHugeCredentialIsRefused) {
  put("redis", "\n\n");
  auto empty = systemd_credential("redis");
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().find(": empty"), std::string::npos);
  put("redis", std::string(65 << 10, 'x'));
  auto huge = systemd_credential("redis");
  ASSERT_FALSE(huge);
  EXPECT_NE(huge.error().find("over 64 KiB"), std::string::npos);
}

}  // namespace
}  // namespace scope::cli
