#include "probe/target_filter.h"

#include <sys/stat.h>

#include <cerrno>
#include <fstream>

#include "targets.skel.h"

namespace scope::probe {

std::string cgroup2_mount() {
  std::ifstream mounts("/proc/self/mounts");
  std::string dev, dir, type, rest;
  while (mounts >> dev >> dir >> type && std::getline(mounts, rest))
    if (type == "cgroup2") return dir;
  return "/sys/fs/cgroup";
}

Result<uint64_t> cgroup_id_of(const std::string& path) {
  // bpf_get_current_cgroup_id() is the cgroup v2 id: resolve in the v2 tree,
  // wherever it is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts).
  std::string root = cgroup2_mount();
  std::string rel = path;
  while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
  std::string full = path.rfind(root + "/", 0) == 0 || path == root ? path : root + "/" + rel;
  struct stat st {};
  if (::stat(full.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return make_error(Errc::kNotFound,
                      "no cgroup " + full + ": " + std::strerror(errno ? errno : ENOTDIR));
  return static_cast<uint64_t>(st.st_ino);
}

Result<std::unique_ptr<TargetFilter>> TargetFilter::open(const TargetFilterOptions& options) {
  std::unique_ptr<TargetFilter> f(new TargetFilter());
  f->options_ = options;
  f->options_.enabled = options.enabled || !options.comm.empty() || options.cgroup_id != 0;
  f->skel_ = targets_bpf__open();
  if (!f->skel_)
    return make_error(std::string("cannot open the targets BPF object: ") + std::strerror(errno));
  auto* ro = f->skel_->rodata;
  ro->filter_enabled = f->options_.enabled;
  ro->filter_comm = !f->options_.comm.empty();
  std::strncpy(const_cast<char*>(ro->targ_comm), f->options_.comm.c_str(), 15);
  ro->targ_cgroup = f->options_.cgroup_id;
  if (int err = targets_bpf__load(f->skel_))
    return make_error(err == -EPERM || err == -EACCES ? Errc::kNotRoot : Errc::kFailed,
                      std::string("cannot load the targets BPF programs (") + std::strerror(-err) +
                          "): scope needs root or CAP_BPF+CAP_PERFMON and a kernel with BTF");
  bpf_program* progs[3] = {f->skel_->progs.targets_fork, f->skel_->progs.targets_exec,
                           f->skel_->progs.targets_free};
  for (int i = 0; i < 3; ++i) {
    f->links_[i] = bpf_program__attach(progs[i]);
    if (!f->links_[i])
      return make_error(std::string("cannot attach ") + bpf_program__name(progs[i]) + ": " +
                        std::strerror(errno));
  }
  return f;
}

TargetFilter::~TargetFilter() {
  for (bpf_link* l : links_)
    if (l) bpf_link__destroy(l);
  if (skel_) targets_bpf__destroy(skel_);
}

int TargetFilter::map_fd() const { return bpf_map__fd(skel_->maps.traced); }

Status TargetFilter::add(uint32_t tgid, uint32_t flags) {
  if (bpf_map__update_elem(skel_->maps.traced, &tgid, sizeof(tgid), &flags, sizeof(flags),
                           BPF_ANY) != 0)
    return make_error("cannot add pid " + std::to_string(tgid) + " to the filter");
  return Ok{};
}

std::vector<uint32_t> TargetFilter::traced_pids() const {
  std::vector<uint32_t> out;
  uint32_t key = 0, next = 0;
  const uint32_t* prev = nullptr;
  while (bpf_map__get_next_key(skel_->maps.traced, prev, &next, sizeof(next)) == 0) {
    out.push_back(next);
    key = next;
    prev = &key;
  }
  return out;
}

void TargetFilter::remove(uint32_t tgid) {
  bpf_map__delete_elem(skel_->maps.traced, &tgid, sizeof(tgid), 0);
}

Status TargetFilter::reuse(bpf_map* map) const {
  if (int err = bpf_map__reuse_fd(map, map_fd()))
    return make_error(std::string("cannot share the filter map: ") + std::strerror(-err));
  return Ok{};
}

}  // namespace scope::probe
