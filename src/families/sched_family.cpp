// The sched family: per-thread context switches, off-CPU time and run-queue
// latency, aggregated in the kernel (bpf/sched.bpf.c) and read from its map
// once a second and at the end.
#include "families/sched_family.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/clock.h"
#include "common/text.h"
#include "discover/proc_maps.h"
#include "families/interval_deltas.h"
#include "families/skeleton_family.h"
#include "probe/hash_map_read.h"
#include "sched.skel.h"

namespace scope::families {
namespace sched {

ThreadStats from_record(uint32_t tid, const sched_thread& rec) {
  ThreadStats s;
  s.pid = rec.tgid;
  s.tid = tid;
  s.comm.assign(rec.comm, strnlen(rec.comm, sizeof(rec.comm)));
  s.switches = rec.switches;
  s.voluntary = rec.voluntary;
  s.involuntary = rec.involuntary;
  s.offcpu_ns = rec.offcpu_ns;
  s.runq_ns = rec.runq_ns;
  s.runq_max_ns = rec.runq_max_ns;
  s.runq_waits = rec.runq_waits;
  return s;
}

namespace {

void add_counters(ThreadStats& into, const ThreadStats& more) {
  into.switches += more.switches;
  into.voluntary += more.voluntary;
  into.involuntary += more.involuntary;
  into.offcpu_ns += more.offcpu_ns;
  into.runq_ns += more.runq_ns;
  into.runq_max_ns = std::max(into.runq_max_ns, more.runq_max_ns);
  into.runq_waits += more.runq_waits;
}

}  // namespace

void merge(ThreadStats& into, const ThreadStats& more) {
  if (into.tid == 0) {
    into = more;
    return;
  }
  into.pid = more.pid;
  if (!more.comm.empty()) into.comm = more.comm;
  add_counters(into, more);
}

event::EventRow interval_row(int64_t ts_ns, const ThreadStats& t,
                             const std::array<uint64_t, 5>& delta) {
  static const auto& s = *event::schema_for("sched");
  static const size_t cols[5] = {s.column("switches"), s.column("voluntary"),
                                 s.column("involuntary"), s.column("offcpu_ns"),
                                 s.column("runq_ns")};
  auto row = event::make_row(s, ts_ns, t.pid, t.tid, t.comm);
  for (size_t i = 0; i < 5; ++i) row.values[cols[i]] = static_cast<int64_t>(delta[i]);
  return row;
}

std::vector<uint32_t> SchedTable::retire(const ThreadStats& s) {
  merge(retired_[s.tid], s);
  std::vector<uint32_t> folded;
  if (retired_.size() <= kMaxRetired) return folded;
  if (!folded_) {
    exited_ = ThreadStats{};
    exited_.comm = "(exited)";
    folded_ = true;
  }
  for (const auto& [tid, r] : retired_) {
    add_counters(exited_, r);
    folded.push_back(tid);
  }
  retired_.clear();
  return folded;
}

std::vector<ThreadStats> SchedTable::threads() const {
  std::map<uint32_t, ThreadStats> all = retired_;
  for (const auto& [tid, s] : live_) merge(all[tid], s);
  std::vector<ThreadStats> out;
  out.reserve(all.size() + 1);
  for (auto& [tid, s] : all) out.push_back(std::move(s));
  if (folded_) out.push_back(exited_);
  return out;
}

namespace {

template <typename Key>
std::vector<ThreadStats> top_by(std::vector<ThreadStats> threads, size_t limit, Key key,
                                bool skip_zero) {
  if (skip_zero)
    threads.erase(std::remove_if(threads.begin(), threads.end(),
                                 [&](const ThreadStats& s) { return key(s).first == 0; }),
                  threads.end());
  std::sort(threads.begin(), threads.end(), [&](const ThreadStats& a, const ThreadStats& b) {
    auto ka = key(a), kb = key(b);
    if (ka != kb) return ka > kb;
    return a.tid < b.tid;
  });
  if (threads.size() > limit) threads.resize(limit);
  return threads;
}

}  // namespace

std::vector<ThreadStats> top_by_total(std::vector<ThreadStats> threads, size_t limit) {
  return top_by(
      std::move(threads), limit, [](const ThreadStats& s) { return std::pair(s.total_ns(), 0ul); },
      false);
}

std::vector<ThreadStats> top_by_runq(std::vector<ThreadStats> threads, size_t limit) {
  return top_by(
      std::move(threads), limit,
      [](const ThreadStats& s) { return std::pair(s.runq_ns, s.runq_max_ns); }, true);
}

std::vector<ThreadStats> top_by_offcpu(std::vector<ThreadStats> threads, size_t limit) {
  return top_by(
      std::move(threads), limit,
      [](const ThreadStats& s) { return std::pair(s.offcpu_ns, s.switches); }, true);
}

nlohmann::json summary_json(const std::vector<ThreadStats>& threads, size_t limit) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& s : top_by_total(threads, limit))
    arr.push_back({{"pid", s.pid},
                   {"tid", s.tid},
                   {"comm", s.comm},
                   {"switches", s.switches},
                   {"voluntary", s.voluntary},
                   {"involuntary", s.involuntary},
                   {"offcpu_ns", s.offcpu_ns},
                   {"runq_ns", s.runq_ns},
                   {"runq_max_ns", s.runq_max_ns}});
  return arr;
}

