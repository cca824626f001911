#include "discover/ld_search.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace scope::discover {
namespace {

TEST(LdSearch, SplitAndEnv) {
  EXPECT_EQ(split_search_path("/a::/b;/c:"), (std::vector<std::string>{"/a", "/b", "/c"}));
  auto env = SearchEnv::from_environ(
      {"PATH=/usr/bin", "LD_LIBRARY_PATH=/opt/x/lib:/opt/y", "XLD_LIBRARY_PATH=/nope"});
  EXPECT_EQ(env.ld_library_path, (std::vector<std::string>{"/opt/x/lib", "/opt/y"}));
  EXPECT_TRUE(SearchEnv::from_environ({}).ld_library_path.empty());
}

TEST(LdSearch, ExpandOrigin) {
  EXPECT_EQ(expand_origin("$ORIGIN/../lib", "/opt/app/bin"), "/opt/app/bin/../lib");
  EXPECT_EQ(expand_origin("${ORIGIN}/lib:$ORIGIN", "/o"), "/o/lib:/o");
  EXPECT_EQ(expand_origin("/usr/lib", "/o"), "/usr/lib");
  EXPECT_EQ(expand_origin("$ORIGINAL/x", "/o"), "$ORIGINAL/x");
}

TEST(LdSearch, ResolvesLibc) {
  auto p = resolve_library("libc.so.6", nullptr, "", SearchEnv{});
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->front(), '/');
  EXPECT_NE(p->find("libc"), std::string::npos);
  EXPECT_FALSE(resolve_library("libdefinitely_not_a_library.so.77", nullptr, "", SearchEnv{}));
  auto abs = resolve_library(*p, nullptr, "", SearchEnv{});
  ASSERT_TRUE(abs.has_value());
  EXPECT_EQ(*abs, *p);
}

TEST(LdSearch, LdCache) {
  auto paths = ld_cache_paths("libc.so.6");
  if (paths.empty()) GTEST_SKIP() << "no ldconfig or empty ld.so.cache";
  EXPECT_EQ(paths.front().front(), '/');
  EXPECT_TRUE(ld_cache_paths("libdefinitely_not_a_library.so.77").empty());
}

TEST(LdSearch, LdLibraryPathComesFirst) {
  auto libc = resolve_library("libc.so.6", nullptr, "", SearchEnv{});
  ASSERT_TRUE(libc.has_value());
  std::string dir = libc->substr(0, libc->rfind('/'));
  SearchEnv env{{"/nonexistent", dir}};
  auto p = resolve_library("libc.so.6", nullptr, "", env);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(*p, *libc);
}

TEST(LdSearch, NeededClosureOfSelf) {
  auto closure = needed_closure("/proc/self/exe", SearchEnv{});
  ASSERT_GE(closure.size(), 2u);
  bool has_libc = std::any_of(closure.begin(), closure.end(), [](const std::string& p) {
    return p.find("/libc.so") != std::string::npos || p.find("/libc-") != std::string::npos;
  });
  EXPECT_TRUE(has_libc);
  std::vector<std::string> sorted = closure;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end());
  EXPECT_TRUE(needed_closure("/nonexistent/exe", SearchEnv{}).empty());
}

TEST(LdSearch, ResolveCommand) {
  auto sh = resolve_command("sh", "/usr/bin:/bin");
  ASSERT_TRUE(sh.has_value());
  EXPECT_TRUE(*sh == "/usr/bin/sh" || *sh == "/bin/sh") << *sh;
  EXPECT_FALSE(resolve_command("no-such-command-xyz", "/usr/bin:/bin").has_value());
  EXPECT_EQ(resolve_command("/bin/sh", ""), std::optional<std::string>("/bin/sh"));
  EXPECT_FALSE(resolve_command("/etc/passwd", "").has_value());  // not executable
  EXPECT_FALSE(resolve_command("", "/usr/bin").has_value());
}

}  // namespace
}  // namespace scope::discover
