#include "cli/session_flags.h"

#include <cstdio>

#include "common/strings.h"
#include "families/registry.h"

namespace scope::cli {

void add_session_flags(CLI::App* cmd, SessionFlags& f) {
  cmd->add_option("--probes", f.probes,
                  "Comma list of probe families: " + join(families::known_families(), ","))
      ->envname("SCOPE_PROBES")
      ->capture_default_str();
  cmd->add_option("-c,--comm", f.comm,
                  "Only processes with this name (comm), running now or started later")
      ->envname("SCOPE_COMM");
  cmd->add_option("--cgroup", f.cgroup,
                  "Only processes in this cgroup (its cgroup v2 path, e.g. "
                  "/system.slice/ollama.service)")
      ->envname("SCOPE_CGROUP");
  cmd->add_flag("--open-skip-pseudo", f.open_skip_pseudo,
                "open family: leave out paths under /proc and /sys (counted, not silently)")
      ->envname("SCOPE_OPEN_SKIP_PSEUDO");
  cmd->add_flag("--no-redact-args", f.no_redact_args,
                "exec: keep credentials in argv and cmdlines as they are. By default passwords, "
                "tokens and keys (--password/--token/--api-key/... values, PASSWORD=/TOKEN=/"
                "SECRET= variables, Authorization headers, URL passwords, mysql -p, AWS key ids) "
                "become *** before events are printed, stored or shipped")
      ->envname("SCOPE_NO_REDACT_ARGS");
  cmd->add_option("--ring-buffer-mb", f.ring_mb, "Size of the cuda family's ring buffer in MiB")
      ->envname("SCOPE_RING_BUFFER_MB")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--wakeup-bytes", f.wakeup_bytes,
                  "Wake the reader once this many bytes are pending (it also polls every 5 ms)")
      ->envname("SCOPE_WAKEUP_BYTES")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 30))
      ->group("");
}

Result<std::set<std::string>> probe_set(const SessionFlags& f) {
  return families::parse_probe_list(f.probes);
}

Result<session::SessionOptions> session_options(const SessionFlags& f) {
  session::SessionOptions o;
  if (f.comm.size() > 15)
    return make_error(Errc::kBadInput,
                      "--comm '" + f.comm + "' is longer than the kernel's 15-character comm");
  o.filter.comm = f.comm;
  if (!f.cgroup.empty()) {
    auto id = probe::cgroup_id_of(f.cgroup);
    if (!id) return make_error(Errc::kBadInput, id.error());  // a flag naming nothing
    o.filter.cgroup_id = *id;
  }
  o.family.open_skip_pseudo = f.open_skip_pseudo;
  o.family.ring_bytes = f.ring_mb << 20;
  o.family.wakeup_bytes = f.wakeup_bytes;
  o.family.redact_args = !f.no_redact_args;
  return o;
}

int report(const Error& error, const char* who) {
  // What the host lacks is named by its code too, for scripts: "... [kernel_too_old]".
  bool host = error.code == Errc::kNotRoot || error.code == Errc::kKernelTooOld;
  std::fprintf(stderr, "%s: %s%s%s%s\n", who, error.message.c_str(), host ? " [" : "",
               host ? std::string(errc_name(error.code)).c_str() : "", host ? "]" : "");
  switch (error.code) {
    case Errc::kBadInput:
      return 2;
    default:
      return 1;
  }
}

}  // namespace scope::cli
