// GPU times: scope's CUPTI injection library (src/inject/, libscope_cupti.so), which a CUDA
// program loads when CUDA_INJECTION64_PATH names it. `scope trace -- COMMAND` sets the variable
// for the command; a service sets it itself (docs/gpu-times.md).
#pragma once

#include <optional>
#include <string>

namespace scope::session {

// The library: $SCOPE_CUPTI_INJECTION, else beside the scope binary (the build tree, a bundle),
// else where `cmake --install` puts it (lib/scope, lib/<multiarch>/scope beside bin/).
std::optional<std::string> find_gpu_injection_library();

// Sets CUDA_INJECTION64_PATH in scope's environment (which a command it starts inherits) unless
// it is set already; the path set, or nullopt (no library found, or the user's own kept).
std::optional<std::string> offer_gpu_injection();

}  // namespace scope::session
