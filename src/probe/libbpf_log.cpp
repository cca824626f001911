#include "probe/libbpf_log.h"

#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <string_view>

namespace scope::probe {

namespace {

int libbpf_to_spdlog(enum libbpf_print_level level, const char* format, va_list args) {
  char buf[1024];
  int n = vsnprintf(buf, sizeof(buf), format, args);
  std::string_view msg(buf, n > 0 ? std::min<size_t>(n, sizeof(buf) - 1) : 0);
  while (!msg.empty() && msg.back() == '\n') msg.remove_suffix(1);
  if (level == LIBBPF_WARN)
    spdlog::debug("libbpf: {}", msg);  // the agent reports what matters itself
  else
    spdlog::trace("libbpf: {}", msg);
  return n;
}

}  // namespace

void route_libbpf_logs() { libbpf_set_print(libbpf_to_spdlog); }

}  // namespace scope::probe
