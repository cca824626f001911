// Routes libbpf's messages into scope's log (spdlog): its warnings become
// debug lines, since scope reports what matters itself, in one clear line.
#pragma once

namespace scope::probe {

void route_libbpf_logs();

}  // namespace scope::probe