std::string format_duration(uint64_t ns) {
  char buf[32];
  double v = static_cast<double>(ns);
  if (ns == 0)
    return "0";
  else if (ns < 1000)
    std::snprintf(buf, sizeof buf, "%llu ns", static_cast<unsigned long long>(ns));
  else if (ns < 1000000)
    std::snprintf(buf, sizeof buf, "%.1f us", v / 1e3);
  else if (ns < 1000000000)
    std::snprintf(buf, sizeof buf, "%.2f ms", v / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.2f s", v / 1e9);
  return buf;
}

void print_tables(std::FILE* out, const std::vector<ThreadStats>& threads, size_t rows) {
  uint64_t switches = 0, vol = 0, invol = 0, runq = 0, offcpu = 0;
  for (const auto& s : threads) {
    switches += s.switches;
    vol += s.voluntary;
    invol += s.involuntary;
    runq += s.runq_ns;
    offcpu += s.offcpu_ns;
  }
  std::fprintf(out,
               "sched: %zu threads, %llu context switches (%llu voluntary, %llu involuntary), "
               "run-queue wait %s, off-CPU %s\n",
               threads.size(), static_cast<unsigned long long>(switches),
               static_cast<unsigned long long>(vol), static_cast<unsigned long long>(invol),
               format_duration(runq).c_str(), format_duration(offcpu).c_str());
  auto hungry = top_by_runq(threads, rows);
  if (!hungry.empty()) {
    std::fprintf(out, "\nhungriest threads (run-queue latency)\n");
    std::fprintf(out, "%8s %8s  %-16s %12s %8s %12s %12s %8s\n", "PID", "TID", "COMM", "RUNQ",
                 "WAITS", "AVG", "MAX", "INVOL");
    for (const auto& s : hungry)
      std::fprintf(
          out, "%8u %8u  %-16s %12s %8llu %12s %12s %8llu\n", s.pid, s.tid, s.comm.c_str(),
          format_duration(s.runq_ns).c_str(), static_cast<unsigned long long>(s.runq_waits),
          format_duration(s.runq_waits ? s.runq_ns / s.runq_waits : 0).c_str(),
          format_duration(s.runq_max_ns).c_str(), static_cast<unsigned long long>(s.involuntary));
  }
  auto off = top_by_offcpu(threads, rows);
  if (!off.empty()) {
    std::fprintf(out, "\nmost off-CPU threads\n");
    std::fprintf(out, "%8s %8s  %-16s %12s %10s %10s %10s\n", "PID", "TID", "COMM", "OFF-CPU",
                 "SWITCHES", "VOLUNTARY", "INVOL");
    for (const auto& s : off)
      std::fprintf(out, "%8u %8u  %-16s %12s %10llu %10llu %10llu\n", s.pid, s.tid, s.comm.c_str(),
                   format_duration(s.offcpu_ns).c_str(),
                   static_cast<unsigned long long>(s.switches),
                   static_cast<unsigned long long>(s.voluntary),
                   static_cast<unsigned long long>(s.involuntary));
  }
}

}  // namespace sched

