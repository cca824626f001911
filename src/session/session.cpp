#include "session/session.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "common/clock.h"
#include "families/registry.h"

namespace scope::session {

namespace {

// exec, open and net put their syscalls into the syscalls family's dispatch when both run.
bool dispatched(const std::set<std::string>& set) {
  return set.count("syscalls") && (set.count("exec") || set.count("open") || set.count("net"));
}

// Alive and not a zombie waiting for its parent.
bool process_alive(uint32_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z' &&
         line[close + 2] != 'X';
}

}  // namespace

Result<std::unique_ptr<Session>> Session::open(const SessionOptions& options,
                                               families::EventSink* sink) {
  std::unique_ptr<Session> s(new Session(options, sink));
  s->mono_to_unix_ = mono_to_unix_ns();
  s->next_tick_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  return s;
}

Session::~Session() {
  if (watch_) watch_->release_held();
  (void)poller_.set_data({});
  (void)poller_.set_control({-1, nullptr, nullptr});
  // Each detach waits for RCU grace periods: every family at once.
  std::vector<std::thread> stoppers;
  for (auto& f : families_)
    if (f->running()) stoppers.emplace_back([&f] { f->stop(); });
  for (auto& t : stoppers) t.join();
  families_.clear();
  watch_.reset();
}

families::Family* Session::family(const std::string& name) const {
  for (const auto& f : families_)
    if (f->name() == name) return f.get();
  return nullptr;
}

std::set<std::string> Session::running() const {
  std::set<std::string> out;
  for (const auto& f : families_)
    if (f->running()) out.insert(std::string(f->name()));
  return out;
}

Status Session::ensure_filter() {
  if (filter_) return Ok{};
  auto filter = probe::TargetFilter::open(options_.filter);
  if (!filter) return filter.failure();
  filter_ = std::move(filter.value());
  return Ok{};
}

Status Session::start(const std::string& name) {
  auto want = running();
  want.insert(name);
  return apply(want);
}

Status Session::stop(const std::string& name) {
  auto want = running();
  want.erase(name);
  return apply(want);
}

Status Session::apply(const std::set<std::string>& wanted) {
  for (const auto& name : wanted)
    if (!families::make_family(name))
      return make_error(Errc::kBadInput, "no probe family '" + name + "' in this build");
  std::set<std::string> now = running();
  // The syscalls family and the families riding its dispatch restart when it comes or goes.
  bool dispatch_after = dispatched(wanted);
  std::set<std::string> restart;
  if (dispatch_after != (dispatch_ != nullptr))
    for (const auto& name : now)
      if (wanted.count(name) && (name == "syscalls" || family(name)->handles_syscalls()))
        restart.insert(name);
  std::set<std::string> starting = restart;
  for (const auto& name : wanted)
    if (!now.count(name)) starting.insert(name);

  // Stop first. What they hold in their rings is read while the rings are there; the rings of
  // the others are set again before the maps go.
  std::vector<families::Family*> stopping;
  for (const auto& name : now)
    if (!wanted.count(name) || restart.count(name)) stopping.push_back(family(name));
  if (!stopping.empty()) {
    (void)poller_.consume_all();
    for (auto* f : stopping) f->tick(unix_now_ns());
    std::vector<probe::RingPoller::Ring> rings;
    for (const auto& f : families_)
      if (f->running() && f->ring_map_fd() >= 0 &&
          std::find(stopping.begin(), stopping.end(), f.get()) == stopping.end())
        rings.push_back({f->ring_map_fd(), &Session::on_record, f.get()});
    (void)poller_.set_data(rings);
    std::vector<std::thread> stoppers;
    for (auto* f : stopping) stoppers.emplace_back([f] { f->stop(); });
    for (auto& t : stoppers) t.join();
  }
  if (!dispatch_after) dispatch_.reset();

  Status first = Ok{};
  for (const auto& name : starting) start_errors_.erase(name);
  auto fail = [&first, this](const std::string& name, const Status& st) {
    spdlog::warn("scope: {}: {}", name, st.error());
    start_errors_[name] = st.error();
    if (first) first = prefixed(st.failure(), name + ": ");
  };
  if (!starting.empty()) {
    if (auto st = ensure_filter(); !st) {
      for (const auto& name : starting) start_errors_[name] = st.error();
      return st;
    }
    if (dispatch_after && !dispatch_) {
      auto d = probe::SyscallDispatch::create();
      if (!d) return prefixed(d.failure(), "syscalls: ");
      dispatch_ = *d;
    }
    // The syscalls family first: without it the others must not wait for its tail calls.
    std::vector<std::string> order;
    if (starting.count("syscalls")) order.push_back("syscalls");
    for (const auto& name : families::known_families())
      if (starting.count(name) && name != "syscalls") order.push_back(name);
    for (const auto& name : order) {
      families::Family* f = family(name);
      if (!f) {
        families_.push_back(families::make_family(name));
        f = families_.back().get();
      }
      families::FamilyContext ctx;
      ctx.filter = filter_.get();
      ctx.mono_to_unix_ns = mono_to_unix_;
      ctx.sink = sink_;
      ctx.options = options_.family;
      if (dispatch_ && (name == "syscalls" || f->handles_syscalls()))
        ctx.syscall_dispatch = dispatch_;
      if (auto st = f->start(ctx); !st) {
        fail(name, st);
        if (name == "syscalls" && dispatch_) {
          // The riders stay on their own tracepoints.
          dispatch_.reset();
        }
      }
    }
    // Families in the order they were made known: summaries and starts read in that order.
    const auto& known = families::known_families();
    std::stable_sort(families_.begin(), families_.end(), [&](const auto& a, const auto& b) {
      return std::find(known.begin(), known.end(), a->name()) <
             std::find(known.begin(), known.end(), b->name());
    });
  }
  if (auto st = rebuild_rings(); !st && first) first = st;
  bool new_library = false;
  for (const auto& name : starting)
    if (auto* f = family(name); f && f->running() && f->libraries()) new_library = true;
  update_watch(new_library);
  std::vector<const families::Family*> all;
  for (const auto& f : families_)
    if (f->running()) all.push_back(f.get());
  for (const auto& f : families_) f->see_families(all);
  // With no family left, nothing of scope stays in the kernel (unless pids were added, which
  // the filter keeps).
  if (all.empty() && !explicit_targets_) filter_.reset();
  return first;
}

Status Session::rebuild_rings() {
  std::vector<probe::RingPoller::Ring> rings;
  for (const auto& f : families_)
    if (f->running() && f->ring_map_fd() >= 0)
      rings.push_back({f->ring_map_fd(), &Session::on_record, f.get()});
  return poller_.set_data(rings);
}

int Session::on_record(void* ctx, void* data, size_t size) {
  return static_cast<families::Family*>(ctx)->handle_record(data, size);
}

void Session::update_watch(bool rescan) {
  std::vector<families::LibraryListener*> listeners;
  for (const auto& f : families_)
    if (f->running())
      if (auto* l = f->libraries()) listeners.push_back(l);
  if (listeners.empty()) {
    if (!watch_) return;
    const auto& s = watch_->stats();
    watch_before_.events += s.events;
    watch_before_.bad_events += s.bad_events;
    watch_before_.held_at_exec += s.held_at_exec;
    watch_before_.held_at_loader += s.held_at_loader;
    watch_dropped_before_ += watch_->dropped();
    (void)poller_.set_control({-1, nullptr, nullptr});
    watch_.reset();
    return;
  }
  if (!watch_) {
    ProcessWatchOptions wo;
    wo.filter = filter_.get();
    wo.hold_library_loads = options_.hold_library_loads;
    auto w = ProcessWatch::start(wo);
    if (!w) {
      spdlog::warn("scope: the process watch cannot start: {}", w.error());
      return;
    }
    watch_ = std::move(w.value());
    watch_->set_before_process_event([this] { (void)poller_.consume_data(); });
    if (auto st =
            poller_.set_control({watch_->ring_map_fd(), &ProcessWatch::on_record, watch_.get()});
        !st)
      spdlog::warn("scope: {}", st.error());
    rescan = true;
  }
  watch_->set_listeners(listeners);
  if (!rescan) return;
  if (options_.filter.enabled) {  // pids added (not comm or cgroup): those and their children
    for (uint32_t pid : filter_->traced_pids())
      if (process_alive(pid)) (void)watch_->scan_process(pid);
  } else {
    watch_->scan_all_processes();
  }
}

Status Session::follow(uint32_t pid, uint32_t flags) {
  if (auto st = ensure_filter(); !st) return st;
  explicit_targets_ = true;
  return filter_->add(pid, flags);
}

std::vector<uint32_t> Session::live_targets() const {
  std::vector<uint32_t> out;
  if (!filter_) return out;
  for (uint32_t pid : filter_->traced_pids())
    if (process_alive(pid)) out.push_back(pid);
  return out;
}

Result<size_t> Session::scan_process(uint32_t pid) {
  if (!watch_) return size_t{0};
  return watch_->scan_process(pid);
}

void Session::prepare_command(const std::string& exe, const std::vector<std::string>& environ) {
  if (watch_) watch_->prepare_command(exe, environ);
}

void Session::release_held() {
  if (watch_) watch_->release_held();
}

int Session::poll(int timeout_ms) {
  int n = poller_.poll(timeout_ms);
  tick(false);
  return n;
}

void Session::tick(bool force) {
  auto now = std::chrono::steady_clock::now();
  if (!force && now < next_tick_) return;
  next_tick_ = now + std::chrono::seconds(1);
  int64_t ts = unix_now_ns();
  for (const auto& f : families_)
    if (f->running()) f->tick(ts);
}

void Session::finish() {
  while (poller_.consume_all() > 0) {
  }
  release_held();
  tick(true);
  for (const auto& f : families_) f->finish();
}

SessionStats Session::stats() const {
  SessionStats s;
  WatchStats w = watch_before_;
  uint64_t watch_dropped = watch_dropped_before_;
  if (watch_) {
    const auto& now = watch_->stats();
    w.bad_events += now.bad_events;
    w.held_at_exec += now.held_at_exec;
    w.held_at_loader += now.held_at_loader;
    watch_dropped += watch_->dropped();
  }
  for (const auto& f : families_) {
    s.events += f->events();
    s.dropped += f->dropped();
    s.undecodable += f->undecodable();
  }
  s.dropped += watch_dropped + w.bad_events;
  s.undecodable += w.bad_events;
  s.held_at_exec = w.held_at_exec;
  s.held_at_loader = w.held_at_loader;
  return s;
}

nlohmann::json Session::summary_json() const {
  nlohmann::json j = {{"event", "summary"}};
  for (const auto& f : families_) j[std::string(f->name())] = f->summary_json();
  auto s = stats();
  j["held"] = {{"at_exec", s.held_at_exec}, {"at_loader", s.held_at_loader}};
  j["events"] = s.events;
  j["dropped"] = s.dropped;
  return j;
}

void Session::print_summary(std::FILE* out) const {
  for (const auto& f : families_) {
    std::fprintf(out, "\n");
    f->print_summary(out);
  }
  auto s = stats();
  std::fprintf(out, "\n%llu events, %llu dropped\n", static_cast<unsigned long long>(s.events),
               static_cast<unsigned long long>(s.dropped));
}

std::vector<std::string> Session::attached_files() const {
  std::vector<std::string> out;
  for (const auto& f : families_)
    if (auto* l = f->libraries())
      for (const auto& p : l->attached_files()) out.push_back(p);
  return out;
}

bool Session::found_libraries() const {
  for (const auto& f : families_)
    if (auto* l = f->libraries(); l && l->found_libraries()) return true;
  return false;
}

std::string Session::looked_for() const {
  std::string out;
  for (const auto& f : families_)
    if (auto* l = f->libraries()) out += (out.empty() ? "" : ", ") + l->looked_for();
  return out;
}

}  // namespace scope::session
