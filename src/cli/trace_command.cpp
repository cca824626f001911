#include "cli/trace_command.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <thread>

#include "cli/perfetto_sink.h"
#include "common/clock.h"
#include "common/stop_signal.h"
#include "common/strings.h"
#include "common/text.h"
#include "discover/ld_search.h"
#include "discover/proc_maps.h"
#include "families/registry.h"
#include "session/command.h"
#include "session/gpu_injection.h"
#include "session/session.h"
#include "session/sinks.h"

extern char** environ;

namespace scope::cli {

namespace {

using Clock = std::chrono::steady_clock;

// One trace: its output, session and targets, from the flags to the summary.
class Trace {
 public:
  explicit Trace(const TraceOptions& o) : o_(o) {}

  // The flags, before anything is loaded (bad_input: 2; a command not found: 127).
  Status check() {
    if (o_.pid && !o_.command.empty())
      return make_error(Errc::kBadInput, "--pid and -- COMMAND cannot be used together");
    if (!o_.session.comm.empty() && !o_.command.empty())
      return make_error(Errc::kBadInput, "--comm and -- COMMAND cannot be used together");
    auto families = probe_set(o_.session);
    if (!families) return families.failure();
    if (families->empty()) return make_error(Errc::kBadInput, "--probes lists no probe family");
    families_ = *families;
    auto options = session_options(o_.session);
    if (!options) return options.failure();
    options_ = *options;
    options_.filter.enabled = o_.pid || !o_.command.empty();
    if (!o_.command.empty()) {
      const char* path = getenv("PATH");
      auto resolved = discover::resolve_command(o_.command[0], path ? path : "/usr/bin:/bin");
      if (!resolved) return make_error(Errc::kNotFound, "command not found: " + o_.command[0]);
      command_path_ = *resolved;
    }
    if (o_.pid && !discover::process_exists(o_.pid))
      return make_error(Errc::kNotFound, "no process with pid " + std::to_string(o_.pid));
    return Ok{};
  }

  // The output, the session and its families.
  Status open() {
    int fd = STDOUT_FILENO;
    if (!o_.output.empty()) {
      fd = ::open(o_.output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0) return make_error(Errc::kBadInput, "-o " + o_.output + ": " + errno_text(errno));
      output_fd_ = fd;
    }
    writer_ = std::make_unique<session::LineWriter>(fd);
    sink_ = std::make_unique<session::LineSink>(
        session::LineSinkOptions{o_.json, o_.quiet, 50'000'000, !o_.session.no_redact_args},
        *writer_);
    families::EventSink* sink = sink_.get();
    if (!o_.perfetto.empty()) {
      auto p = PerfettoSink::open(o_.perfetto, sink_.get(), !o_.session.no_redact_args);
      if (!p) return p.failure();
      perfetto_ = std::move(p.value());
      sink = perfetto_.get();
    }
    auto s = session::Session::open(options_, sink);
    if (!s) return s.failure();
    session_ = std::move(s.value());
    if (o_.pid) (void)session_->follow(static_cast<uint32_t>(o_.pid), probe::kTracedOn);
    install_stop_signal_handlers();
    return session_->apply(families_);
  }

  // Attaches to --pid, or starts the command with everything attached.
  Status attach() {
    bool host_families = false;
    for (const auto& f : families_) host_families |= f != "cuda" && f != "ggml" && f != "llama";
    if (o_.pid) {
      sink_->set_start(static_cast<uint64_t>(unix_now_ns()));
      auto n = session_->scan_process(static_cast<uint32_t>(o_.pid));
      if (!n) return make_error(n.code(), n.error() + " before scope could attach");
      if (*n == 0 && !host_families) {
        auto comm = discover::read_comm(o_.pid);
        return make_error(Errc::kNotFound, "pid " + std::to_string(o_.pid) + " (" +
                                               (comm ? *comm : "?") + ") maps " +
                                               session_->looked_for() + ": nothing to trace");
      }
      return Ok{};
    }
    if (o_.command.empty()) {
      sink_->set_start(static_cast<uint64_t>(unix_now_ns()));
      return Ok{};
    }
    // Under --json on stdout the command's own output goes to stderr: the JSON lines stay whole.
    int command_stdout = o_.json && output_fd_ < 0 ? STDERR_FILENO : -1;
    if (families_.count("cuda") && !o_.no_gpu_times) {
      if (auto lib = session::offer_gpu_injection())
        spdlog::info("GPU times: the command gets CUDA_INJECTION64_PATH={}", *lib);
      else if (!std::getenv("CUDA_INJECTION64_PATH"))
        spdlog::info("GPU times: no libscope_cupti.so beside scope; launches only");
    }
    auto c = session::Command::fork_gated(command_path_, o_.command, command_stdout);
    if (!c) return c.failure();
    command_ = std::move(c.value());
    uint32_t flags = probe::kTracedOn | probe::kTracedAfterExec |
                     (session_->probes_libraries() ? probe::kTracedHold : 0);
    if (auto st = session_->follow(static_cast<uint32_t>(command_->pid()), flags); !st) return st;
    std::vector<std::string> env;
    for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
    session_->prepare_command(command_path_, env);
    sink_->set_start(static_cast<uint64_t>(unix_now_ns()));  // times count from the exec
    if (auto st = command_->go(); !st) {
      exit_status_ = st.code() == Errc::kNotFound ? 127 : 126;
      return make_error(st.code(), "cannot execute " + command_path_ + ": " + st.error());
    }
    return Ok{};
  }

