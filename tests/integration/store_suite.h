// The store test suite: every Store implementation runs the same tests.
// A store joins by adding a factory to store_factories() (store_suite_test.cpp).
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "store/store.h"

namespace scope::store::testing {

struct StoreFactory {
  std::string name;
  // A fresh, empty store; "" in `skip_reason` when it can run here.
  std::function<Result<std::unique_ptr<Store>>()> make;
  std::function<std::string()> skip_reason;
};

// Test names and ctest lines show the store's name, not the factory's bytes.
inline void PrintTo(const StoreFactory& f, std::ostream* os) { *os << f.name; }

}  // namespace scope::store::testing
