// The plumbing every family that probes shared libraries (llama, ggml) has: its skeleton from
// open to destroy, the uprobe links and the process-exit program, the ring buffer and drop
// counters, the library discovery the process watch drives, and the libraries part of the summary.
// A family adds its records' decoding, statistics and output.
#pragma once

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/text.h"
#include "families/library_probes.h"
#include "families/probe_family.h"
#include "probe/drop_counters.h"
#include "probe/target_filter.h"
#include "probe/uprobe_links.h"

namespace scope::families {

// A bpftool skeleton's functions.
template <class Skel>
struct SkeletonOps {
  Skel* (*open)();
  int (*load)(Skel*);
  void (*destroy)(Skel*);
};

// What a library family's start() hands to LibraryFamily::start_skeleton, once the skeleton is
// open: the uprobe programs (made uprobe_multi where the kernel has it), the process-exit program,
// and the program pairs LibraryProbes attaches per symbol.
struct LibraryPrograms {
  std::vector<bpf_program*> uprobes;
  bpf_program* exit = nullptr;
  std::vector<LibraryProbes::Programs> per_symbol;
};

template <class Skel>
class LibraryFamily : public ProbeFamily {
 public:
  LibraryFamily(std::string name, SkeletonOps<Skel> ops, LibraryProbes probes)
      : probes_(std::move(probes)), name_(std::move(name)), ops_(ops) {}
  ~LibraryFamily() override {
    links_.reset();  // before the programs they point at
    if (exit_link_) bpf_link__destroy(exit_link_);
    if (skel_) ops_.destroy(skel_);
  }
  std::string_view name() const override { return name_; }

  int ring_map_fd() const override { return skel_ ? bpf_map__fd(skel_->maps.events) : -1; }
  void tick() override {
    if (skel_) kernel_dropped_ = probe::total_drops(skel_->maps.dropped);
  }
  bool probes_libraries() const override { return true; }
  bool found_libraries() const override { return probes_.attached_any(); }
  bool on_library(uint32_t pid, const std::string& path) override {
    return probes_.on_library(pid, path);
  }
  uint64_t dropped() const override { return kernel_dropped_ + bad_records_; }
  uint64_t events() const override { return events_; }

 protected:
  // Opens, loads and attaches the skeleton; `programs` names its programs once it is open.
  template <class ProgramsOf>
  Status start_skeleton(const FamilyContext& ctx, ProgramsOf programs) {
    ctx_ = ctx;
    skel_ = ops_.open();
    if (!skel_) return make_error("cannot open the " + name_ + " BPF object: " + errno_text(errno));
    if (!ctx.filter) return make_error("internal: the " + name_ + " family needs a target filter");
    if (auto st = ctx.filter->apply(skel_); !st) return make_error(st.error());
    LibraryPrograms p = programs(skel_);
    bool multi = probe::kernel_has_uprobe_multi();
    if (multi) probe::set_uprobe_multi(p.uprobes);
    if (int err = ops_.load(skel_))
      return make_error("cannot load the " + name_ + " BPF programs (" + errno_text(err) + ")");
    exit_link_ = bpf_program__attach(p.exit);
    if (!exit_link_)
      return make_error("cannot attach " + std::string(bpf_program__name(p.exit)) + ": " +
                        errno_text(errno));
    links_ = std::make_unique<probe::UprobeLinks>(multi);
    probes_.set_links(links_.get(), std::move(p.per_symbol));
    return Ok{};
  }

  // A decoded record (or nullptr for one that did not decode) counted; false for a bad one.
  template <class Record>
  bool count_record(const Record* r) {
    if (!r) {
      ++bad_records_;
      return false;
    }
    ++events_;
    if (!first_ts_) first_ts_ = ctx_.start_mono_ns(r->ts_ns);
    return true;
  }
  bool wants_events() const { return ctx_.out && ctx_.out->wants_events(); }

  // The family's summary with what was attached, not found and went wrong.
  nlohmann::json with_libraries(nlohmann::json j) const {
    j["libraries"] = probes_.libraries_json();
    j["not_found"] = probes_.not_found();
    j["problems"] = probes_.problems();
    return j;
  }
  // "NAME" and the attach report, the head of the human summary.
  void print_library_report(std::FILE* out) const {
    std::fprintf(out, "%s\n", name_.c_str());
    for (const auto& line : probes_.report_lines()) std::fprintf(out, "  %s\n", line.c_str());
  }

  Skel* skel_ = nullptr;
  FamilyContext ctx_;
  LibraryProbes probes_;
  uint64_t first_ts_ = 0;  // of the first record, for human lines' relative times

 private:
  std::string name_;
  SkeletonOps<Skel> ops_;
  bpf_link* exit_link_ = nullptr;
  std::unique_ptr<probe::UprobeLinks> links_;
  uint64_t events_ = 0;
  uint64_t bad_records_ = 0;
  uint64_t kernel_dropped_ = 0;
};

}  // namespace scope::families
