// The open family: open, openat and openat2 with absolute paths
// (bpf/open.bpf.c): decoding, path resolution, output and summary.
#include "families/open_family.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "bpf/shared/open.h"
#include "bpf/shared/syscall_dispatch.h"
#include "common/text.h"
#include "families/skeleton_family.h"
#include "open.skel.h"
#include "probe/drop_counters.h"
#include "probe/skeleton_links.h"

namespace scope::families {

namespace {

struct FlagName {
  uint64_t bits;
  const char* name;
};

// Linux x86_64/generic values (asm-generic/fcntl.h), most specific first.
constexpr FlagName kOpenFlags[] = {
    {00000100, "O_CREAT"},     {00000200, "O_EXCL"},      {00000400, "O_NOCTTY"},
    {00001000, "O_TRUNC"},     {00002000, "O_APPEND"},    {00004000, "O_NONBLOCK"},
    {04010000, "O_SYNC"},      {00010000, "O_DSYNC"},     {00020000, "O_ASYNC"},
    {00040000, "O_DIRECT"},    {00100000, "O_LARGEFILE"}, {020200000, "O_TMPFILE"},
    {00200000, "O_DIRECTORY"}, {00400000, "O_NOFOLLOW"},  {01000000, "O_NOATIME"},
    {02000000, "O_CLOEXEC"},   {010000000, "O_PATH"},
};

bool count_desc(const std::pair<std::string, uint64_t>& a,
                const std::pair<std::string, uint64_t>& b) {
  return a.second != b.second ? a.second > b.second : a.first < b.first;
}

}  // namespace

std::string open_flags_str(uint64_t flags) {
  std::string out;
  switch (flags & 3) {
    case 0:
      out = "O_RDONLY";
      break;
    case 1:
      out = "O_WRONLY";
      break;
    case 2:
      out = "O_RDWR";
      break;
    default:
      out = "O_ACCMODE";
      break;
  }
  uint64_t rest = flags & ~uint64_t{3};
  for (const auto& f : kOpenFlags) {
    if ((rest & f.bits) == f.bits) {
      out += '|';
      out += f.name;
      rest &= ~f.bits;
    }
  }
  if (rest) out += sfmt("|0x%" PRIx64, rest);
  return out;
}

std::string normalize_path(std::string_view path) {
  bool absolute = !path.empty() && path[0] == '/';
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view part = path.substr(i, j - i);
    i = j + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty() && parts.back() != "..")
        parts.pop_back();
      else if (!absolute)
        parts.push_back(part);
      continue;
    }
    parts.push_back(part);
  }
  std::string out = absolute ? "/" : "";
  for (size_t k = 0; k < parts.size(); ++k) {
    if (k) out += '/';
    out += parts[k];
  }
  return out.empty() ? "." : out;
}

std::string resolve_path(std::string_view dir, std::string_view path) {
  if (!path.empty() && path[0] == '/') return normalize_path(path);
  std::string joined(dir);
  joined += '/';
  joined += path;
  return normalize_path(joined);
}

bool is_pseudo_fs_path(std::string_view p) {
  for (std::string_view root : {std::string_view("/proc"), std::string_view("/sys")})
    if (p.substr(0, root.size()) == root && (p.size() == root.size() || p[root.size()] == '/'))
      return true;
  return false;
}

std::string_view open_call_name(uint32_t call) {
  switch (call) {
    case OPEN_CALL_OPEN:
      return "open";
    case OPEN_CALL_OPENAT:
      return "openat";
    case OPEN_CALL_OPENAT2:
      return "openat2";
    case OPEN_CALL_CREAT:
      return "creat";
    default:
      return "open?";
  }
}

namespace {

// Already normal: every component (after a leading '/') is non-empty and
// neither "." nor "..". Most paths are, and skip normalize_path.
bool is_normal_path(std::string_view p) {
  if (!p.empty() && p[0] == '/') p.remove_prefix(1);
  if (p.empty()) return false;
  size_t i = 0;
  while (true) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    std::string_view part = p.substr(i, j - i);
    if (part.empty() || part == "." || part == "..") return false;
    if (j == p.size()) return true;
    i = j + 1;
  }
}

}  // namespace

