// The base of every family that probes shared libraries (cuda, ggml, llama): a skeleton whose
// uprobe programs LibraryProbes attaches per file (one uprobe_multi link per program and file
// where the kernel has them), the process-exit program, and the library side the process watch
// drives. A family adds its symbols, its records' decoding, statistics and output.
#pragma once

#include <bpf/libbpf.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "families/library_probes.h"
#include "families/skeleton_family.h"
#include "probe/features.h"
#include "probe/uprobe_links.h"

namespace scope::families {

// The programs of a library family's skeleton, once it is open: the uprobe programs (made
// uprobe_multi where the kernel has it), the process-exit program, and the program pairs
// LibraryProbes attaches per symbol.
struct LibraryPrograms {
  std::vector<bpf_program*> uprobes;
  bpf_program* exit = nullptr;
  std::vector<LibraryProbes::Programs> per_symbol;
};

template <class Skel>
class LibraryFamily : public SkeletonFamily<Skel>, public LibraryListener {
 public:
  LibraryFamily(std::string name, SkeletonOps<Skel> ops, LibraryProbes probes)
      : SkeletonFamily<Skel>(std::move(name), ops), probes_(std::move(probes)) {}
  ~LibraryFamily() override { release_links(); }

  LibraryListener* libraries() override { return this; }
  bool on_library(const LibraryFile& file) override {
    return probes_.on_library(file.path).library;
  }
  bool found_libraries() const override { return probes_.attached_any(); }
  std::vector<std::string> attached_files() const override { return probes_.attached_paths(); }
  std::string looked_for() const override { return "no " + std::string(this->name()) + " library"; }
  void tick(int64_t /*now_unix_ns*/) override { this->read_drops(); }

 protected:
  // Opens, loads and attaches the skeleton; `programs` names its programs once it is open.
  template <class ProgramsOf>
  Status start_skeleton(const FamilyContext& ctx, ProgramsOf programs) {
    bool multi = probe::Features::get().uprobe_multi;
    LibraryPrograms p;
    auto st = this->load(
        ctx,
        [&](Skel* skel) -> Status {
          p = programs(skel);
          if (multi) probe::set_uprobe_multi(p.uprobes);
          for (bpf_program* u : p.uprobes) bpf_program__set_autoattach(u, false);
          return Ok{};
        },
        /*attach=*/true);
    if (!st) return st;
    links_ = std::make_unique<probe::UprobeLinks>(multi);
    probes_.set_links(links_.get(), std::move(p.per_symbol));
    return Ok{};
  }

  void release_links() override {
    probes_.set_links(nullptr, {});  // files are attached again after a restart
    links_.reset();
  }

  // A decoded record counted (or a bad one); sets the first event's time for human lines.
  template <class Record>
  bool count_record(const Record* r) {
    if (!this->count(r)) return false;
    if (!first_ts_) first_ts_ = r->ts_ns;
    return true;
  }

  // The family's summary with what was attached, not found and went wrong.
  nlohmann::json with_libraries(nlohmann::json j) const {
    j["libraries"] = probes_.libraries_json();
    j["not_found"] = probes_.not_found();
    j["problems"] = probes_.problems();
    return j;
  }
  // "NAME" and the attach report, the head of the human summary.
  void print_library_report(std::FILE* out) const {
    std::fprintf(out, "%s\n", std::string(this->name()).c_str());
    for (const auto& line : probes_.report_lines()) std::fprintf(out, "  %s\n", line.c_str());
  }

  LibraryProbes probes_;
  uint64_t first_ts_ = 0;  // of the first record (the kernel's clock), for human lines

 private:
  std::unique_ptr<probe::UprobeLinks> links_;
};

}  // namespace scope::families
