// Itanium C++ ABI demangling.
#pragma once

#include <string>
#include <string_view>

namespace scope::discover {

// Demangles an Itanium-mangled name ("_Z..."). Returns the input unchanged when it is not
// mangled or cannot be demangled. Never throws.
std::string demangle(std::string_view name);

}  // namespace scope::discover
