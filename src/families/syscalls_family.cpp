// The syscalls family: counts, errors and latency per syscall and per thread,
// aggregated in the kernel (bpf/syscalls.bpf.c). No ring buffer: tick() reads
// the cumulative `stats` map once a second and at the end.
#include "families/syscalls_family.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <unordered_map>

#include "bpf/shared/syscalls.h"
#include "common/clock.h"
#include "discover/proc_maps.h"
#include "families/interval_deltas.h"
#include "families/skeleton_family.h"
#include "probe/hash_map_read.h"
#include "syscalls.skel.h"

namespace scope::families {

namespace syscalls {

namespace {

constexpr SyscallName kTable[] = {
#include "families/syscall_table_x86_64.inc"
};

// Names indexed by number (the table is sparse: 335..423 are unused).
const std::vector<const char*>& names_by_nr() {
  static const std::vector<const char*> names = [] {
    uint32_t max = 0;
    for (const auto& s : kTable) max = std::max(max, s.nr);
    std::vector<const char*> v(max + 1, nullptr);
    for (const auto& s : kTable) v[s.nr] = s.name;
    return v;
  }();
  return names;
}

std::string seconds(uint64_t ns, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, static_cast<double>(ns) / 1e9);
  return buf;
}

}  // namespace

std::span<const SyscallName> syscall_table() { return kTable; }

std::string syscall_name(uint32_t nr) {
  if (nr & SYSCALL_NR_IA32) return "ia32:" + std::to_string(nr & ~SYSCALL_NR_IA32);
  const auto& names = names_by_nr();
  if (nr < names.size() && names[nr]) return names[nr];
  return "syscall_" + std::to_string(nr);
}

namespace {

// A slot entry's or another row's counters into `into` (both have the same five fields).
template <class Counters>
void add_counters(Row& into, const Counters& more) {
  into.count += more.count;
  into.errors += more.errors;
  into.total_ns += more.total_ns;
  into.timed += more.timed;
  into.max_ns = std::max<uint64_t>(into.max_ns, more.max_ns);
}

}  // namespace

void add_slot_counts(std::vector<Row>& rows, std::span<const syscall_slot> slots) {
  auto key = [](uint32_t tgid, uint32_t tid, uint32_t nr) { return RowKey{tgid, tid, nr}; };
  std::unordered_map<RowKey, size_t, RowKeyHash> index;
  index.reserve(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) index[key(rows[i].tgid, rows[i].tid, rows[i].nr)] = i;
  for (const auto& s : slots) {
    if (!s.owner || !s.used) continue;
    auto tgid = static_cast<uint32_t>(s.owner >> 32), tid = static_cast<uint32_t>(s.owner);
    for (uint32_t i = 0; i < SYSCALL_SLOT_NRS; ++i) {
      const auto& e = s.entry[i];
      if (!(s.used & (1u << i)) || !e.count) continue;
      uint32_t nr = syscall_key_nr(s.nr[i]);
      auto [it, added] = index.try_emplace(key(tgid, tid, nr), rows.size());
      if (added) {
        Row r;
        r.tgid = tgid;
        r.tid = tid;
        r.nr = nr;
        rows.push_back(std::move(r));
      }
      add_counters(rows[it->second], e);
    }
  }
}

void MonotonicCounts::apply(std::vector<Row>& rows) {
  for (auto& r : rows) {
    auto& seen = seen_[{r.tgid, r.tid, r.nr}];
    r.count = std::max(r.count, seen[0]);
    r.errors = std::max(r.errors, seen[1]);
    r.total_ns = std::max(r.total_ns, seen[2]);
    r.timed = std::max(r.timed, seen[3]);
    seen = {r.count, r.errors, r.total_ns, r.timed};
  }
}

void fold_exited(std::vector<Row>& into, const std::vector<Row>& exited) {
  std::map<uint32_t, size_t> at;
  for (size_t i = 0; i < into.size(); ++i) at[into[i].nr] = i;
  for (const auto& r : exited) {
    auto [it, added] = at.try_emplace(r.nr, into.size());
    if (added) {
      Row f;
      f.nr = r.nr;
      f.comm = "(exited)";
      into.push_back(std::move(f));
    }
    add_counters(into[it->second], r);
  }
}

std::vector<SyscallTotal> by_syscall(const std::vector<Row>& rows) {
  std::map<uint32_t, SyscallTotal> per_nr;
  std::map<uint32_t, std::vector<ThreadShare>> threads;
  for (const auto& r : rows) {
    auto& t = per_nr[r.nr];
    t.count += r.count;
    t.errors += r.errors;
    t.total_ns += r.total_ns;
    t.max_ns = std::max(t.max_ns, r.max_ns);
    t.timed += r.timed;
    threads[r.nr].push_back({r.tgid, r.tid, r.comm, r.count, r.total_ns});
  }
  std::vector<SyscallTotal> out;
  for (auto& [nr, t] : per_nr) {
    t.name = syscall_name(nr);
    auto& th = threads[nr];
    std::sort(th.begin(), th.end(), [](const ThreadShare& a, const ThreadShare& b) {
      if (a.total_ns != b.total_ns) return a.total_ns > b.total_ns;
      if (a.count != b.count) return a.count > b.count;
      return a.tid < b.tid;
    });
    if (th.size() > kTopThreads) th.resize(kTopThreads);
    t.top_threads = std::move(th);
    out.push_back(std::move(t));
  }
  std::sort(out.begin(), out.end(), [](const SyscallTotal& a, const SyscallTotal& b) {
    if (a.total_ns != b.total_ns) return a.total_ns > b.total_ns;
    if (a.count != b.count) return a.count > b.count;
    return a.name < b.name;
  });
  return out;
}

std::vector<ProcessTotal> by_process(const std::vector<Row>& rows) {
  std::map<uint32_t, ProcessTotal> per_pid;
  std::map<uint32_t, std::vector<uint32_t>> tids;
  for (const auto& r : rows) {
    auto& p = per_pid[r.tgid];
    p.pid = r.tgid;
    // The process's name: its main thread's, else the first thread's seen.
    if (p.comm.empty() || (r.tid == r.tgid && !r.comm.empty())) p.comm = r.comm;
    p.count += r.count;
    p.errors += r.errors;
    p.total_ns += r.total_ns;
    tids[r.tgid].push_back(r.tid);
  }
  std::vector<ProcessTotal> out;
  for (auto& [pid, p] : per_pid) {
    auto& t = tids[pid];
    std::sort(t.begin(), t.end());
    p.threads = static_cast<uint32_t>(std::unique(t.begin(), t.end()) - t.begin());
    out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end(), [](const ProcessTotal& a, const ProcessTotal& b) {
    if (a.total_ns != b.total_ns) return a.total_ns > b.total_ns;
    if (a.count != b.count) return a.count > b.count;
    return a.pid < b.pid;
  });
  return out;
}

nlohmann::json summary_json(const std::vector<SyscallTotal>& totals) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& t : totals) {
    nlohmann::json top = nlohmann::json::array();
    for (const auto& th : t.top_threads)
      top.push_back({{"pid", th.pid},
                     {"tid", th.tid},
                     {"comm", th.comm},
                     {"count", th.count},
                     {"total_ns", th.total_ns}});
    arr.push_back({{"name", t.name},
                   {"count", t.count},
                   {"errors", t.errors},
                   {"total_ns", t.total_ns},
                   {"max_ns", t.max_ns},
                   {"timed", t.timed},
                   {"top_threads", std::move(top)}});
  }
  return arr;
}

