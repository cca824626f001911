#include "agent/collector.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <thread>

namespace scope::agent {

namespace {

uint64_t unix_now_ns() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return uint64_t(now.tv_sec) * 1000000000 + uint64_t(now.tv_nsec);
}

}  // namespace

Result<std::unique_ptr<Collector>> Collector::start(const CollectorOptions& o, RowSink sink) {
  auto families = families::parse_probe_list(o.probes, o.explicit_probes);
  if (!families) return make_error(families.error());
  if (o.comm.size() > 15)
    return make_error("--comm '" + o.comm + "' is longer than the kernel's 15-character comm");
  uint64_t cgroup_id = 0;
  if (!o.cgroup.empty()) {
    auto id = probe::cgroup_id_of(o.cgroup);
    if (!id) return make_error(id.error());
    cgroup_id = *id;
  }

  std::unique_ptr<Collector> c(new Collector());
  c->sink_ = std::move(sink);
  c->families_ = *families;
  Collector* self = c.get();
  c->out_.json = true;
  c->out_.record = [self](const nlohmann::json& event) {
    auto row = event::row_from_json(event);
    if (!row) {
      ++self->bad_events_;
      spdlog::debug("scope: event not stored: {}", row.error());
      return;
    }
    ++self->events_;
    self->sink_(std::move(row.value()));
  };

  probe::ensure_tracefs();
  probe::TargetFilterOptions fopts;
  fopts.comm = o.comm;
  fopts.cgroup_id = cgroup_id;
  auto filter = probe::TargetFilter::open(fopts);
  if (!filter) return make_error(filter.error());
  c->filter_ = std::move(filter.value());

  families::FamilyContext fctx;
  fctx.filter = c->filter_.get();
  fctx.mono_to_unix_ns = mono_to_unix_ns();
  fctx.out = &c->out_;
  fctx.options.open_skip_pseudo_fs = o.open_skip_pseudo;
  auto host = families::start_families(c->families_, fctx, c->poller_);
  if (!host) return make_error(host.error());
  c->host_ = std::move(host.value());
  // The cuda tracer: the cuda family, and the process watch that hands the
  // library families (llama, ggml) the files processes map.
  bool library_families = false;
  for (const auto& f : c->host_) library_families |= f->probes_libraries();
  if (c->families_.count("cuda") || library_families) {
    CudaTracerOptions topts;
    topts.filter = c->filter_.get();
    topts.ring_bytes = o.ring_mb << 20;
    topts.wakeup_bytes = o.wakeup_bytes;
    topts.hold_cuda_loads = true;
    topts.cuda = c->families_.count("cuda") != 0;
    if (library_families) {
      topts.on_library = [self](uint32_t pid, const std::string& path) {
        bool any = false;
        for (auto& f : self->host_)
          if (f->probes_libraries()) any |= f->on_library(pid, path);
        return any;
      };
    }
    auto tracer = CudaTracer::create(
        topts,
        [self](const CudaEvent& ev) {
          ++self->events_;
          self->sink_(event::row_from_cuda(ev));
        },
        [self](uint32_t pid, int) {
          for (auto& f : self->host_) f->on_process_exit(pid);
        });
    if (!tracer) return make_error("cuda: " + tracer.error());
    c->tracer_ = std::move(tracer.value());
  }
  if (c->tracer_) {
    c->tracer_->attach_host_driver();
    c->tracer_->scan_all_processes();
  }
  c->next_tick_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  return c;
}

Collector::~Collector() {
  // Detach every family at once: each detach waits for RCU grace periods.
  std::vector<std::thread> detachers;
  for (auto& f : host_) detachers.emplace_back([&f] { f.reset(); });
  if (tracer_) detachers.emplace_back([this] { tracer_.reset(); });
  for (auto& t : detachers) t.join();
}

int Collector::poll(int timeout_ms) {
  int n = tracer_ ? tracer_->poll(timeout_ms) : poller_.poll(timeout_ms);
  if (tracer_ && !poller_.empty()) {
    int m = poller_.consume();
    if (n >= 0 && m > 0) n += m;
  }
  tick(false);
  return n;
}

void Collector::tick(bool force) {
  auto now = std::chrono::steady_clock::now();
  if (!force && now < next_tick_) return;
  next_tick_ = now + std::chrono::seconds(1);
  uint64_t ts = unix_now_ns();
  for (auto& f : host_) {
    f->tick();
    f->emit_interval_events(ts);
  }
}

void Collector::drain() {
  if (tracer_) {
    tracer_->drain();
    tracer_->release_held();
  }
  if (!poller_.empty())
    while (poller_.consume() > 0) {
    }
  tick(true);
}

CollectorStats Collector::stats() const {
  CollectorStats s;
  s.events = events_;
  s.bad_events = bad_events_;
  if (tracer_) {
    const auto& ts = tracer_->stats();
    s.dropped += tracer_->dropped() + ts.decode_errors;
    s.held_at_exec = ts.held_at_exec;
    s.held_at_loader = ts.held_at_loader;
  }
  for (const auto& f : host_) s.dropped += f->dropped();
  return s;
}

std::vector<std::string> Collector::attached_files() const {
  return tracer_ ? tracer_->attached_files() : std::vector<std::string>{};
}

}  // namespace scope::agent
