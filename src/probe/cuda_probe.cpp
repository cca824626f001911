#include "probe/cuda_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "bpf/shared/cuda.h"
#include "common/text.h"
#include "cuda.skel.h"
#include "probe/drop_counters.h"

namespace scope::probe {

namespace {

// Not in Debian's libbpf 1.1 nor its 6.1 UAPI headers: the values of the
// running kernel's UAPI (include/uapi/linux/bpf.h, 6.6+).
constexpr uint32_t kBpfTraceUprobeMulti = 48;
constexpr uint32_t kBpfFUprobeMultiReturn = 1;

// BPF_LINK_CREATE for uprobe_multi, laid out as union bpf_attr's link_create.
struct UprobeMultiAttr {
  uint32_t prog_fd;
  uint32_t target_fd;
  uint32_t attach_type;
  uint32_t flags;
  uint64_t path;
  uint64_t offsets;
  uint64_t ref_ctr_offsets;
  uint64_t cookies;
  uint32_t cnt;
  uint32_t multi_flags;
  uint32_t pid;
  uint32_t pad;
  uint8_t tail[64];  // the rest of union bpf_attr: zero
};
static_assert(offsetof(UprobeMultiAttr, path) == 16 && offsetof(UprobeMultiAttr, cnt) == 48);

// Closes link fds from several threads: each close waits for a grace period.
void close_all(std::vector<int> fds) {
  std::vector<std::thread> threads;
  for (int fd : fds) threads.emplace_back([fd] { ::close(fd); });
  for (auto& t : threads) t.join();
}

}  // namespace

bool kernel_has_uprobe_multi() {
  const char* off = std::getenv("SCOPE_NO_UPROBE_MULTI");
  if (off && *off && std::strcmp(off, "0") != 0) return false;
  utsname u{};
  if (uname(&u) != 0) return false;
  int major = 0, minor = 0;
  if (std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > 6 || (major == 6 && minor >= 6);
}

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
  probe->multi_ = options.uprobe_multi && kernel_has_uprobe_multi();
  if (probe->multi_) {
    for (bpf_program* prog : {probe->skel_->progs.call_entry, probe->skel_->progs.call_return,
                              probe->skel_->progs.driver_launch, probe->skel_->progs.name_entry,
                              probe->skel_->progs.name_return})
      bpf_program__set_expected_attach_type(prog,
                                            static_cast<bpf_attach_type>(kBpfTraceUprobeMulti));
  }
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
    probe->links_["tracepoints"].push_back(link);
  }
  return probe;
}

CudaProbe::~CudaProbe() {
  if (ring_) ring_buffer__free(ring_);
  std::vector<int> fds;
  for (auto& [group, links] : multi_links_) fds.insert(fds.end(), links.begin(), links.end());
  close_all(std::move(fds));
  for (auto& [group, links] : links_)
    for (bpf_link* link : links) bpf_link__destroy(link);
  if (skel_) cuda_bpf__destroy(skel_);
}

Result<int> CudaProbe::attach_multi(bpf_program* prog, const std::string& path,
                                    const std::vector<ProbePoint>& points, bool retprobe) {
  std::vector<uint64_t> offsets, cookies;
  for (const auto& p : points) {
    offsets.push_back(p.offset);
    cookies.push_back(p.call);
  }
  UprobeMultiAttr attr{};
  attr.prog_fd = static_cast<uint32_t>(bpf_program__fd(prog));
  attr.attach_type = kBpfTraceUprobeMulti;
  attr.path = reinterpret_cast<uint64_t>(path.c_str());
  attr.offsets = reinterpret_cast<uint64_t>(offsets.data());
  attr.cookies = reinterpret_cast<uint64_t>(cookies.data());
  attr.cnt = static_cast<uint32_t>(points.size());
  attr.multi_flags = retprobe ? kBpfFUprobeMultiReturn : 0;
  long fd = syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
  if (fd < 0) return make_error("cannot attach uprobes to " + path + ": " + errno_text(errno));
  return static_cast<int>(fd);
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
  if (multi_) {
    if (points.empty()) return size_t{0};
    // Return probes first: once an entry fires, its return must be seen too,
    // or the per-thread depth count would go wrong.
    std::vector<int> fds;
    for (bpf_program* prog : {ret, entry}) {
      if (!prog) continue;
      auto fd = attach_multi(prog, path, points, prog == ret);
      if (!fd) {
        close_all(std::move(fds));
        return make_error(fd.error());
      }
      fds.push_back(*fd);
    }
    auto& group_fds = multi_links_[group];
    group_fds.insert(group_fds.end(), fds.begin(), fds.end());
    return points.size();
  }
  auto& links = links_[group];
  size_t attached = 0;
  for (const ProbePoint& point : points) {
    // Return probe first: once the entry fires, its return must be seen too,
    // or the per-thread depth count would go wrong.
    for (bpf_program* prog : {ret, entry}) {
      if (!prog) continue;
      LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = point.call, .retprobe = prog == ret);
      bpf_link* link = bpf_program__attach_uprobe_opts(prog, -1, path.c_str(), point.offset, &opts);
      if (!link) {
        int err = errno;
        if (links.empty()) links_.erase(group);
        return make_error("cannot attach a uprobe to " + path + " at offset " +
                          std::to_string(point.offset) + ": " + errno_text(err));
      }
      links.push_back(link);
    }
    ++attached;
  }
  return attached;
}

Status CudaProbe::attach_loader_hook(const std::string& group, const std::string& ldso_path,
                                     uint64_t offset) {
  LIBBPF_OPTS(bpf_uprobe_opts, opts);
  bpf_link* link = bpf_program__attach_uprobe_opts(skel_->progs.loader_debug_state, -1,
                                                   ldso_path.c_str(), offset, &opts);
  if (!link) return make_error("cannot attach to " + ldso_path + ": " + errno_text(errno));
  links_[group].push_back(link);
  return Ok{};
}

void CudaProbe::detach(const std::string& group) {
  if (auto m = multi_links_.find(group); m != multi_links_.end()) {
    close_all(std::move(m->second));
    multi_links_.erase(m);
  }
  auto it = links_.find(group);
  if (it == links_.end()) return;
  for (bpf_link* link : it->second) bpf_link__destroy(link);
  links_.erase(it);
}

size_t CudaProbe::link_count() const {
  size_t n = 0;
  for (const auto& [group, links] : links_) n += links.size();
  for (const auto& [group, links] : multi_links_) n += links.size();
  return n;
}

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
