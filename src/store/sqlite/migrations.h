// The embedded store's schema migrations (literal SQL per version).
#pragma once

#include <string_view>
#include <vector>

namespace scope::store {

// Step i brings a database from version i to i + 1.
const std::vector<std::string_view>& sqlite_migrations();

}  // namespace scope::store
