#include "session/process_watch.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cstring>

#include "bpf/shared/watch.h"
#include "common/text.h"
#include "discover/elf_file.h"
#include "discover/ld_search.h"
#include "discover/proc_maps.h"
#include "probe/drop_counters.h"
#include "probe/features.h"
#include "probe/skeleton_links.h"
#include "watch.skel.h"

namespace scope::session {

namespace {

bool is_loader_path(const std::string& path) {
  auto slash = path.rfind('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  return base.rfind("ld-linux", 0) == 0 ||
         (base.rfind("ld-", 0) == 0 && base.find(".so") != std::string::npos);
}

}  // namespace

Result<std::unique_ptr<ProcessWatch>> ProcessWatch::start(const ProcessWatchOptions& options) {
  auto& f = probe::Features::get();
  if (auto st = f.require(f.attach_cookie, "BPF attach cookies", "5.15"); !st) return st.failure();
  std::unique_ptr<ProcessWatch> w(new ProcessWatch(options));
  w->skel_ = watch_bpf__open();
  if (!w->skel_)
    return make_error("cannot open the process watch's BPF object: " + errno_text(errno));
  if (!options.filter) return make_error(Errc::kInternal, "the process watch needs a filter");
  if (auto st = options.filter->apply(w->skel_); !st) return st.failure();
  w->skel_->rodata->hold_library_loads = options.hold_library_loads;
  // The openat tracepoint costs every process on the host a trip through the tracing slow path:
  // loaded only when it is needed.
  bpf_program__set_autoload(w->skel_->progs.lib_open, options.hold_library_loads);
  bpf_program__set_autoattach(w->skel_->progs.loader_debug_state, false);
  if (int err = watch_bpf__load(w->skel_))
    return make_error("cannot load the process watch's BPF programs (" + errno_text(err) + ")");
  if (int err = watch_bpf__attach(w->skel_))
    return make_error("cannot attach the process watch's BPF programs (" + errno_text(err) + ")");
  w->links_ = std::make_unique<probe::UprobeLinks>(false);
  return w;
}

ProcessWatch::~ProcessWatch() {
  release_held();
  links_.reset();  // before the programs they point at
  if (skel_) {
    probe::destroy_links_in_parallel(skel_);
    watch_bpf__destroy(skel_);
  }
}

int ProcessWatch::ring_map_fd() const { return bpf_map__fd(skel_->maps.events); }

uint64_t ProcessWatch::dropped() const { return probe::total_drops(skel_->maps.dropped); }

void ProcessWatch::set_listeners(const std::vector<families::LibraryListener*>& listeners) {
  // A listener that left is offered every file again if it comes back.
  uint32_t kept = 0;
  for (size_t i = 0; i < listeners_.size(); ++i)
    if (std::find(listeners.begin(), listeners.end(), listeners_[i]) != listeners.end())
      kept |= 1u << i;
  std::vector<families::LibraryListener*> next;
  for (size_t i = 0; i < listeners_.size(); ++i)
    if (kept & (1u << i)) next.push_back(listeners_[i]);
  for (auto* l : listeners)
    if (std::find(next.begin(), next.end(), l) == next.end()) next.push_back(l);
  // Renumber the bits of the listeners that stayed.
  for (auto& [key, h] : handled_) {
    Handled moved;
    size_t j = 0;
    for (size_t i = 0; i < listeners_.size(); ++i) {
      if (!(kept & (1u << i))) continue;
      if (h.offered & (1u << i)) moved.offered |= 1u << j;
      if (h.taken & (1u << i)) moved.taken |= 1u << j;
      ++j;
    }
    h = moved;
  }
  listeners_ = std::move(next);
  update_hold_names();
}

void ProcessWatch::update_hold_names() {
  watch_hold_names names{};
  size_t n = 0;
  for (auto* l : listeners_)
    for (const auto& name : l->hold_names()) {
      if (n >= WATCH_HOLD_NAMES || name.empty()) continue;
      size_t len = std::min<size_t>(name.size(), WATCH_HOLD_NAME_MAX);
      std::memcpy(names.name[n], name.data(), len);
      names.len[n++] = static_cast<uint8_t>(len);
    }
  uint32_t zero = 0;
  (void)bpf_map__update_elem(skel_->maps.hold_names, &zero, sizeof zero, &names, sizeof names,
                             BPF_ANY);
}

void ProcessWatch::attach_loader(const std::string& path) {
  std::string key = discover::file_key(path);
  if (key.empty() || !loader_hooks_.insert(key).second) return;
  auto elf = discover::ElfFile::open(path);
  if (!elf) return;
  auto sym = elf->find("_dl_debug_state");
  if (!sym) {
    spdlog::debug("{} has no _dl_debug_state: dlopen will be found by rescans only", path);
    return;
  }
  auto off = elf->file_offset(sym->vaddr);
  if (!off) return;
  // glibc's loader calls the hook before mapping objects (RT_ADD) and after (RT_CONSISTENT):
  // with `_r_debug` known the hook holds a process at the second call only.
  auto r_debug = elf->object_vaddr("_r_debug");
  int64_t delta = r_debug ? static_cast<int64_t>(*r_debug - sym->vaddr) : 0;
  if (auto st = links_->attach_one("ldso:" + key, path, *off, skel_->progs.loader_debug_state,
                                   static_cast<uint64_t>(delta));
      !st) {
    spdlog::debug("{}", st.error());
    return;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    loader_file lf{major(st.st_dev), minor(st.st_dev), st.st_ino};
    uint8_t one = 1;
    // Without the entry a process is only held at exec as well: slower, never less safe.
    (void)bpf_map__update_elem(skel_->maps.hooked_loaders, &lf, sizeof lf, &one, sizeof one,
                               BPF_ANY);
  }
}

Result<size_t> ProcessWatch::scan_process(uint32_t pid) {
  auto maps = discover::read_maps(static_cast<int>(pid));
  if (!maps)
    return make_error(Errc::kNotFound,
                      "pid " + std::to_string(pid) + " has exited (" + maps.error() + ")");
  auto loader = families::LoaderContext::of_process(pid);
  std::vector<std::vector<std::string>> taken(listeners_.size());
  size_t files = 0;
  uint32_t all = listeners_.size() >= 32 ? ~0u : (1u << listeners_.size()) - 1;
  for (const auto& [file, map_key] : discover::mapped_file_keys(*maps)) {
    // A file handled before, known by the device and inode of its maps line: no stat or ELF
    // read (a held process waits for this scan).
    Handled& h = handled_[map_key];
    if ((h.offered & all) != all) {
      std::string path = discover::host_path(static_cast<int>(pid), file);
      if (is_loader_path(file)) {
        attach_loader(path);
        h.offered = all;
      }
      for (size_t i = 0; i < listeners_.size(); ++i) {
        if (h.offered & (1u << i)) continue;
        if (listeners_[i]->on_library({pid, path, &loader})) h.taken |= 1u << i;
        // Remembered only when the maps' identity is the one the file is known by.
        if (discover::file_key(path) == map_key) h.offered |= 1u << i;
      }
    }
    if (h.taken) ++files;
    for (size_t i = 0; i < listeners_.size(); ++i)
      if (h.taken & (1u << i)) taken[i].push_back(map_key);
  }
  for (size_t i = 0; i < listeners_.size(); ++i) listeners_[i]->on_maps(pid, *maps, taken[i]);
  return files;
}

void ProcessWatch::scan_all_processes() {
  DIR* dir = opendir("/proc");
  if (!dir) return;
  while (dirent* de = readdir(dir)) {
    char* end = nullptr;
    long pid = strtol(de->d_name, &end, 10);
    if (!end || *end || pid <= 0) continue;
    (void)scan_process(static_cast<uint32_t>(pid));
  }
  closedir(dir);
}

void ProcessWatch::prepare_command(const std::string& exe,
                                   const std::vector<std::string>& environ) {
  auto loader = families::LoaderContext::of_command(exe, environ);
  auto elf = discover::ElfFile::open(exe);
  if (elf && !elf->interpreter().empty()) attach_loader(elf->interpreter());
  for (const auto& file :
       discover::needed_closure(exe, discover::SearchEnv::from_environ(environ))) {
    if (is_loader_path(file)) {
      attach_loader(file);
      continue;
    }
    for (auto* l : listeners_) (void)l->on_library({0, file, &loader});
  }
}

int ProcessWatch::on_record(void* ctx, void* data, size_t size) {
  return static_cast<ProcessWatch*>(ctx)->handle_record(data, size);
}

int ProcessWatch::handle_record(const void* data, size_t size) {
  if (size < sizeof(watch_event)) {
    ++stats_.bad_events;
    return 0;
  }
  watch_event e;
  std::memcpy(&e, data, sizeof e);  // ring records are only 8-byte aligned
  ++stats_.events;
  switch (e.what) {
    case WATCH_EXEC:
    case WATCH_DLOPEN:
      if (e.held) {
        held_.insert(e.pid);
        ++(e.what == WATCH_EXEC ? stats_.held_at_exec : stats_.held_at_loader);
      }
      if (e.what == WATCH_EXEC) {
        if (before_event_) before_event_();
        for (auto* l : listeners_) l->on_exec(e.pid);
      }
      (void)scan_process(e.pid);
      resume(e.pid);
      break;
    case WATCH_EXIT:
      held_.erase(e.pid);
      if (before_event_) before_event_();
      for (auto* l : listeners_) l->on_process_exit(e.pid, e.exit_code);
      break;
    default:
      ++stats_.bad_events;
  }
  return 0;
}

void ProcessWatch::resume(uint32_t pid) {
  if (held_.erase(pid)) kill(static_cast<pid_t>(pid), SIGCONT);
}

void ProcessWatch::release_held() {
  for (uint32_t pid : held_) kill(static_cast<pid_t>(pid), SIGCONT);
  held_.clear();
}

}  // namespace scope::session
