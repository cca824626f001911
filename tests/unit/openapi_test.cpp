// docs/api/openapi.json against what scope serves: every route `scope up` and `scope server`
// register (through cli::serve_api) is documented with the same access, every documented
// operation is served, and every reference in the document resolves.
#include "http/openapi.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "auth/accounts.h"
#include "auth/nodes.h"
#include "cli/http_flags.h"
#include "server/live.h"
#include "store/sqlite/sqlite_store.h"

namespace scope {
namespace {

nlohmann::json document() {
  auto doc = nlohmann::json::parse(http::openapi_document(), nullptr, false);
  EXPECT_TRUE(doc.is_object()) << "docs/api/openapi.json is not JSON";
  return doc;
}

// Every "$ref" below `j`, with where it stands.
void collect_refs(const nlohmann::json& j, const std::string& at,
                  std::vector<std::pair<std::string, std::string>>* out) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      if (k == "$ref" && v.is_string()) out->emplace_back(at, v.get<std::string>());
      collect_refs(v, at + "/" + k, out);
    }
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) collect_refs(j[i], at + "/" + std::to_string(i), out);
  }
}

TEST(OpenApi, TheDocumentIsOpenApi31AndEveryReferenceResolves) {
  auto doc = document();
  ASSERT_TRUE(doc.is_object());
  EXPECT_EQ(doc["openapi"], "3.1.0");
  std::vector<std::pair<std::string, std::string>> refs;
  collect_refs(doc, "", &refs);
  EXPECT_GT(refs.size(), 20u);
  for (const auto& [at, ref] : refs) {
    ASSERT_EQ(ref.rfind("#/", 0), 0u) << at << ": only local references: " << ref;
    EXPECT_TRUE(doc.contains(nlohmann::json::json_pointer(ref.substr(1))))
        << at << ": " << ref << " does not resolve";
  }
}

class OpenApiRoutes : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string d = std::filesystem::temp_directory_path() / "scope-openapi-XXXXXX";
    dir_ = mkdtemp(d.data());
    auto store = store::SqliteStore::open({dir_ + "/scope.db"});
    ASSERT_TRUE(store) << store.error();
    store_ = std::move(*store);
    auto db = auth::open_sqlite_auth_db(dir_ + "/auth.db");
    ASSERT_TRUE(db) << db.error();
    db_ = std::move(*db);
    auto accounts = auth::Accounts::open(*db_, auth::revoked_tokens_in_db(*db_), {}, nullptr);
    ASSERT_TRUE(accounts) << accounts.error();
    accounts_ = std::move(*accounts);
    nodes_ = std::make_unique<auth::Nodes>(*db_, *accounts_);
    registry_ = std::make_unique<server::NodeRegistry>(*db_);
    fleet_ = std::make_unique<server::Fleet>(*registry_, server::FleetOptions{});
    // scope server's set; scope up's is the same without the nodes.
    cli::serve_api({.health = {"server", nullptr, nullptr},
                    .store = store_.get(),
                    .accounts = accounts_.get(),
                    .admin_token = "scope_test",
                    .nodes = nodes_.get(),
                    .fleet = fleet_.get(),
                    .live = &live_},
                   router_, options_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<auth::AuthDb> db_;
  std::unique_ptr<auth::Accounts> accounts_;
  std::unique_ptr<auth::Nodes> nodes_;
  std::unique_ptr<server::NodeRegistry> registry_;
  std::unique_ptr<server::Fleet> fleet_;
  server::LiveHub live_;
  http::Router router_;
  http::ServerOptions options_;
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Whether an operation may be called without credentials: `security` is [] or holds {}.
bool documented_public(const nlohmann::json& op) {
  auto it = op.find("security");
  if (it == op.end()) return false;
  if (it->empty()) return true;
  for (const auto& s : *it)
    if (s.empty()) return true;
  return false;
}

TEST_F(OpenApiRoutes, EveryServedRouteIsDocumentedWithItsAccessAndNothingElseIs) {
  auto doc = document();
  ASSERT_TRUE(doc.is_object());
  const auto& paths = doc["paths"];
  std::set<std::pair<std::string, std::string>> served;
  for (const auto& route : router_.routes()) {
    std::string method = lower(route.method);
    served.emplace(route.pattern, method);
    if (!paths.contains(route.pattern) || !paths[route.pattern].contains(method)) {
      ADD_FAILURE() << route.method << " " << route.pattern
                    << " is served but not documented in docs/api/openapi.json";
      continue;
    }
    const auto& op = paths[route.pattern][method];
    EXPECT_TRUE(op.contains("summary")) << route.pattern;
    EXPECT_TRUE(op.contains("responses") && !op["responses"].empty()) << route.pattern;
    EXPECT_EQ(documented_public(op), route.access == http::Access::kPublic)
        << route.method << " " << route.pattern << ": the document says it "
        << (documented_public(op) ? "needs no" : "needs") << " credentials";
    // Every {parameter} of the path is declared.
    for (const auto& seg : route.segments) {
      if (seg.size() < 3 || seg.front() != '{') continue;
      std::string name = seg.substr(1, seg.size() - 2);
      bool declared = false;
      for (const auto& p : op.value("parameters", nlohmann::json::array())) {
        const auto& param =
            p.contains("$ref")
                ? doc.at(nlohmann::json::json_pointer(p["$ref"].get<std::string>().substr(1)))
                : p;
        if (param.value("in", "") == "path" && param.value("name", "") == name) declared = true;
      }
      EXPECT_TRUE(declared) << route.pattern << ": path parameter " << name << " not declared";
    }
  }
  for (const auto& [path, item] : paths.items())
    for (const auto& [method, op] : item.items())
      EXPECT_TRUE(served.count({path, method}))
          << method << " " << path << " is documented but no command serves it";
}

}  // namespace
}  // namespace scope
