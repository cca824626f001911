#include "cli/trace_command.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "agent/cuda_accounting.h"
#include "agent/cuda_tracer.h"
#include "cli/cuda_output.h"
#include "cli/line_reorder.h"
#include "common/stop_signal.h"
#include "discover/ld_search.h"
#include "discover/proc_maps.h"
#include "families/probe_family.h"
#include "probe/cuda_probe.h"
#include "probe/ring_poller.h"
#include "probe/target_filter.h"

extern char** environ;

namespace scope::cli {

namespace {

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

// The child side of `-- COMMAND`: wait for the go-ahead, then exec. An exec
// failure is reported back through `err_fd` (closed on a successful exec).
[[noreturn]] void exec_child(int gate_fd, int err_fd, const std::string& path,
                             const std::vector<std::string>& command) {
  char go = 0;
  if (read(gate_fd, &go, 1) != 1) _exit(127);
  restore_inherited_signals();
  std::vector<char*> argv;
  for (const auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execv(path.c_str(), argv.data());
  int err = errno;
  ssize_t ignored = write(err_fd, &err, sizeof(err));
  (void)ignored;
  _exit(127);
}

int exit_status_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

CLI::App* add_trace_command(CLI::App& app, TraceOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "trace",
      "Run COMMAND (or attach to --pid / --comm / --cgroup, or every process) and print what "
      "it does live: CUDA kernel launches with names and shapes, device memory and leaks, "
      "copies and synchronisation (cuda), and with --probes also execs and exits, file opens, "
      "syscalls, scheduling and TCP connections. Ends with a summary.");
  cmd->add_option("--probes", o.probes,
                  "Comma list of probe families: cuda,ggml,llama,exec,open,sched,syscalls,net "
                  "(this build: " +
                      join(families::built_families(), ",") + ")")
      ->envname("SCOPE_PROBES")
      ->capture_default_str();
  auto* pid = cmd->add_option("-p,--pid", o.pid, "Attach to this running process")
                  ->envname("SCOPE_PID")
                  ->check(CLI::PositiveNumber);
  auto* comm =
      cmd->add_option("-c,--comm", o.comm,
                      "Trace processes with this name (comm), running now or started later")
          ->envname("SCOPE_COMM");
  pid->excludes(comm);
  cmd->add_option(
         "--cgroup", o.cgroup,
         "Trace processes in this cgroup (its cgroup v2 path, e.g. /system.slice/ollama.service)")
      ->envname("SCOPE_CGROUP");
  cmd->add_flag("--open-skip-pseudo", o.open_skip_pseudo,
                "open family: leave out paths under /proc and /sys (counted, not silently)")
      ->envname("SCOPE_OPEN_SKIP_PSEUDO");
  cmd->add_flag("--json", o.json, "One JSON object per line on stdout; the last is the summary")
      ->envname("SCOPE_JSON");
  cmd->add_flag("-q,--quiet", o.quiet, "Print only the summary, not each event")
      ->envname("SCOPE_QUIET");
  cmd->add_option("-d,--duration", o.duration_s, "Stop after this many seconds")
      ->envname("SCOPE_DURATION")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--ring-buffer-mb", o.ring_mb,
                  "Size of the cuda family's kernel ring buffer in MiB")
      ->envname("SCOPE_RING_BUFFER_MB")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--wakeup-bytes", o.wakeup_bytes,
                  "Wake the reader once this many bytes are pending (it also polls every 5 ms)")
      ->envname("SCOPE_WAKEUP_BYTES")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 30))
      ->group("");
  cmd->add_option("--test-reader-stall-ms", o.reader_stall_ms,
                  "Test hook: leave the ring buffer unread this long")
      ->envname("SCOPE_TEST_READER_STALL_MS")
      ->group("");
  cmd->footer(
      "-- COMMAND [ARGS...]  run COMMAND with every probe attached before its first\n"
      "                      instruction; its children are followed.\n"
      "Examples:\n"
      "  scope trace -- python train.py        run and trace a command (and its children)\n"
      "  scope trace --pid 4242 --duration 10  attach to a running process for 10 s\n"
      "  scope trace --comm ollama --json      every process named ollama, as JSON lines\n"
      "Exit status: COMMAND's, or 0 (1 on an error, 2 on bad usage).");
  return cmd;
}

