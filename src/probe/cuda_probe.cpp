#include "probe/cuda_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>

#include "bpf/shared/cuda.h"
#include "common/text.h"
#include "cuda.skel.h"
#include "probe/drop_counters.h"

namespace scope::probe {

void ensure_tracefs() {
  struct stat st {};
  if (::stat("/sys/kernel/tracing/events", &st) == 0) return;
  if (::mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0)
    spdlog::debug("could not mount tracefs: {}", errno_text(errno));
}

Result<std::unique_ptr<CudaProbe>> CudaProbe::open(const CudaProbeOptions& options) {
  ensure_tracefs();
  std::unique_ptr<CudaProbe> probe(new CudaProbe());
  probe->skel_ = cuda_bpf__open();
  if (!probe->skel_) return make_error("cannot open the cuda BPF object: " + errno_text(errno));
  if (!options.filter) return make_error("internal: the cuda probe needs a target filter");
  if (auto st = options.filter->apply(probe->skel_); !st) return make_error(st.error());
  probe->skel_->rodata->wakeup_bytes = options.wakeup_bytes;
  probe->skel_->rodata->hold_cuda_loads = options.hold_cuda_loads;
  // The openat tracepoint costs every process a trip through the tracing
  // slow path: loaded only when it is needed.
  bpf_program__set_autoload(probe->skel_->progs.cuda_lib_open, options.hold_cuda_loads);
  uint64_t ring = 4096;
  while (ring < options.ring_bytes) ring <<= 1;  // a power of two, as the kernel wants
  bpf_map__set_max_entries(probe->skel_->maps.events, ring);
  bool multi = options.uprobe_multi && kernel_has_uprobe_multi();
  if (multi) {
    set_uprobe_multi({probe->skel_->progs.call_entry, probe->skel_->progs.call_return,
                      probe->skel_->progs.driver_launch, probe->skel_->progs.name_entry,
                      probe->skel_->progs.name_return});
  }
  probe->links_ = std::make_unique<UprobeLinks>(multi);
  if (int err = cuda_bpf__load(probe->skel_)) {
    return make_error("cannot load the cuda BPF programs (" + errno_text(err) +
                      "): scope needs root or CAP_BPF+CAP_PERFMON and a kernel with BTF");
  }
  for (bpf_program* prog : {probe->skel_->progs.on_exec, probe->skel_->progs.on_exit,
                            probe->skel_->progs.cuda_lib_open}) {
    if (!bpf_program__autoload(prog)) continue;
    bpf_link* link = bpf_program__attach(prog);
    if (!link) {
      return make_error(std::string("cannot attach ") + bpf_program__name(prog) + ": " +
                        errno_text(errno));
    }
    probe->links_->keep("tracepoints", link);
  }
  return probe;
}

CudaProbe::~CudaProbe() {
  if (ring_) ring_buffer__free(ring_);
  links_.reset();  // before the programs they point at
  if (skel_) cuda_bpf__destroy(skel_);
}

Result<size_t> CudaProbe::attach(const std::string& group, const std::string& path,
                                 const std::vector<ProbePoint>& points, ProbeKind kind) {
  bpf_program* entry = nullptr;
  bpf_program* ret = nullptr;
  switch (kind) {
    case ProbeKind::kCall:
      entry = skel_->progs.call_entry;
      ret = skel_->progs.call_return;
      break;
    case ProbeKind::kDriverLaunch:
      entry = skel_->progs.driver_launch;
      break;
    case ProbeKind::kName:
      entry = skel_->progs.name_entry;
      ret = skel_->progs.name_return;
      break;
  }
  return links_->attach(group, path, points, entry, ret);
}

Status CudaProbe::attach_loader_hook(const std::string& group, const std::string& ldso_path,
                                     uint64_t offset, int64_t r_debug_delta) {
  if (auto st = links_->attach_one(group, ldso_path, offset, skel_->progs.loader_debug_state,
                                   static_cast<uint64_t>(r_debug_delta));
      !st)
    return st;
  struct stat st {};
  if (::stat(ldso_path.c_str(), &st) == 0) {
    loader_file key{major(st.st_dev), minor(st.st_dev), st.st_ino};
    uint8_t one = 1;
    // Without the entry a process is only held at exec as well: slower, never less safe.
    (void)bpf_map_update_elem(bpf_map__fd(skel_->maps.hooked_loaders), &key, &one, BPF_ANY);
  }
  return Ok{};
}

void CudaProbe::detach(const std::string& group) { links_->detach(group); }

Status CudaProbe::open_ring(RecordFn fn, void* ctx) {
  ring_ = ring_buffer__new(bpf_map__fd(skel_->maps.events), fn, ctx, nullptr);
  if (!ring_) return make_error("cannot open the ring buffer: " + errno_text(errno));
  return Ok{};
}

int CudaProbe::poll(int timeout_ms) {
  int n = ring_buffer__poll(ring_, timeout_ms);
  if (n < 0) return n;
  // Producers wake us only past `wakeup_bytes`: drain what is below it too.
  int m = ring_buffer__consume(ring_);
  return m < 0 ? m : n + m;
}

int CudaProbe::consume() { return ring_buffer__consume(ring_); }

uint64_t CudaProbe::dropped() const { return total_drops(skel_->maps.dropped); }

}  // namespace scope::probe