namespace {

class SchedFamily final : public SkeletonFamily<sched_bpf> {
 public:
  SchedFamily()
      : SkeletonFamily("sched",
                       {sched_bpf__open, sched_bpf__load, sched_bpf__attach, sched_bpf__destroy}) {}

  Status start(const FamilyContext& ctx) override { return load(ctx, nullptr); }

  void tick(int64_t now_unix_ns) override {
    if (!skel_) return;
    int fd = bpf_map__fd(skel_->maps.threads);
    std::map<uint32_t, sched::ThreadStats> live;
    read_all(fd, live);
    // Threads that have exited keep their entry; when the map is half full,
    // move them out so new threads still find room.
    if (live.size() > SCHED_MAX_THREADS / 2) {
      for (auto it = live.begin(); it != live.end();) {
        if (discover::thread_exited(it->second.pid, it->first)) {
          uint32_t tid = it->first;
          sched_thread rec{};
          if (bpf_map_lookup_elem(fd, &tid, &rec) == 0) it->second = sched::from_record(tid, rec);
          bpf_map_delete_elem(fd, &tid);
          for (uint32_t gone : table_.retire(it->second)) deltas_.forget(gone);
          it = live.erase(it);
        } else {
          ++it;
        }
      }
    }
    table_.set_live(std::move(live));
    uint64_t switches = 0;
    for (const auto& t : table_.threads()) switches += t.switches;
    events_ = switches;
    read_drops();
    if (ctx_.options.interval_rows) emit_intervals(now_unix_ns);
  }

  nlohmann::json summary_json() const override { return sched::summary_json(table_.threads()); }
  void print_summary(std::FILE* out) const override { sched::print_tables(out, table_.threads()); }

 private:
  // The map goes with the skeleton: its threads' counters are kept as retired ones, to which a
  // restart's new counters add.
  void before_stop() override {
    tick(unix_now_ns());
    for (const auto& t : table_.threads())
      if (t.tid)
        for (uint32_t gone : table_.retire(t)) deltas_.forget(gone);
    table_.set_live({});
  }

  void emit_intervals(int64_t ts_ns) {
    if (!wants_events()) return;
    for (const auto& t : table_.threads()) {
      if (!t.tid) continue;  // the folded "(exited)" row: its deltas went out before
      auto d =
          deltas_.update(t.tid, {t.switches, t.voluntary, t.involuntary, t.offcpu_ns, t.runq_ns});
      if (!d) continue;
      families::emit(
          ctx_.sink, static_cast<uint64_t>(ts_ns),
          [&] { return sched::interval_row(ts_ns, t, *d); },
          [](uint64_t) { return std::string(); });
    }
  }

  static void read_all(int fd, std::map<uint32_t, sched::ThreadStats>& out) {
    for (const auto& [tid, rec] : probe::read_hash_map<uint32_t, sched_thread>(fd))
      out[tid] = sched::from_record(tid, rec);
  }

  IntervalDeltas<5> deltas_;  // switches, voluntary, involuntary, offcpu_ns, runq_ns
  sched::SchedTable table_;
};

}  // namespace

std::unique_ptr<Family> make_sched_family() { return std::make_unique<SchedFamily>(); }

}  // namespace scope::families