std::optional<OpenEvent> decode_open_record(const void* data, size_t size,
                                            int64_t mono_to_unix_ns) {
  if (size < OPEN_EVENT_HDR) return std::nullopt;
  struct open_event rec;
  std::memcpy(&rec, data, OPEN_EVENT_HDR);  // the header only; the rest is read in place
  const char* bytes = static_cast<const char*>(data) + OPEN_EVENT_HDR;
  const size_t avail = size - OPEN_EVENT_HDR;
  OpenEvent e;
  e.ts_ns = rec.ts_ns + static_cast<uint64_t>(mono_to_unix_ns);
  e.pid = rec.pid;
  e.tid = rec.tid;
  e.comm = fixed_string(rec.comm, sizeof rec.comm);
  e.call = std::string(open_call_name(rec.call));
  e.flags = rec.flags;
  e.ret = rec.ret;
  e.dfd = rec.dfd;
  std::string_view path(bytes,
                        strnlen(bytes, std::min<size_t>({rec.path_len, avail, OPEN_PATH_MAX})));
  e.path_truncated =
      rec.eflags & (OPEN_F_PATH_TRUNCATED | OPEN_F_DIR_TOO_DEEP | OPEN_F_DIR_NAME_TRUNCATED);
  if (path.empty()) {  // unreadable, or "" (which the kernel does not resolve either)
    e.path_unresolved = true;
    return e;
  }
  if (path[0] == '/') {
    e.path = is_normal_path(path) ? std::string(path) : normalize_path(path);
    return e;
  }
  const size_t names_at = static_cast<size_t>(rec.path_len) + 1;
  if (!(rec.eflags & OPEN_F_DIR) || names_at > avail || rec.dirs_len > avail - names_at) {
    e.path = path;  // relative, directory unknown
    e.path_unresolved = true;
    return e;
  }
  // The names, leaf first, each NUL-terminated.
  std::string_view names[OPEN_COMPS];
  size_t n = 0;
  const char* p = bytes + names_at;
  const char* end = p + rec.dirs_len;
  while (n < std::min<size_t>(rec.ndirs, OPEN_COMPS) && p < end) {
    size_t len = strnlen(p, static_cast<size_t>(end - p));
    names[n++] = std::string_view(p, len);
    p += len + 1;
  }
  std::string dir;
  dir.reserve(rec.dirs_len + path.size() + 8);
  if (rec.eflags & OPEN_F_DIR_TOO_DEEP) dir = "/...";
  for (size_t k = n; k-- > 0;) {
    dir += '/';
    dir += names[k];
  }
  if (is_normal_path(path)) {
    dir += '/';
    dir += path;
    e.path = std::move(dir);
  } else {
    if (dir.empty()) dir = "/";
    e.path = resolve_path(dir, path);
  }
  return e;
}

event::EventRow open_row(const OpenEvent& e) {
  static const auto& s = *event::schema_for("open");
  static const size_t call = s.column("call"), path = s.column("path"), flags = s.column("flags"),
                      ret = s.column("ret"), truncated = s.column("path_truncated"),
                      unresolved = s.column("path_unresolved");
  auto r = event::make_row(s, static_cast<int64_t>(e.ts_ns), e.pid, e.tid, e.comm);
  r.values[call] = e.call;
  r.values[path] = e.path;
  r.values[flags] = static_cast<int64_t>(e.flags);
  r.values[ret] = int64_t{e.ret};
  if (e.path_truncated) r.values[truncated] = int64_t{1};
  if (e.path_unresolved) r.values[unresolved] = int64_t{1};
  return r;
}

void decorate_open_json(nlohmann::json& j) {
  if (auto f = j.find("flags"); f != j.end() && f->is_number_integer())
    j["flags_str"] = open_flags_str(f->get<uint64_t>());
  if (auto r = j.find("ret"); r != j.end() && r->is_number_integer() && r->get<int64_t>() < 0)
    j["errno_name"] = errno_name(r->get<int64_t>());
}

std::string format_open_line(const OpenEvent& e, uint64_t trace_start_ns) {
  double secs = (static_cast<double>(e.ts_ns) - static_cast<double>(trace_start_ns)) / 1e9;
  std::string who = sfmt("%s[%" PRIu32 "/%" PRIu32 "]", e.comm.c_str(), e.pid, e.tid);
  std::string line = sfmt("%11.6f %-24s %-7s %s%s %s ret=%" PRId32, secs, who.c_str(),
                          e.call.c_str(), e.path.empty() ? "\"\"" : e.path.c_str(),
                          e.path_truncated    ? " (truncated)"
                          : e.path_unresolved ? " (unresolved)"
                                              : "",
                          open_flags_str(e.flags).c_str(), e.ret);
  if (e.ret < 0) line += " (" + errno_name(e.ret) + ")";
  return line;
}