event::EventRow interval_row(int64_t ts_ns, const Row& r, uint64_t count, uint64_t errors,
                             uint64_t total_ns) {
  static const auto& s = *event::schema_for("syscalls");
  static const size_t name = s.column("name"), count_col = s.column("count"),
                      errors_col = s.column("errors"), total_col = s.column("total_ns");
  auto row = event::make_row(s, ts_ns, r.tgid, r.tid, r.comm);
  row.values[name] = std::string(syscall_name(r.nr));
  row.values[count_col] = static_cast<int64_t>(count);
  row.values[errors_col] = static_cast<int64_t>(errors);
  row.values[total_col] = static_cast<int64_t>(total_ns);
  return row;
}

std::string format_syscall_table(const std::vector<SyscallTotal>& totals) {
  uint64_t total_ns = 0, calls = 0, errors = 0;
  for (const auto& t : totals) {
    total_ns += t.total_ns;
    calls += t.count;
    errors += t.errors;
  }
  const char* rule = "------ ----------- ----------- --------- --------- ----------------\n";
  std::string out = "% time     seconds  usecs/call     calls    errors syscall\n";
  out += rule;
  char buf[256];
  auto line = [&](double pct, uint64_t ns, uint64_t n, uint64_t err, const std::string& name) {
    std::string err_s = err ? std::to_string(err) : "";
    std::snprintf(buf, sizeof buf, "%6.2f %11s %11llu %9llu %9s %s\n", pct, seconds(ns, 6).c_str(),
                  static_cast<unsigned long long>(n ? ns / 1000 / n : 0),
                  static_cast<unsigned long long>(n), err_s.c_str(), name.c_str());
    out += buf;
  };
  for (const auto& t : totals)
    line(total_ns ? 100.0 * static_cast<double>(t.total_ns) / static_cast<double>(total_ns) : 0.0,
         t.total_ns, t.count, t.errors, t.name);
  out += rule;
  line(100.0, total_ns, calls, errors, "total");
  return out;
}