int run_trace(const TraceOptions& o) {
  bool explicit_probes = o.probes != families::kDefaultProbes;
  auto families_r = families::parse_probe_list(o.probes, explicit_probes);
  if (!families_r) {
    std::fprintf(stderr, "scope: %s\n", families_r.error().c_str());
    return 2;
  }
  const std::set<std::string>& wanted = *families_r;
  bool cuda = wanted.count("cuda") != 0;
  if (o.pid && !o.command.empty()) {
    std::fprintf(stderr, "scope: --pid and -- COMMAND cannot be used together\n");
    return 2;
  }
  if (!o.comm.empty() && !o.command.empty()) {
    std::fprintf(stderr, "scope: --comm and -- COMMAND cannot be used together\n");
    return 2;
  }
  if (o.comm.size() > 15) {
    std::fprintf(stderr, "scope: --comm '%s' is longer than the kernel's 15-character comm\n",
                 o.comm.c_str());
    return 2;
  }
  uint64_t cgroup_id = 0;
  if (!o.cgroup.empty()) {
    auto id = probe::cgroup_id_of(o.cgroup);
    if (!id) {
      std::fprintf(stderr, "scope: %s\n", id.error().c_str());
      return 2;
    }
    cgroup_id = *id;
  }

  // Validate targets before loading anything.
  std::string command_path;
  if (!o.command.empty()) {
    const char* path_env = getenv("PATH");
    auto resolved = discover::resolve_command(o.command[0], path_env ? path_env : "/usr/bin:/bin");
    if (!resolved) {
      std::fprintf(stderr, "scope: command not found: %s\n", o.command[0].c_str());
      return 127;
    }
    command_path = *resolved;
  }
  if (o.pid && !discover::process_exists(o.pid)) {
    std::fprintf(stderr, "scope: no process with pid %d\n", o.pid);
    return 1;
  }

  CudaAccounting acct;
  std::FILE* out = stdout;
  // Whole lines only, in writes of at most PIPE_BUF bytes: the traced command
  // shares this stdout, and a line split across two writes can be torn by its
  // output (a broken JSON line).
  setvbuf(out, nullptr, _IONBF, 0);
  std::string pending;
  auto flush_pending = [&] {
    size_t done = 0;
    while (done < pending.size()) {
      ssize_t n = write(fileno(out), pending.data() + done, pending.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    pending.clear();
  };
  auto emit_line = [&](const std::string& line) {
    if (!pending.empty() && pending.size() + line.size() + 1 > PIPE_BUF) flush_pending();
    pending += line;
    pending.push_back('\n');
    if (pending.size() >= PIPE_BUF) flush_pending();
  };
  // Lines of all families in their events' time order: held 50 ms (ten polls) before release.
  LineReorder reorder(50'000'000);
  const int64_t mono_to_unix = agent::mono_to_unix_ns();
  auto release_lines = [&] {
    reorder.release(static_cast<uint64_t>(agent::clock_ns(CLOCK_MONOTONIC) + mono_to_unix),
                    emit_line);
  };
  families::EventOutput event_out;
  event_out.json = o.json;
  event_out.quiet = o.quiet;
  event_out.write_line = [&](uint64_t ts_ns, const std::string& line) { reorder.add(ts_ns, line); };
  // Every family's relative times count from here.
  event_out.start_ns = static_cast<uint64_t>(agent::clock_ns(CLOCK_REALTIME));
  pid_t child = 0;

  auto on_event = [&](const CudaEvent& ev) {
    if (!event_out.start_ns) event_out.start_ns = ev.ts_ns;
    acct.add(ev);
    event_out.emit(cuda_event_json(ev), [&] { return format_cuda_line(ev, event_out.start_ns); });
  };
  // Every family but cuda; library families (llama, ggml) are told of the
  // files traced processes map through the cuda tracer's process watch.
  std::vector<std::unique_ptr<families::ProbeFamily>> host;
  auto on_exit = [&](uint32_t pid, int) {
    acct.process_exit(pid);
    for (auto& f : host) f->on_process_exit(pid);
  };

  probe::ensure_tracefs();
  probe::TargetFilterOptions fopts;
  fopts.enabled = o.pid || !o.command.empty();
  fopts.comm = o.comm;
  fopts.cgroup_id = cgroup_id;
  auto filter_r = probe::TargetFilter::open(fopts);
  if (!filter_r) {
    std::fprintf(stderr, "scope: %s\n", filter_r.error().c_str());
    return 1;
  }
  probe::TargetFilter& filter = *filter_r.value();
  if (o.pid) (void)filter.add(o.pid, probe::kTracedOn);

  // Host and library families: one ring-buffer poller for all of them.
  probe::RingPoller poller;
  families::FamilyContext fctx;
  fctx.filter = &filter;
  fctx.mono_to_unix_ns = mono_to_unix;
  // Host events (a lower rate than launches) carry who the process is.
  discover::ProcessInfoCache processes;
  families::EventOutput host_out = event_out;
  host_out.processes = &processes;
  fctx.out = &host_out;
  fctx.options.open_skip_pseudo_fs = o.open_skip_pseudo;
  auto started = families::start_families(wanted, fctx, poller);
  if (!started) {
    std::fprintf(stderr, "scope: %s\n", started.error().c_str());
    return 1;
  }
  host = std::move(started.value());
  std::vector<const families::ProbeFamily*> all_families;
  std::vector<families::ProbeFamily*> library_families;
  bool tracepoint_families = false;
  for (auto& f : host) {
    all_families.push_back(f.get());
    if (f->probes_libraries())
      library_families.push_back(f.get());
    else
      tracepoint_families = true;
  }
  for (auto& f : host) f->see_families(all_families);

  // The cuda tracer: the cuda family, and the process watch (exec, dlopen,
  // exit, the hold of `-- COMMAND`) every family that probes libraries uses.
  std::unique_ptr<agent::CudaTracer> tracer;
  if (cuda || !library_families.empty()) {
    agent::CudaTracerOptions topts;
    topts.filter = &filter;
    topts.ring_bytes = o.ring_mb << 20;
    topts.wakeup_bytes = o.wakeup_bytes;
    topts.cuda = cuda;
    if (!library_families.empty()) {
      topts.on_library = [&library_families](uint32_t pid, const std::string& path) {
        bool any = false;
        for (auto* f : library_families) any |= f->on_library(pid, path);
        return any;
      };
    }
    auto tracer_r = agent::CudaTracer::create(topts, on_event, on_exit);
    if (!tracer_r) {
      std::fprintf(stderr, "scope: %s\n", tracer_r.error().c_str());
      return 1;
    }
    tracer = std::move(tracer_r.value());
  }
  // What the uprobe families look for, for "found nothing" messages.
  std::string looked_for;
  if (cuda) looked_for = "no CUDA library (libcudart, libcuda, or the runtime linked in)";
  for (auto* f : library_families)
    looked_for +=
        std::string(looked_for.empty() ? "" : ", ") + "no " + std::string(f->name()) + " library";
  install_stop_signal_handlers();

  if (tracer) {
    tracer->attach_host_driver();
    if (o.pid) {
      auto n = tracer->scan_process(o.pid);
      if (!n) {
        std::fprintf(stderr, "scope: %s before scope could attach\n", n.error().c_str());
        return 1;
      }
      if (*n == 0 && !tracepoint_families) {
        auto comm = discover::read_comm(o.pid);
        std::fprintf(stderr, "scope: pid %d (%s) maps %s: nothing to trace\n", o.pid,
                     comm ? comm->c_str() : "?", looked_for.c_str());
        return 1;
      }
    } else if (o.command.empty()) {
      tracer->scan_all_processes();
    }
  }

  if (!o.command.empty()) {
    int gate[2], err[2];
    if (pipe2(gate, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
      std::fprintf(stderr, "scope: pipe: %s\n", std::strerror(errno));
      return 1;
    }
    std::fflush(nullptr);
    child = fork();
    if (child < 0) {
      std::fprintf(stderr, "scope: fork: %s\n", std::strerror(errno));
      return 1;
    }
    if (child == 0) {
      close(gate[1]);
      close(err[0]);
      exec_child(gate[0], err[1], command_path, o.command);
    }
    close(gate[0]);
    close(err[1]);
    // With uprobes to place, hold the child at exec and at each dlopen until
    // its libraries are attached; tracepoint families need no holding.
    uint32_t flags = probe::kTracedOn | (tracer ? probe::kTracedHold : 0);
    if (auto st = filter.add(child, flags); !st) {
      std::fprintf(stderr, "scope: %s\n", st.error().c_str());
      kill(child, SIGKILL);
      return 1;
    }
    if (tracer) {
      std::vector<std::string> env;
      for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
      (void)tracer->prepare_command(command_path, env);
    }
    char go = 1;
    if (write(gate[1], &go, 1) != 1) {
      std::fprintf(stderr, "scope: cannot start the command\n");
      kill(child, SIGKILL);
      return 1;
    }
    close(gate[1]);
    int exec_errno = 0;
    if (read(err[0], &exec_errno, sizeof(exec_errno)) == sizeof(exec_errno)) {
      waitpid(child, nullptr, 0);
      std::fprintf(stderr, "scope: cannot execute %s: %s\n", command_path.c_str(),
                   std::strerror(exec_errno));
      return 126;
    }
    close(err[0]);
  }

  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(o.duration_s * 1000));
  auto next_tick = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  int exit_status = 0;
  bool forwarded = false;
  // Test hook: stall once the first CUDA event is read (a stall before that
  // only delays a command held at exec until its libraries are attached).
  bool stalled = o.reader_stall_ms <= 0;
  auto poll_all = [&](int timeout_ms) {
    int n = tracer ? tracer->poll(timeout_ms) : poller.poll(timeout_ms);
    if (tracer && !poller.empty()) {
      int m = poller.consume();
      if (n >= 0 && m > 0) n += m;
    }
    return n;
  };
  while (true) {
    int n = poll_all(5);
    release_lines();
    flush_pending();
    if (!stalled && tracer && tracer->stats().cuda_events > 0) {
      stalled = true;
      usleep(static_cast<useconds_t>(o.reader_stall_ms) * 1000);
    }
    if (n < 0 && n != -EINTR) {
      std::fprintf(stderr, "scope: reading the ring buffer failed: %s\n", std::strerror(-n));
      exit_status = 1;
      break;
    }
    if (std::chrono::steady_clock::now() >= next_tick) {
      for (auto& f : host) f->tick();
      next_tick += std::chrono::seconds(1);
    }
    if (child) {
      int status = 0;
      pid_t r = waitpid(child, &status, WNOHANG);
      if (r == child) {
        exit_status = exit_status_of(status);
        child = 0;
        break;
      }
    }
    if (int sig = stop_signal()) {
      if (!child) break;
      // The command is ours: pass the signal on and wait for it to end.
      if (!forwarded) {
        if (sig != SIGINT) kill(child, sig);  // Ctrl-C reached it through the terminal
        forwarded = true;
      }
    }
    if (o.duration_s > 0 && std::chrono::steady_clock::now() >= deadline) {
      if (child) {
        if (tracer) tracer->release_held();
        kill(child, SIGTERM);
        int status = 0;
        waitpid(child, &status, 0);
        exit_status = exit_status_of(status);
        child = 0;
      }
      break;
    }
    if (o.pid && !discover::process_exists(o.pid)) break;
  }
  // What is still in the rings, then the aggregated maps.
  if (tracer) {
    tracer->drain();
    tracer->release_held();
  }
  while (poller.consume() > 0) {
  }
  for (auto& f : host) f->tick();
  acct.finish();
  if (tracer)
    for (const auto& [kernel, count] : tracer->named_later()) acct.name_launches(kernel, count);
  reorder.release_all(emit_line);
  flush_pending();

  bool found_any = tracer && tracer->saw_cuda();
  for (auto* f : library_families) found_any |= f->found_libraries();
  if (tracer && !o.command.empty() && !found_any && !tracepoint_families)
    std::fprintf(stderr, "scope: %s loaded %s: no events\n", o.command[0].c_str(),
                 looked_for.c_str());
  uint64_t events = tracer ? tracer->stats().cuda_events : 0;
  uint64_t dropped = tracer ? tracer->dropped() + tracer->stats().decode_errors : 0;
  for (const auto& f : host) {
    events += f->events();
    dropped += f->dropped();
  }
  if (o.json) {
    nlohmann::json summary = {{"event", "summary"}};
    if (tracer && cuda) {
      summary["cuda"] = cuda_summary_json(acct);
      summary["attached"] = tracer->attached_files();
      summary["problems"] = tracer->problems();
    }
    for (const auto& f : host) summary[std::string(f->name())] = f->summary_json();
    if (tracer && !o.command.empty())
      summary["held"] = {{"at_exec", tracer->stats().held_at_exec},
                         {"at_loader", tracer->stats().held_at_loader}};
    summary["events"] = events;
    summary["dropped"] = dropped;
    if (!o.command.empty()) summary["exit_status"] = exit_status;
    pending = summary.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    pending.push_back('\n');
    flush_pending();
  } else {
    std::fprintf(out, "\n");
    if (tracer && cuda) print_cuda_summary(out, acct);
    for (const auto& f : host) {
      std::fprintf(out, "\n");
      f->print_summary(out);
    }
    std::fprintf(out, "\n%llu events, %llu dropped\n", static_cast<unsigned long long>(events),
                 static_cast<unsigned long long>(dropped));
  }
  std::fflush(out);
  // Detach every family at once: each detach waits for RCU grace periods.
  std::vector<std::thread> detachers;
  for (auto& f : host) detachers.emplace_back([&f] { f.reset(); });
  if (tracer) detachers.emplace_back([&tracer] { tracer.reset(); });
  for (auto& t : detachers) t.join();
  return exit_status;
}

}  // namespace scope::cli
