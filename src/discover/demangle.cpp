#include "discover/demangle.h"

#include <cxxabi.h>

#include <cstdlib>

namespace scope::discover {

std::string demangle(std::string_view name) {
  if (name.size() < 2 || name[0] != '_' || name[1] != 'Z') return std::string(name);
  try {
    std::string owned(name);
    int status = 0;
    char* out = abi::__cxa_demangle(owned.c_str(), nullptr, nullptr, &status);
    if (status != 0 || out == nullptr) {
      std::free(out);
      return owned;
    }
    std::string result(out);
    std::free(out);
    return result;
  } catch (...) {
    return std::string(name);
  }
}

}  // namespace scope::discover