std::string format_process_table(const std::vector<ProcessTotal>& procs) {
  std::string out = "     PID COMM              THREADS       CALLS    ERRORS     SECONDS\n";
  char buf[256];
  for (const auto& p : procs) {
    std::snprintf(buf, sizeof buf, "%8u %-16s %8u %11llu %9llu %11s\n", p.pid, p.comm.c_str(),
                  p.threads, static_cast<unsigned long long>(p.count),
                  static_cast<unsigned long long>(p.errors), seconds(p.total_ns, 6).c_str());
    out += buf;
  }
  return out;
}

}  // namespace syscalls

namespace {

// comms_' key of a thread.
uint64_t thread_key(uint32_t tgid, uint32_t tid) { return (uint64_t{tid} << 32) | tgid; }

std::string comm_text(const syscall_comm& c) {
  return std::string(c.comm, strnlen(c.comm, sizeof(c.comm)));
}

// A thread's name when the kernel map has none (its comm map was full).
std::string proc_comm(uint32_t tgid, uint32_t tid) {
  std::ifstream f("/proc/" + std::to_string(tgid) + "/task/" + std::to_string(tid) + "/comm");
  std::string s;
  if (!std::getline(f, s)) return "?";
  return s;
}

class SyscallsFamily final : public SkeletonFamily<syscalls_bpf> {
 public:
  SyscallsFamily()
      : SkeletonFamily("syscalls", {syscalls_bpf__open, syscalls_bpf__load, syscalls_bpf__attach,
                                    syscalls_bpf__destroy}) {}
  ~SyscallsFamily() override { unmap_slots(); }

  Status start(const FamilyContext& ctx) override {
    auto& f = probe::Features::get();
    if (auto st = f.require(f.rdonly_cast, "bpf_rdonly_cast", "6.2"); !st) return st;
    auto st = load(
        ctx,
        [&](syscalls_bpf* s) -> Status {
          s->rodata->self_tgid = static_cast<uint32_t>(getpid());
          if (!ctx.syscall_dispatch) return Ok{};
          s->rodata->dispatch_enabled = true;
          return ctx.syscall_dispatch->reuse_in(s->maps.enter_handlers, s->maps.exit_handlers);
        },
        /*attach=*/false);
    if (!st) return st;
    // The slots are read in place: 5 MiB a second through the bpf syscall would cost more.
    slots_len_ = SYSCALL_SLOTS * sizeof(syscall_slot);
    slots_ = mmap(nullptr, slots_len_, PROT_READ, MAP_SHARED, bpf_map__fd(skel_->maps.slots), 0);
    if (slots_ == MAP_FAILED) {
      stop();
      return make_error("cannot map the syscall slots: " + errno_text(errno));
    }
    if (int err = syscalls_bpf__attach(skel_)) {
      stop();
      return make_error("cannot attach to raw_syscalls:sys_enter/sys_exit: " + errno_text(err));
    }
    return Ok{};
  }

