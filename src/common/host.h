// Who this host is: its name (a node's default name), boot id (part of a batch's identity), and
// what a node reports about itself in its heartbeat (kernel, CPUs, memory, GPUs).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace scope {

// /proc/sys/kernel/random/boot_id, or "unknown".
std::string read_boot_id();
// The host name, or "localhost".
std::string host_name();

struct HostFacts {
  std::string scope_version;  // this build's
  std::string kernel;         // uname -r
  uint32_t cpus = 0;          // online
  uint64_t memory_bytes = 0;  // MemTotal
  // One per NVIDIA GPU the driver lists (/proc/driver/nvidia/gpus/*/information): model, bus,
  // uuid as the driver words them.
  std::vector<std::map<std::string, std::string>> gpus;
};
// `proc`: where procfs is (tests give a directory of their own).
HostFacts read_host_facts(const std::string& proc = "/proc");

}  // namespace scope