void OpenStats::sort_desc(std::vector<std::pair<std::string, uint64_t>>& v, size_t limit) {
  limit = std::min(limit, v.size());
  std::partial_sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(limit), v.end(), count_desc);
  v.resize(limit);
}

std::vector<std::pair<std::string, uint64_t>> OpenStats::top(const Counts& m, size_t limit) {
  // Rank pointers, copy only the winners' strings.
  using Entry = const Counts::value_type*;
  std::vector<Entry> v;
  v.reserve(m.size());
  for (const auto& kv : m) v.push_back(&kv);
  limit = std::min(limit, v.size());
  std::partial_sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(limit), v.end(),
                    [](Entry a, Entry b) {
                      return a->second != b->second ? a->second > b->second : a->first < b->first;
                    });
  std::vector<std::pair<std::string, uint64_t>> out;
  out.reserve(limit);
  for (size_t i = 0; i < limit; ++i) out.emplace_back(v[i]->first, v[i]->second);
  return out;
}

void OpenStats::add(const OpenEvent& e) {
  ++opens_;
  ++by_comm_[e.comm];
  auto it = by_path_.find(e.path);
  if (it != by_path_.end())
    ++it->second;
  else if (by_path_.size() < kMaxPaths)
    by_path_.emplace(e.path, 1);
  else
    ++paths_untracked_;
  if (e.ret < 0) {
    ++failed_;
    ++by_errno_[e.ret];
  }
}

std::vector<std::pair<std::string, uint64_t>> OpenStats::errors_desc() const {
  std::vector<std::pair<std::string, uint64_t>> v;
  for (const auto& [err, n] : by_errno_) v.emplace_back(errno_name(err), n);
  sort_desc(v, SIZE_MAX);
  return v;
}

nlohmann::json OpenStats::json() const {
  nlohmann::json by_comm = nlohmann::json::array(), paths = nlohmann::json::array(),
                 errors = nlohmann::json::array();
  for (const auto& [comm, n] : top(by_comm_, SIZE_MAX))
    by_comm.push_back({{"comm", comm}, {"count", n}});
  for (const auto& [path, n] : top(by_path_, 10)) paths.push_back({{"path", path}, {"count", n}});
  for (const auto& [name, n] : errors_desc())
    errors.push_back({{"errno_name", name}, {"count", n}});
  nlohmann::json j = {
      {"opens", opens_},    {"failed", failed_},  {"skipped_pseudo", skipped_pseudo_},
      {"by_comm", by_comm}, {"top_paths", paths}, {"errors", errors}};
  if (paths_untracked_) j["paths_untracked"] = paths_untracked_;
  return j;
}

void OpenStats::print(std::FILE* out) const {
  std::fprintf(out, "\nopen: %" PRIu64 " opens, %" PRIu64 " failed", opens_, failed_);
  if (skipped_pseudo_)
    std::fprintf(out, ", %" PRIu64 " under /proc or /sys not shown", skipped_pseudo_);
  std::fprintf(out, "\n");
  if (!by_comm_.empty()) {
    std::fprintf(out, "  %-20s %10s\n", "comm", "opens");
    for (const auto& [comm, n] : top(by_comm_, 20))
      std::fprintf(out, "  %-20s %10" PRIu64 "\n", comm.c_str(), n);
  }
  if (!by_path_.empty()) {
    std::fprintf(out, "  %-60s %10s\n", "top paths", "opens");
    for (const auto& [path, n] : top(by_path_, 10))
      std::fprintf(out, "  %-60s %10" PRIu64 "\n", path.c_str(), n);
  }
  if (!by_errno_.empty()) {
    std::fprintf(out, "  %-20s %10s\n", "failures", "count");
    for (const auto& [name, n] : errors_desc())
      std::fprintf(out, "  %-20s %10" PRIu64 "\n", name.c_str(), n);
  }
}