  // Reads events until the command (and what it left running) ends, the pid exits, the
  // duration passes or a signal asks to stop.
  Status loop() {
    auto deadline =
        Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(o_.duration_s * 1000));
    bool stalled = o_.reader_stall_ms <= 0, forwarded = false;
    while (true) {
      int n = session_->poll(5);
      sink_->release();
      if (perfetto_) perfetto_->release();
      if (n < 0 && n != -EINTR)
        return make_error("reading the ring buffers failed: " + errno_text(-n));
      if (!stalled && session_->stats().events > 0) {  // test hook: fill the ring once
        stalled = true;
        usleep(static_cast<useconds_t>(o_.reader_stall_ms) * 1000);
      }
      bool running = command_ && !command_->exited();
      if (command_ && !running && !exit_status_) {
        exit_status_ = *command_->exited();
        if (o_.no_follow_orphans) break;
      }
      if (command_ && !running && !follow_orphans()) break;
      if (int sig = stop_signal()) {
        if (!running) break;
        if (!forwarded && sig != SIGINT) kill(command_->pid(), sig);  // Ctrl-C reached it itself
        forwarded = true;
      }
      if (o_.duration_s > 0 && Clock::now() >= deadline) {
        if (running) {
          session_->release_held();
          exit_status_ = command_->terminate(SIGTERM);
        }
        break;
      }
      if (o_.pid && !discover::process_exists(o_.pid)) break;
    }
    return Ok{};
  }