  void tick(int64_t now_unix_ns) override {
    if (!skel_) return;
    read_stats();
    read_drops();
    if (ctx_.options.interval_rows) emit_intervals(now_unix_ns);
  }

  nlohmann::json summary_json() const override {
    return syscalls::summary_json(syscalls::by_syscall(all_rows()));
  }

  void print_summary(std::FILE* out) const override {
    auto rows = all_rows();
    auto totals = syscalls::by_syscall(rows);
    std::fprintf(out,
                 "Syscalls (time from entry to exit, blocking included; estimated from a "
                 "sample of the calls, counts exact)\n%s",
                 syscalls::format_syscall_table(totals).c_str());
    std::fprintf(out, "\nSyscalls by process\n%s",
                 syscalls::format_process_table(syscalls::by_process(rows)).c_str());
  }

  uint64_t events() const override { return counted_ + carried_count_; }

 private:
  // The last counters before the kernel's maps go: kept (and the interval rows out) for the
  // summary of a family that starts again with fresh maps.
  void before_stop() override {
    tick(unix_now_ns());
    for (const auto& r : rows_)
      if (r.tid) carried_.push_back(r);  // folded rows stay in exited_
    carried_count_ += counted_;
    for (const auto& r : exited_) carried_count_ -= r.count;
    rows_.clear();
    retired_.clear();
    counted_ = 0;
    monotonic_ = {};
    deltas_ = {};
    unmap_slots();
  }

  std::vector<syscalls::Row> all_rows() const {
    std::vector<syscalls::Row> rows = rows_;
    rows.insert(rows.end(), carried_.begin(), carried_.end());
    if (rows_.empty()) rows.insert(rows.end(), exited_.begin(), exited_.end());
    return rows;
  }

  void unmap_slots() {
    if (slots_ != MAP_FAILED) munmap(slots_, slots_len_);
    slots_ = MAP_FAILED;
  }

  void emit_intervals(int64_t ts_ns) {
    if (!wants_events()) return;
    for (const auto& r : rows_) {
      if (!r.tid) continue;  // the folded "(exited)" rows: their deltas went out before
      auto d = deltas_.update(uint64_t{r.tid} << 32 | r.nr, {r.count, r.errors, r.total_ns});
      if (!d) continue;
      families::emit(
          ctx_.sink, static_cast<uint64_t>(ts_ns),
          [&] { return syscalls::interval_row(ts_ns, r, (*d)[0], (*d)[1], (*d)[2]); },
          [](uint64_t) { return std::string(); });
    }
  }

  static syscalls::Row row_of(const syscall_key& k, const syscall_stats& v) {
    syscalls::Row r;
    r.tgid = k.tgid;
    r.tid = k.tid;
    r.nr = k.nr;
    r.count = v.count;
    r.errors = v.errors;
    r.total_ns = v.total_ns;
    r.max_ns = v.max_ns;
    r.timed = v.timed;
    return r;
  }