namespace {

bool tracepoint_exists(const char* name) {
  for (const char* root :
       {"/sys/kernel/tracing/events/syscalls/", "/sys/kernel/debug/tracing/events/syscalls/"})
    if (access((std::string(root) + name).c_str(), F_OK) == 0) return true;
  return false;
}

class OpenFamily final : public SkeletonFamily<open_bpf> {
 public:
  OpenFamily()
      : SkeletonFamily("open",
                       {open_bpf__open, open_bpf__load, open_bpf__attach, open_bpf__destroy}) {}
  ~OpenFamily() override { handlers_.clear(); }
  bool handles_syscalls() const override { return true; }

  Status start(const FamilyContext& ctx) override {
    auto& f = probe::Features::get();
    if (auto st = f.require(f.rdonly_cast && f.bpf_loop, "bpf_rdonly_cast and bpf_loop", "6.2");
        !st)
      return st;
    if (auto st = require_syscall_tracepoints(ctx); !st) return st;
    auto st = load(ctx, [&](open_bpf* s) -> Status {
      auto& p = s->progs;
      probe::choose_syscall_programs(
          ctx.syscall_dispatch != nullptr,
          {p.tp_enter_open, p.tp_enter_creat, p.tp_enter_openat, p.tp_enter_openat2, p.tp_exit_open,
           p.tp_exit_creat, p.tp_exit_openat, p.tp_exit_openat2},
          {p.sd_enter_open, p.sd_enter_creat, p.sd_enter_openat, p.sd_enter_openat2,
           p.sd_exit_open});
      // open(2) and creat(2) are absent on architectures that only have openat.
      if (!ctx.syscall_dispatch) {
        for (auto [name, enter, exit] :
             {std::tuple{"sys_enter_open", p.tp_enter_open, p.tp_exit_open},
              {"sys_enter_creat", p.tp_enter_creat, p.tp_exit_creat},
              {"sys_enter_openat2", p.tp_enter_openat2, p.tp_exit_openat2}}) {
          if (tracepoint_exists(name)) continue;
          bpf_program__set_autoload(enter, false);
          bpf_program__set_autoload(exit, false);
        }
      }
      return Ok{};
    });
    if (!st) return st;
    using Side = probe::SyscallDispatch::Side;
    auto& p = skel_->progs;
    return handlers_.install(ctx.syscall_dispatch,
                             {{Side::kEnter, SYSCALL_DISPATCH_OPEN, p.sd_enter_open},
                              {Side::kEnter, SYSCALL_DISPATCH_CREAT, p.sd_enter_creat},
                              {Side::kEnter, SYSCALL_DISPATCH_OPENAT, p.sd_enter_openat},
                              {Side::kEnter, SYSCALL_DISPATCH_OPENAT2, p.sd_enter_openat2},
                              {Side::kExit, SYSCALL_DISPATCH_OPEN, p.sd_exit_open},
                              {Side::kExit, SYSCALL_DISPATCH_CREAT, p.sd_exit_open},
                              {Side::kExit, SYSCALL_DISPATCH_OPENAT, p.sd_exit_open},
                              {Side::kExit, SYSCALL_DISPATCH_OPENAT2, p.sd_exit_open}});
  }

  int handle_record(const void* data, size_t size) override {
    auto ev = decode_open_record(data, size, ctx_.mono_to_unix_ns);
    if (!count(ev)) return 0;
    if (ctx_.options.open_skip_pseudo && is_pseudo_fs_path(ev->path)) {
      stats_.add_skipped();
      return 0;
    }
    stats_.add(*ev);
    families::emit(
        ctx_.sink, ev->ts_ns, [&] { return open_row(*ev); },
        [&](uint64_t start) { return format_open_line(*ev, start); });
    return 0;
  }

  void tick(int64_t /*now*/) override { read_drops(); }
  nlohmann::json summary_json() const override { return stats_.json(); }
  void print_summary(std::FILE* out) const override { stats_.print(out); }
  uint64_t events() const override { return stats_.opens(); }

 private:
  void release_links() override { handlers_.clear(); }

  probe::SyscallDispatch::Handlers handlers_;  // in the syscalls family's dispatch, if it runs
  OpenStats stats_;
};

}  // namespace

std::unique_ptr<Family> make_open_family() { return std::make_unique<OpenFamily>(); }

}  // namespace scope::families
