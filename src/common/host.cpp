#include "common/host.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace scope {

std::string read_boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  if (in && std::getline(in, id) && !id.empty()) return id;
  return "unknown";
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "localhost";
  return buf;
}

namespace {

std::string trimmed(std::string s) {
  s.erase(0, s.find_first_not_of(" \t"));
  s.erase(s.find_last_not_of(" \t\r") + 1);
  return s;
}

// "Model:  NVIDIA H100 80GB HBM3" lines → {model: ...}; the keys scope reports only.
std::map<std::string, std::string> gpu_information(const std::filesystem::path& file) {
  static const std::pair<const char*, const char*> kKeys[] = {
      {"Model", "model"}, {"Bus Location", "bus"}, {"GPU UUID", "uuid"}};
  std::map<std::string, std::string> gpu;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = trimmed(line.substr(0, colon));
    for (const auto& [driver, ours] : kKeys)
      if (key == driver) gpu[ours] = trimmed(line.substr(colon + 1)).substr(0, 128);
  }
  return gpu;
}

}  // namespace

HostFacts read_host_facts(const std::string& proc) {
  HostFacts f;
#ifdef SCOPE_VERSION
  f.scope_version = SCOPE_VERSION;
#endif
  utsname u{};
  if (uname(&u) == 0) f.kernel = u.release;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  f.cpus = cpus > 0 ? static_cast<uint32_t>(cpus) : 0;
  std::ifstream meminfo(proc + "/meminfo");
  std::string line;
  while (std::getline(meminfo, line))
    if (line.rfind("MemTotal:", 0) == 0) {
      f.memory_bytes = std::strtoull(line.c_str() + 9, nullptr, 10) * 1024;
      break;
    }
  std::error_code ec;
  std::vector<std::filesystem::path> dirs;
  for (const auto& d : std::filesystem::directory_iterator(proc + "/driver/nvidia/gpus", ec))
    dirs.push_back(d.path());
  std::sort(dirs.begin(), dirs.end());
  for (const auto& d : dirs) {
    auto gpu = gpu_information(d / "information");
    if (!gpu.empty()) f.gpus.push_back(std::move(gpu));
  }
  return f;
}

}  // namespace scope
