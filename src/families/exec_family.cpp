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
#include "common/text.h"
#include "exec.skel.h"
#include "families/probe_family.h"
#include "probe/drop_counters.h"
#include "probe/skeleton_links.h"

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

nlohmann::json exec_event_json(const ExecEvent& e) {
  nlohmann::json j = {{"event", "exec"},
                      {"ts_ns", e.ts_ns},
                      {"pid", e.pid},
                      {"tid", e.tid},
                      {"comm", e.comm},
                      {"ppid", e.ppid},
                      {"uid", e.uid},
                      {"call", e.execveat ? "execveat" : "execve"},
                      {"filename", e.filename},
                      {"argv", e.argv},
                      {"argv_truncated", e.argv_truncated},
                      {"ret", e.ret},
                      {"duration_ns", e.duration_ns}};
  if (e.execveat) j["dirfd"] = e.dirfd;
  if (e.filename_truncated) j["filename_truncated"] = true;
  if (e.argv_fault) j["argv_fault"] = true;
  if (e.filename_fault) j["filename_fault"] = true;
  return j;
}

nlohmann::json exit_event_json(const ExitEvent& e) {
  nlohmann::json j = {{"event", "exit"},
                      {"ts_ns", e.ts_ns},
                      {"pid", e.pid},
                      {"tid", e.tid},
                      {"comm", e.comm},
                      {"ppid", e.ppid},
                      {"exit_code", e.exit_code()},
                      {"lifetime_ns", e.lifetime_ns}};
  if (e.signal()) j["signal"] = e.signal();
  if (e.core_dumped()) j["core_dumped"] = true;
  return j;
}

std::string format_exec_line(const ExecEvent& e, uint64_t start_ns) {
  std::string line = sfmt("%11.6f ", rel_seconds(e.ts_ns, start_ns)) +
                     pad_right(who(e.comm, e.pid, e.tid), 24) + " exec  " +
                     sfmt("ppid=%" PRIu32 " ret=%" PRId32, e.ppid, e.ret);
  if (e.ret < 0) line += " (" + errno_name(e.ret) + ")";
  line += ' ';
  line += quote_arg(e.filename);
  for (const auto& a : e.argv) {
    line += ' ';
    line += quote_arg(a);
  }
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

class ExecFamily final : public ProbeFamily {
 public:
  ~ExecFamily() override {
    handlers_.clear();
    probe::destroy_links_in_parallel(skel_);
    if (skel_) exec_bpf__destroy(skel_);
  }
  std::string_view name() const override { return "exec"; }

  Status start(const FamilyContext& ctx) override {
    ctx_ = ctx;
    skel_ = exec_bpf__open();
    if (!skel_)
      return make_error(std::string("cannot open the exec BPF object: ") + std::strerror(errno));
    if (auto st = ctx.filter->apply(skel_); !st) return st;
    auto& p = skel_->progs;
    probe::choose_syscall_programs(ctx.syscall_dispatch != nullptr,
                                   {p.exec_enter, p.execat_enter, p.exec_exit, p.execat_exit},
                                   {p.sd_exec_enter, p.sd_execat_enter, p.sd_exec_exit});
    if (int err = exec_bpf__load(skel_))
      return make_error(std::string("cannot load the exec BPF programs: ") + std::strerror(-err));
    if (int err = exec_bpf__attach(skel_))
      return make_error(std::string("cannot attach the exec BPF programs: ") + std::strerror(-err));
    using Side = probe::SyscallDispatch::Side;
    return handlers_.install(ctx.syscall_dispatch,
                             {{Side::kEnter, SYSCALL_DISPATCH_EXECVE, p.sd_exec_enter},
                              {Side::kEnter, SYSCALL_DISPATCH_EXECVEAT, p.sd_execat_enter},
                              {Side::kExit, SYSCALL_DISPATCH_EXECVE, p.sd_exec_exit},
                              {Side::kExit, SYSCALL_DISPATCH_EXECVEAT, p.sd_exec_exit}});
  }

  int ring_map_fd() const override { return skel_ ? bpf_map__fd(skel_->maps.rb) : -1; }

  int handle_record(const void* data, size_t size) override {
    if (size < 1) return 0;
    uint8_t kind = *static_cast<const uint8_t*>(data);
    if (kind == EXEC_KIND_EXEC) {
      auto e = decode_exec_record(data, size, ctx_.mono_to_unix_ns);
      if (!e) return ++bad_, 0;
      if (!start_ns_) start_ns_ = ctx_.start_unix_ns(e->ts_ns);
      ++events_;
      stats_.add(*e);
      if (ctx_.out && ctx_.out->wants_events())
        ctx_.out->emit(exec_event_json(*e), [&] { return format_exec_line(*e, start_ns_); });
    } else if (kind == EXEC_KIND_EXIT) {
      auto e = decode_exit_record(data, size, ctx_.mono_to_unix_ns);
      if (!e) return ++bad_, 0;
      if (!start_ns_) start_ns_ = ctx_.start_unix_ns(e->ts_ns);
      ++events_;
      stats_.add(*e);
      if (ctx_.out && ctx_.out->wants_events())
        ctx_.out->emit(exit_event_json(*e), [&] { return format_exit_line(*e, start_ns_); });
    } else {
      ++bad_;
    }
    return 0;
  }

  void tick() override {
    if (!skel_) return;
    auto drops = probe::read_drop_counters(skel_->maps.dropped);
    for (uint32_t slot = 0; slot < EXEC_DROP_SLOTS && slot < drops.size(); ++slot)
      drops_[slot] = drops[slot];
  }

  uint64_t dropped_execs() const {
    return drops_[EXEC_DROP_EXEC_RING] + drops_[EXEC_DROP_EXEC_INFLIGHT];
  }
  uint64_t dropped_exits() const { return drops_[EXEC_DROP_EXIT_RING]; }

  nlohmann::json summary_json() const override {
    auto j = stats_.summary_json(dropped_execs(), dropped_exits());
    if (bad_) j["bad_records"] = bad_;
    return j;
  }
  void print_summary(std::FILE* out) const override {
    stats_.print(out, dropped_execs(), dropped_exits());
  }
  uint64_t dropped() const override { return dropped_execs() + dropped_exits() + bad_; }
  uint64_t events() const override { return events_; }

 private:
  exec_bpf* skel_ = nullptr;
  probe::SyscallDispatch::Handlers handlers_;  // in the syscalls family's dispatch, if it runs
  FamilyContext ctx_;
  ExecStats stats_;
  uint64_t start_ns_ = 0;
  uint64_t events_ = 0;
  uint64_t bad_ = 0;  // records that did not decode (counted as dropped)
  uint64_t drops_[EXEC_DROP_SLOTS] = {};
};

}  // namespace

std::unique_ptr<ProbeFamily> make_exec_family() { return std::make_unique<ExecFamily>(); }

}  // namespace scope::families
