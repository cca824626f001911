// The exec family: execve/execveat with argv, and process exits
// (bpf/exec.bpf.c). Decoding and formatting are plain functions
// (exec_family.h); the class below only loads, reads and counts.
#include "families/exec_family.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cinttypes>
#include <csignal>
#include <cstdarg>
#include <cstring>

#include "bpf/shared/syscall_dispatch.h"
#include "common/redact.h"
#include "common/text.h"
#include "exec.skel.h"
#include "families/skeleton_family.h"

static_assert(sizeof(exec_event) == 64, "exec_event layout (bpf/shared/exec.h)");
static_assert(sizeof(exit_event) == 56, "exit_event layout (bpf/shared/exec.h)");

namespace scope::families {

namespace {

std::string who(const std::string& comm, uint32_t pid, uint32_t tid) {
  return sfmt("%s[%" PRIu32 "/%" PRIu32 "]", comm.c_str(), pid, tid);
}

double rel_seconds(uint64_t ts, uint64_t start) {
  return (static_cast<double>(ts) - static_cast<double>(start)) / 1e9;
}

}  // namespace

std::optional<ExecEvent> decode_exec_record(const void* data, size_t size,
                                            int64_t mono_to_unix_ns) {
  if (size < sizeof(exec_event)) return std::nullopt;
  exec_event h;
  std::memcpy(&h, data, sizeof h);  // ring records are only 8-byte aligned
  if (h.kind != EXEC_KIND_EXEC) return std::nullopt;
  size_t fl = h.filename_len, al = h.args_len;
  if (fl == 0 || fl > EXEC_MAX_FILENAME || al > EXEC_MAX_ARGV_BYTES ||
      size < sizeof(exec_event) + fl + al)
    return std::nullopt;
  const char* d = static_cast<const char*>(data) + sizeof(exec_event);
  ExecEvent e;
  e.ts_ns = static_cast<uint64_t>(static_cast<int64_t>(h.ts_ns) + mono_to_unix_ns);
  e.pid = h.pid;
  e.tid = h.tid;
  e.ppid = h.ppid;
  e.uid = h.uid;
  e.ret = h.ret;
  e.duration_ns = h.duration_ns;
  e.comm = fixed_string(h.comm, sizeof h.comm);
  e.filename = fixed_string(d, fl);
  e.execveat = (h.flags & EXEC_F_EXECVEAT) != 0;
  e.dirfd = static_cast<int32_t>(h.dirfd);
  e.argv_truncated = (h.flags & EXEC_F_ARGV_TRUNCATED) != 0;
  e.filename_truncated = (h.flags & EXEC_F_FILENAME_TRUNCATED) != 0;
  e.argv_fault = (h.flags & EXEC_F_ARGV_FAULT) != 0;
  e.filename_fault = (h.flags & EXEC_F_FILENAME_FAULT) != 0;
  if ((h.flags & EXEC_F_FROM_KERNEL) && e.execveat) e.filename = execveat_name(e.filename, e.dirfd);
  const char* a = d + fl;
  size_t pos = 0;
  for (unsigned i = 0; i < h.argc && pos < al; ++i) {
    size_t n = strnlen(a + pos, al - pos);
    e.argv.emplace_back(a + pos, n);
    pos += n + 1;
  }
  return e;
}

std::optional<ExitEvent> decode_exit_record(const void* data, size_t size,
                                            int64_t mono_to_unix_ns) {
  if (size < sizeof(exit_event)) return std::nullopt;
  exit_event h;
  std::memcpy(&h, data, sizeof h);
  if (h.kind != EXEC_KIND_EXIT) return std::nullopt;
  ExitEvent e;
  e.ts_ns = static_cast<uint64_t>(static_cast<int64_t>(h.ts_ns) + mono_to_unix_ns);
  e.pid = h.pid;
  e.tid = h.tid;
  e.ppid = h.ppid;
  e.comm = fixed_string(h.comm, sizeof h.comm);
  e.raw_status = h.exit_code;
  e.lifetime_ns = h.lifetime_ns;
  return e;
}

std::string quote_arg(std::string_view arg) {
  auto safe = [](unsigned char c) {
    return std::isalnum(c) || std::strchr("-_./=:,+@%^~", c) != nullptr || c >= 0x80;
  };
  if (!arg.empty() && std::all_of(arg.begin(), arg.end(), safe)) return std::string(arg);
  std::string out = "\"";
  for (unsigned char c : arg) {
    switch (c) {
      case '"':
      case '\\':
      case '$':
      case '`':
        out += '\\';
        out += static_cast<char>(c);
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f)
          out += sfmt("\\x%02x", c);
        else
          out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

std::string signal_name(int sig) {
  static const char* const kNames[] = {
      nullptr,     "SIGHUP",  "SIGINT",    "SIGQUIT", "SIGILL",   "SIGTRAP", "SIGABRT", "SIGBUS",
      "SIGFPE",    "SIGKILL", "SIGUSR1",   "SIGSEGV", "SIGUSR2",  "SIGPIPE", "SIGALRM", "SIGTERM",
      "SIGSTKFLT", "SIGCHLD", "SIGCONT",   "SIGSTOP", "SIGTSTP",  "SIGTTIN", "SIGTTOU", "SIGURG",
      "SIGXCPU",   "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO",   "SIGPWR",  "SIGSYS"};
  if (sig > 0 && sig < static_cast<int>(sizeof kNames / sizeof kNames[0])) return kNames[sig];
  return sfmt("SIG%d", sig);
}

std::string execveat_name(std::string_view kernel_filename, int32_t dirfd) {
  std::string prefix = sfmt("/dev/fd/%" PRId32, dirfd);
  if (kernel_filename.substr(0, prefix.size()) != prefix) return std::string(kernel_filename);
  std::string_view rest = kernel_filename.substr(prefix.size());
  if (rest.empty()) return {};  // AT_EMPTY_PATH: the fd itself
  if (rest.front() == '/') rest.remove_prefix(1);
  return std::string(rest);
}

namespace {

struct ExecColumns {
  const event::FamilySchema& s = *event::schema_for("exec");
  size_t call = s.column("call"), ppid = s.column("ppid"), uid = s.column("uid"),
         filename = s.column("filename"), argv = s.column("argv"),
         argv_truncated = s.column("argv_truncated"), ret = s.column("ret"),
         duration_ns = s.column("duration_ns"), exit_code = s.column("exit_code"),
         lifetime_ns = s.column("lifetime_ns"), dirfd = s.column("dirfd"),
         filename_truncated = s.column("filename_truncated"), argv_fault = s.column("argv_fault"),
         filename_fault = s.column("filename_fault"), signal = s.column("signal"),
         core_dumped = s.column("core_dumped");
};
const ExecColumns& cols() {
  static const ExecColumns c;
  return c;
}

int64_t i64(uint64_t v) { return static_cast<int64_t>(v); }

}  // namespace

event::EventRow exec_row(const ExecEvent& e) {
  const auto& c = cols();
  auto r = event::make_row(c.s, i64(e.ts_ns), e.pid, e.tid, e.comm);
  r.values[c.call] = std::string(e.execveat ? "execveat" : "execve");
  r.values[c.ppid] = int64_t{e.ppid};
  r.values[c.uid] = int64_t{e.uid};
  r.values[c.filename] = e.filename;
  r.values[c.argv] =
      nlohmann::json(e.argv).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  r.values[c.argv_truncated] = int64_t{e.argv_truncated};
  r.values[c.ret] = int64_t{e.ret};
  r.values[c.duration_ns] = i64(e.duration_ns);
  if (e.execveat) r.values[c.dirfd] = int64_t{e.dirfd};
  if (e.filename_truncated) r.values[c.filename_truncated] = int64_t{1};
  if (e.argv_fault) r.values[c.argv_fault] = int64_t{1};
  if (e.filename_fault) r.values[c.filename_fault] = int64_t{1};
  return r;
}

event::EventRow exit_row(const ExitEvent& e) {
  const auto& c = cols();
  auto r = event::make_row(c.s, i64(e.ts_ns), e.pid, e.tid, e.comm);
  r.values[c.call] = std::string("exit");
  r.values[c.ppid] = int64_t{e.ppid};
  r.values[c.exit_code] = int64_t{e.exit_code()};
  r.values[c.lifetime_ns] = i64(e.lifetime_ns);
  if (e.signal()) r.values[c.signal] = int64_t{e.signal()};
  if (e.core_dumped()) r.values[c.core_dumped] = int64_t{1};
  return r;
}

std::string format_exec_line(const ExecEvent& e, uint64_t start_ns) {
  std::string line = sfmt("%11.6f ", rel_seconds(e.ts_ns, start_ns)) +
                     pad_right(who(e.comm, e.pid, e.tid), 24) + " exec  " +
                     sfmt("ppid=%" PRIu32 " ret=%" PRId32, e.ppid, e.ret);
  if (e.ret < 0) line += " (" + errno_name(e.ret) + ")";
  line += ' ';
  line += e.filename_fault ? "(filename unreadable)" : quote_arg(e.filename);
  for (const auto& a : e.argv) {
    line += ' ';
    line += quote_arg(a);
  }
  if (e.argv_fault) line += " (argv unreadable)";
  if (e.argv_truncated) line += " ...";
  return line;
}

std::string format_exit_line(const ExitEvent& e, uint64_t start_ns) {
  std::string line = sfmt("%11.6f ", rel_seconds(e.ts_ns, start_ns)) +
                     pad_right(who(e.comm, e.pid, e.tid), 24) + " exit  " +
                     sfmt("ppid=%" PRIu32, e.ppid);
  if (e.signal())
    line += sfmt(" signal=%d (%s)", e.signal(), signal_name(e.signal()).c_str()) +
            (e.core_dumped() ? " core dumped" : "");
  else
    line += sfmt(" code=%d", e.exit_code());
  line += " lifetime=" + duration_text(e.lifetime_ns);
  return line;
}

void ExecStats::add(const ExecEvent& e) {
  ++execs_;
  if (e.ret < 0) ++failed_;
  if (e.argv_truncated) ++truncated_;
  ++by_comm_[e.comm];
}

void ExecStats::add(const ExitEvent&) { ++exits_; }

std::vector<std::pair<std::string, uint64_t>> ExecStats::top_comms(size_t count) const {
  std::vector<std::pair<std::string, uint64_t>> v(by_comm_.begin(), by_comm_.end());
  std::stable_sort(v.begin(), v.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (v.size() > count) v.resize(count);
  return v;
}

nlohmann::json ExecStats::summary_json(uint64_t dropped_execs, uint64_t dropped_exits) const {
  nlohmann::json by = nlohmann::json::array();
  for (const auto& [comm, n] : top_comms(10)) by.push_back({{"comm", comm}, {"count", n}});
  return {{"execs", execs_},
          {"failed", failed_},
          {"exits", exits_},
          {"argv_truncated", truncated_},
          {"by_comm", by},
          {"dropped_execs", dropped_execs},
          {"dropped_exits", dropped_exits}};
}

void ExecStats::print(std::FILE* out, uint64_t dropped_execs, uint64_t dropped_exits) const {
  std::fprintf(out, "exec: %" PRIu64 " execs (%" PRIu64 " failed), %" PRIu64 " exits", execs_,
               failed_, exits_);
  if (dropped_execs || dropped_exits)
    std::fprintf(out, ", dropped %" PRIu64 " execs and %" PRIu64 " exits", dropped_execs,
                 dropped_exits);
  std::fprintf(out, "\n");
  auto top = top_comms(10);
  if (top.empty()) return;
  std::fprintf(out, "  %-16s %10s\n", "comm", "execs");
  for (const auto& [comm, n] : top) std::fprintf(out, "  %-16s %10" PRIu64 "\n", comm.c_str(), n);
}

namespace {

class ExecFamily final : public SkeletonFamily<exec_bpf> {
 public:
  ExecFamily()
      : SkeletonFamily("exec",
                       {exec_bpf__open, exec_bpf__load, exec_bpf__attach, exec_bpf__destroy}) {}
  ~ExecFamily() override { handlers_.clear(); }
  bool handles_syscalls() const override { return true; }

  Status start(const FamilyContext& ctx) override {
    if (auto st = require_syscall_tracepoints(ctx); !st) return st;
    auto st = load(ctx, [&](exec_bpf* s) -> Status {
      auto& p = s->progs;
      probe::choose_syscall_programs(ctx.syscall_dispatch != nullptr,
                                     {p.exec_enter, p.execat_enter, p.exec_exit, p.execat_exit},
                                     {p.sd_exec_enter, p.sd_execat_enter, p.sd_exec_exit});
      return Ok{};
    });
    if (!st) return st;
    using Side = probe::SyscallDispatch::Side;
    auto& p = skel_->progs;
    return handlers_.install(ctx.syscall_dispatch,
                             {{Side::kEnter, SYSCALL_DISPATCH_EXECVE, p.sd_exec_enter},
                              {Side::kEnter, SYSCALL_DISPATCH_EXECVEAT, p.sd_execat_enter},
                              {Side::kExit, SYSCALL_DISPATCH_EXECVE, p.sd_exec_exit},
                              {Side::kExit, SYSCALL_DISPATCH_EXECVEAT, p.sd_exec_exit}});
  }

  int handle_record(const void* data, size_t size) override {
    uint8_t kind = size ? *static_cast<const uint8_t*>(data) : 0;
    if (kind == EXEC_KIND_EXEC) {
      auto e = decode_exec_record(data, size, ctx_.mono_to_unix_ns);
      if (!count(e)) return 0;
      // Once, here: the line, the row and what is shipped all come from this argv.
      if (ctx_.options.redact_args) redact_argv(e->argv);
      stats_.add(*e);
      emit(*e, exec_row, format_exec_line);
    } else {
      auto e = decode_exit_record(data, size, ctx_.mono_to_unix_ns);
      if (!count(e)) return 0;
      stats_.add(*e);
      emit(*e, exit_row, format_exit_line);
    }
    return 0;
  }

  void tick(int64_t /*now*/) override { read_drops(); }

  nlohmann::json summary_json() const override {
    auto j = stats_.summary_json(dropped_execs(), dropped_exits());
    if (bad_records()) j["bad_records"] = bad_records();
    return j;
  }
  void print_summary(std::FILE* out) const override {
    stats_.print(out, dropped_execs(), dropped_exits());
  }

 private:
  template <class E, class RowFn, class LineFn>
  void emit(const E& e, RowFn row, LineFn line) {
    families::emit(
        ctx_.sink, e.ts_ns, [&] { return row(e); }, [&](uint64_t start) { return line(e, start); });
  }
  uint64_t dropped_execs() const {
    return drops(EXEC_DROP_EXEC_RING) + drops(EXEC_DROP_EXEC_INFLIGHT);
  }
  uint64_t dropped_exits() const { return drops(EXEC_DROP_EXIT_RING); }
  void release_links() override { handlers_.clear(); }

  probe::SyscallDispatch::Handlers handlers_;  // in the syscalls family's dispatch, if it runs
  ExecStats stats_;
};

}  // namespace

std::unique_ptr<Family> make_exec_family() { return std::make_unique<ExecFamily>(); }

}  // namespace scope::families
