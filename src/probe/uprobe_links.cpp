#include "probe/uprobe_links.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <thread>

#include "common/text.h"

namespace scope::probe {

namespace {

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
void close_all(const std::vector<int>& fds) {
  std::vector<std::thread> threads;
  for (int fd : fds) threads.emplace_back([fd] { ::close(fd); });
  for (auto& t : threads) t.join();
}

}  // namespace

void set_uprobe_multi(const std::vector<bpf_program*>& progs) {
  for (bpf_program* prog : progs)
    bpf_program__set_expected_attach_type(prog, static_cast<bpf_attach_type>(kBpfTraceUprobeMulti));
}

UprobeLinks::~UprobeLinks() {
  std::vector<int> fds;
  for (auto& [group, links] : multi_links_) fds.insert(fds.end(), links.begin(), links.end());
  close_all(fds);
  for (auto& [group, links] : links_)
    for (bpf_link* link : links) bpf_link__destroy(link);
}

Result<int> create_uprobe_multi_link(int prog_fd, const std::string& path,
                                     const std::vector<uint64_t>& offsets,
                                     const std::vector<uint64_t>& cookies, bool retprobe) {
  UprobeMultiAttr attr{};
  attr.prog_fd = static_cast<uint32_t>(prog_fd);
  attr.attach_type = kBpfTraceUprobeMulti;
  attr.path = reinterpret_cast<uint64_t>(path.c_str());
  attr.offsets = reinterpret_cast<uint64_t>(offsets.data());
  attr.cookies = reinterpret_cast<uint64_t>(cookies.data());
  attr.cnt = static_cast<uint32_t>(offsets.size());
  attr.multi_flags = retprobe ? kBpfFUprobeMultiReturn : 0;
  long fd = syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
  if (fd < 0) return make_error("cannot attach uprobes to " + path + ": " + errno_text(errno));
  return static_cast<int>(fd);
}

Result<size_t> UprobeLinks::attach(const std::string& group, const std::string& path,
                                   const std::vector<ProbePoint>& points, bpf_program* entry,
                                   bpf_program* ret) {
  if (multi_) {
    if (points.empty()) return size_t{0};
    // Return probes first: once an entry fires, its return must be seen too,
    // or a per-thread depth count would go wrong.
    std::vector<int> fds;
    for (bpf_program* prog : {ret, entry}) {
      if (!prog) continue;
      std::vector<uint64_t> offsets, cookies;
      for (const auto& p : points) {
        offsets.push_back(p.offset);
        cookies.push_back(p.call);
      }
      auto fd =
          create_uprobe_multi_link(bpf_program__fd(prog), path, offsets, cookies, prog == ret);
      if (!fd) {
        close_all(fds);
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
    // Return probe first, as above.
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

Status UprobeLinks::attach_one(const std::string& group, const std::string& path, uint64_t offset,
                               bpf_program* prog, uint64_t cookie) {
  LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = cookie);
  bpf_link* link = bpf_program__attach_uprobe_opts(prog, -1, path.c_str(), offset, &opts);
  if (!link) return make_error("cannot attach to " + path + ": " + errno_text(errno));
  links_[group].push_back(link);
  return Ok{};
}

void UprobeLinks::detach(const std::string& group) {
  if (auto m = multi_links_.find(group); m != multi_links_.end()) {
    close_all(m->second);
    multi_links_.erase(m);
  }
  auto it = links_.find(group);
  if (it == links_.end()) return;
  for (bpf_link* link : it->second) bpf_link__destroy(link);
  links_.erase(it);
}

}  // namespace scope::probe
