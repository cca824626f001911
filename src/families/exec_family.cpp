// Placeholder until the exec family lands.
#include "families/probe_family.h"

namespace scope::families {

std::unique_ptr<ProbeFamily> make_exec_family() { return nullptr; }

}  // namespace scope::families