  // Exited threads keep their keys in `stats` (and `comms`): once `stats` is half full, their
  // final counters move to `retired_` and the keys are deleted, so that new threads still find
  // room. A thread is gone when /proc has no task for it; its exit has already flushed its slot,
  // and lookup-and-delete takes the final value. Past kMaxRetired rows, the retired rows are
  // folded into one "(exited)" row per syscall, which bounds memory on a long `scope up`.
  void retire_exited(std::vector<std::pair<syscall_key, syscall_stats>>& entries) {
    int stats_fd = bpf_map__fd(skel_->maps.stats);
    int comms_fd = bpf_map__fd(skel_->maps.comms);
    std::map<uint64_t, bool> gone;  // thread_key -> exited
    auto is_gone = [&](uint32_t tgid, uint32_t tid) {
      auto [it, added] = gone.try_emplace(thread_key(tgid, tid), false);
      if (added) it->second = discover::thread_exited(tgid, tid);
      return it->second;
    };
    std::vector<std::pair<syscall_key, syscall_stats>> kept;
    for (auto& [k, v] : entries) {
      if (!is_gone(k.tgid, k.tid)) {
        kept.emplace_back(k, v);
        continue;
      }
      syscall_stats final_v = v;
      if (bpf_map_lookup_and_delete_elem(stats_fd, &k, &final_v) != 0) {
        if (bpf_map_lookup_elem(stats_fd, &k, &final_v) == 0) bpf_map_delete_elem(stats_fd, &k);
      }
      retired_.push_back(row_of(k, final_v));
    }
    entries = std::move(kept);
    for (const auto& [tkey, exited] : gone) {
      if (!exited) continue;
      syscall_thread t{static_cast<uint32_t>(tkey), static_cast<uint32_t>(tkey >> 32)};
      syscall_comm c{};
      if (bpf_map_lookup_elem(comms_fd, &t, &c) == 0) {
        comms_[tkey] = comm_text(c);
        bpf_map_delete_elem(comms_fd, &t);
      }
    }
    if (retired_.size() > kMaxRetired) {
      for (const auto& r : retired_) {
        monotonic_.forget(r.tgid, r.tid, r.nr);
        deltas_.forget(uint64_t{r.tid} << 32 | r.nr);
        comms_.erase(thread_key(r.tgid, r.tid));
      }
      syscalls::fold_exited(exited_, retired_);
      retired_.clear();
    }
  }

  const std::string& comm_of(uint32_t tgid, uint32_t tid) {
    uint64_t tkey = thread_key(tgid, tid);
    auto it = comms_.find(tkey);
    if (it == comms_.end()) it = comms_.emplace(tkey, proc_comm(tgid, tid)).first;
    return it->second;
  }

  void read_stats() {
    auto entries = probe::read_hash_map<syscall_key, syscall_stats>(bpf_map__fd(skel_->maps.stats));
    if (entries.size() > bpf_map__max_entries(skel_->maps.stats) / 2) retire_exited(entries);
    std::vector<syscalls::Row> rows;
    rows.reserve(entries.size() + retired_.size());
    for (const auto& [k, v] : entries) rows.push_back(row_of(k, v));
    rows.insert(rows.end(), retired_.begin(), retired_.end());
    // After `stats`: counts a thread moves from its slot to `stats` in between are missed (and
    // held at the value read before) until the next read, never counted twice. A copy, since the
    // kernel writes the slots meanwhile.
    std::vector<syscall_slot> slots(SYSCALL_SLOTS);
    std::memcpy(slots.data(), slots_, slots_len_);
    syscalls::add_slot_counts(rows, slots);
    monotonic_.apply(rows);
    // The kernel rewrites a thread's comm when it makes a new syscall (after exec): the whole map
    // in one read, not one lookup per row.
    for (const auto& [t, c] :
         probe::read_hash_map<syscall_thread, syscall_comm>(bpf_map__fd(skel_->maps.comms)))
      comms_[thread_key(t.tgid, t.tid)] = comm_text(c);
    uint64_t counted = 0;
    for (auto& r : rows) {
      r.comm = comm_of(r.tgid, r.tid);
      counted += r.count;
    }
    // The folded rows of exited threads: in the totals, never in the interval events.
    for (const auto& r : exited_) counted += r.count;
    rows.insert(rows.end(), exited_.begin(), exited_.end());
    rows_ = std::move(rows);
    counted_ = counted;
  }

  IntervalDeltas<3> deltas_;  // count, errors, total_ns
  void* slots_ = MAP_FAILED;  // `slots`, mapped read-only
  size_t slots_len_ = 0;
  syscalls::MonotonicCounts monotonic_;
  std::vector<syscalls::Row> rows_;
  static constexpr size_t kMaxRetired = 100'000;  // ~25 MB with their bookkeeping
  std::vector<syscalls::Row> retired_;            // exited threads' final counters, out of `stats`
  std::vector<syscalls::Row> exited_;             // older ones, folded per syscall (pid 0)
  std::unordered_map<uint64_t, std::string> comms_;
  uint64_t counted_ = 0;
  std::vector<syscalls::Row> carried_;  // rows of the runs before a restart
  uint64_t carried_count_ = 0;
};

}  // namespace

std::unique_ptr<Family> make_syscalls_family() { return std::make_unique<SyscallsFamily>(); }

}  // namespace scope::families
