// Uprobes placed in library files, grouped under keys so a group can be
// detached together; shared by every family that probes libraries (cuda,
// llama, ggml). One uprobe_multi link per program and file where the kernel
// has them (6.6+), else one perf uprobe per symbol and program.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"

struct bpf_link;
struct bpf_program;

namespace scope::probe {

// One symbol to probe: where (file offset) and the cookie its programs read
// with bpf_get_attach_cookie (for cuda, the call id).
struct ProbePoint {
  uint64_t call = 0;
  uint64_t offset = 0;
};

// Not in Debian's libbpf 1.1 nor its 6.1 UAPI headers: the values of the
// running kernel's UAPI (include/uapi/linux/bpf.h, 6.6+).
inline constexpr uint32_t kBpfTraceUprobeMulti = 48;

// Gives `progs` the uprobe_multi attach type; call between open and load, and
// only when Features::get().uprobe_multi.
void set_uprobe_multi(const std::vector<bpf_program*>& progs);

// A uprobe_multi link of program `prog_fd` on `offsets` of the file at `path`, each with its
// cookie; its fd.
Result<int> create_uprobe_multi_link(int prog_fd, const std::string& path,
                                     const std::vector<uint64_t>& offsets,
                                     const std::vector<uint64_t>& cookies, bool retprobe);

class UprobeLinks {
 public:
  // `multi`: the programs were loaded with set_uprobe_multi.
  explicit UprobeLinks(bool multi) : multi_(multi) {}
  ~UprobeLinks();  // detaches everything (link fds closed from several threads)
  UprobeLinks(const UprobeLinks&) = delete;
  UprobeLinks& operator=(const UprobeLinks&) = delete;

  // Attaches `entry` (and `ret`, as a return probe, when given) to `points` of
  // the file at `path`, under `group`. Returns how many points were attached.
  Result<size_t> attach(const std::string& group, const std::string& path,
                        const std::vector<ProbePoint>& points, bpf_program* entry,
                        bpf_program* ret);
  // A plain perf uprobe at `offset` with a BPF cookie (ld.so's hook).
  Status attach_one(const std::string& group, const std::string& path, uint64_t offset,
                    bpf_program* prog, uint64_t cookie = 0);
  void detach(const std::string& group);
  bool attached(const std::string& group) const {
    return links_.count(group) != 0 || multi_links_.count(group) != 0;
  }
  bool multi() const { return multi_; }

 private:
  bool multi_ = false;
  std::map<std::string, std::vector<bpf_link*>> links_;
  std::map<std::string, std::vector<int>> multi_links_;  // uprobe_multi link fds
};

}  // namespace scope::probe
