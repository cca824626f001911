// The store test suite: every Store implementation runs the same tests.
// A store joins by adding a factory to store_factories() (store_suite_test.cpp).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "store/store.h"

namespace scope::store::testing {

struct StoreFactory {
  std::string name;
  // A fresh, empty store; "" in `skip_reason` when it can run here.
  std::function<Result<std::unique_ptr<Store>>()> make;
  std::function<std::string()> skip_reason;
};

}  // namespace scope::store::testing