  // The summary; the exit status (the command's, when there is one).
  int report() {
    session_->finish();
    sink_->release_all();
    if (perfetto_) {
      if (auto st = perfetto_->finish(); !st)
        std::fprintf(stderr, "scope: %s\n", st.error().c_str());
      else
        std::fprintf(stderr,
                     "scope: wrote %s: %llu bytes, %llu launches, %llu CUDA calls, %llu GPU runs, "
                     "%llu llama and %llu ggml calls, %llu slices cut to nest\n",
                     o_.perfetto.c_str(), static_cast<unsigned long long>(perfetto_->file().bytes),
                     static_cast<unsigned long long>(perfetto_->counts().launches),
                     static_cast<unsigned long long>(perfetto_->counts().cuda_calls),
                     static_cast<unsigned long long>(perfetto_->counts().gpu_runs),
                     static_cast<unsigned long long>(perfetto_->counts().llama_calls),
                     static_cast<unsigned long long>(perfetto_->counts().ggml_calls),
                     static_cast<unsigned long long>(perfetto_->file().clamped));
    }
    std::string cmd = command_ ? o_.command[0] : "";
    if (command_ && session_->probes_libraries() && !session_->found_libraries() &&
        session_->running().size() == library_families())
      std::fprintf(stderr, "scope: %s loaded %s: no events\n", cmd.c_str(),
                   session_->looked_for().c_str());
    if (o_.json) {
      auto j = session_->summary_json();
      if (!command_) j.erase("held");
      if (command_) {
        j["exit_status"] = exit_status_.value_or(0);
        j["orphans"] = {{"followed", orphans_seen_}, {"left_running", orphans_left_}};
      }
      writer_->line(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      writer_->flush();
    } else {
      std::FILE* out = output_fd_ >= 0 ? fdopen(dup(output_fd_), "w") : stdout;
      if (orphans_seen_)
        std::fprintf(out, "\nfollowed %llu processes %s left running%s\n",
                     static_cast<unsigned long long>(orphans_seen_), cmd.c_str(),
                     orphans_left_ ? " (some still running at the end)" : "");
      session_->print_summary(out);
      std::fflush(out);
      if (out != stdout) std::fclose(out);
    }
    session_.reset();  // detaches every family
    if (output_fd_ >= 0) close(output_fd_);
    return exit_status_.value_or(0);
  }

  int exit_status_or(int status) const { return exit_status_.value_or(status); }

 private:
  // After the command's exit, its descendants are followed until they exit too (as strace -f
  // does), unless --no-follow-orphans. False once none is left.
  bool follow_orphans() {
    if (o_.no_follow_orphans) return false;
    auto now = Clock::now();
    if (now < next_orphan_check_) return true;
    next_orphan_check_ = now + std::chrono::milliseconds(100);
    auto live = session_->live_targets();
    orphans_left_ = live.size();
    if (live.size() > orphans_seen_) {
      if (!orphans_seen_)
        std::fprintf(stderr,
                     "scope: %s exited; following the %zu processes it left running until they "
                     "exit (--no-follow-orphans to stop now)\n",
                     o_.command[0].c_str(), live.size());
      orphans_seen_ = live.size();
    }
    return !live.empty();
  }
  size_t library_families() const {
    size_t n = 0;
    for (const auto& f : session_->running()) n += f == "cuda" || f == "ggml" || f == "llama";
    return n;
  }

  const TraceOptions& o_;
  std::set<std::string> families_;
  session::SessionOptions options_;
  std::string command_path_;
  int output_fd_ = -1;
  std::unique_ptr<session::LineWriter> writer_;
  std::unique_ptr<session::LineSink> sink_;
  std::unique_ptr<PerfettoSink> perfetto_;  // --perfetto: takes every event first
  std::unique_ptr<session::Session> session_;
  std::unique_ptr<session::Command> command_;
  std::optional<int> exit_status_;
  Clock::time_point next_orphan_check_{};
  uint64_t orphans_seen_ = 0, orphans_left_ = 0;
};

}  // namespace

CLI::App* add_trace_command(CLI::App& app, TraceOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "trace",
      "Run COMMAND (or attach to --pid / --comm / --cgroup, or every process) and print what "
      "it does live: CUDA kernel launches with names and shapes, device memory and leaks, "
      "copies and synchronisation (cuda), and with --probes also execs and exits, file opens, "
      "syscalls, scheduling and TCP connections. Ends with a summary.");
  add_session_flags(cmd, o.session);
  auto* pid = cmd->add_option("-p,--pid", o.pid, "Attach to this running process")
                  ->envname("SCOPE_PID")
                  ->check(CLI::PositiveNumber);
  pid->excludes(cmd->get_option("--comm"));
  cmd->add_flag("--json", o.json,
                "One JSON object per line; the last is the summary (the command's own stdout "
                "then goes to stderr, unless -o)")
      ->envname("SCOPE_JSON");
  cmd->add_flag("-q,--quiet", o.quiet, "Print only the summary, not each event")
      ->envname("SCOPE_QUIET");
  cmd->add_option("--perfetto", o.perfetto,
                  "Also write the events as a Perfetto trace to FILE (open it at "
                  "https://ui.perfetto.dev)");
  cmd->add_option("-o,--output", o.output, "Write events and the summary to FILE, not stdout")
      ->envname("SCOPE_OUTPUT");
  cmd->add_option("-d,--duration", o.duration_s, "Stop after this many seconds")
      ->envname("SCOPE_DURATION")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--no-gpu-times", o.no_gpu_times,
                "Do not give COMMAND scope's CUPTI library (CUDA_INJECTION64_PATH), which adds "
                "each kernel's and copy's time on the GPU")
      ->envname("SCOPE_NO_GPU_TIMES");
  cmd->add_flag("--no-follow-orphans", o.no_follow_orphans,
                "Stop when COMMAND exits, not when the last process it started has exited")
      ->envname("SCOPE_NO_FOLLOW_ORPHANS");
  cmd->add_option("--test-reader-stall-ms", o.reader_stall_ms,
                  "Test hook: leave the ring buffers unread this long once")
      ->envname("SCOPE_TEST_READER_STALL_MS")
      ->group("");
  cmd->footer(
      "-- COMMAND [ARGS...]  run COMMAND with every probe attached before its first\n"
      "                      instruction; its children are followed, and so are the\n"
      "                      processes it leaves running, until they exit.\n"
      "Examples:\n"
      "  scope trace -- python train.py        run and trace a command (and its children)\n"
      "  scope trace --pid 4242 --duration 10  attach to a running process for 10 s\n"
      "  scope trace --comm ollama --json      every process named ollama, as JSON lines\n"
      "Exit status: COMMAND's, or 0 (1 on an error, 2 on bad usage, 126/127 when COMMAND\n"
      "cannot be run).");
  return cmd;
}

int run_trace(const TraceOptions& o) {
  Trace trace(o);
  if (auto st = trace.check(); !st)
    return st.code() == Errc::kNotFound && !o.command.empty() ? (report(st.failure()), 127)
                                                              : report(st.failure());
  if (auto st = trace.open(); !st) return report(st.failure());
  if (auto st = trace.attach(); !st) {
    int status = report(st.failure());
    return trace.exit_status_or(status);
  }
  if (auto st = trace.loop(); !st) {
    report(st.failure());
    trace.report();
    return 1;
  }
  return trace.report();
}

}  // namespace scope::cli
