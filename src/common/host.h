// Who this host is: its name (a node's default name) and boot id (part of a batch's identity).
#pragma once

#include <string>

namespace scope {

// /proc/sys/kernel/random/boot_id, or "unknown".
std::string read_boot_id();
// The host name, or "localhost".
std::string host_name();

}  // namespace scope
