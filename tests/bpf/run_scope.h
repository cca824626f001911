// Helpers for the privileged tests: run the real scope binary (or a fixture)
// as a subprocess with a timeout, capture stdout/stderr/exit status, and parse
// scope's JSON lines.
#pragma once

#include <bpf/bpf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "probe/features.h"
#include "session/session.h"

namespace scope::bpftest {

// SCOPE_TEST_BINARY runs the tests against another build's scope (e.g. an older one, to see a
// test fail before a fix).
inline const std::string kScope = [] {
  const char* other = std::getenv("SCOPE_TEST_BINARY");
  return std::string(other && *other ? other : SCOPE_BINARY);
}();
inline const std::string kBin = std::string(SCOPE_TESTDATA_DIR) + "/bin";
inline const std::string kLib = std::string(SCOPE_TESTDATA_DIR) + "/lib";

inline bool file_exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

// Why these tests cannot run here, or empty when they can: scope's own feature probe, and its
// error codes (not_root, kernel_too_old).
inline std::string skip_reason() {
  if (auto st = probe::Features::get().require_bpf(); !st)
    return std::string(errc_name(st.code())) + ": " + st.error();
  if (!file_exists(kScope)) return "scope binary not built: " + kScope;
  return {};
}

// Why `family` cannot run here (it is started in a session of this process), or empty: a skip
// for a kernel without what the family needs (kernel_too_old) or no rights (not_root), a test
// failure for anything else.
inline std::string family_skip_reason(const std::string& family) {
  if (auto why = skip_reason(); !why.empty()) return why;
  struct NoSink final : families::EventSink {
    bool wants_events() const override { return false; }
    void add(const families::Event&) override {}
  } sink;
  auto s = session::Session::open({}, &sink);
  if (!s) return {};
  auto st = (*s)->start(family);
  if (st || (st.code() != Errc::kKernelTooOld && st.code() != Errc::kNotRoot)) return {};
  return std::string(errc_name(st.code())) + ": " + st.error();
}

#define SCOPE_FAMILY_REQUIRE(family)                                 \
  do {                                                               \
    std::string why_ = ::scope::bpftest::family_skip_reason(family); \
    if (!why_.empty()) {                                             \
      std::printf("skipped: %s\n", why_.c_str());                    \
      GTEST_SKIP() << why_;                                          \
    }                                                                \
  } while (0)

#define SCOPE_BPF_REQUIRE()                             \
  do {                                                  \
    std::string why_ = ::scope::bpftest::skip_reason(); \
    if (!why_.empty()) {                                \
      std::printf("skipped: %s\n", why_.c_str());       \
      GTEST_SKIP() << why_;                             \
    }                                                   \
  } while (0)

struct RunResult {
  std::string out;
  std::string err;
  int status = -1;  // exit code, 128+signal when killed by a signal
  bool timed_out = false;
  double seconds = 0;
};

// A child process with its stdout/stderr captured through pipes.
class Process {
 public:
  Process() = default;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      int st;
      waitpid(pid_, &st, 0);
    }
    if (out_fd_ >= 0) close(out_fd_);
    if (err_fd_ >= 0) close(err_fd_);
  }

  bool start(const std::vector<std::string>& argv,
             const std::vector<std::pair<std::string, std::string>>& env = {}) {
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return false;
    start_ = std::chrono::steady_clock::now();
    pid_ = fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      dup2(out[1], 1);
      dup2(err[1], 2);
      setpgid(0, 0);
      for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
      _exit(126);
    }
    close(out[1]);
    close(err[1]);
    out_fd_ = out[0];
    err_fd_ = err[0];
    fcntl(out_fd_, F_SETFL, O_NONBLOCK);
    fcntl(err_fd_, F_SETFL, O_NONBLOCK);
    return true;
  }

  pid_t pid() const { return pid_; }
  const std::string& out() const { return res_.out; }
  const std::string& err() const { return res_.err; }

  // Reads what is available, waiting up to timeout_ms.
  void pump(int timeout_ms) {
    pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
    int nfds = 0;
    pollfd active[2];
    for (auto& f : fds)
      if (f.fd >= 0) active[nfds++] = f;
    if (nfds == 0) {
      if (timeout_ms > 0) usleep(static_cast<useconds_t>(timeout_ms) * 1000);
      return;
    }
    if (poll(active, static_cast<nfds_t>(nfds), timeout_ms) <= 0) return;
    for (int i = 0; i < nfds; ++i) {
      if (!(active[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      int& fd = active[i].fd == out_fd_ ? out_fd_ : err_fd_;
      std::string& dst = &fd == &out_fd_ ? res_.out : res_.err;
      char buf[65536];
      while (true) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
          dst.append(buf, static_cast<size_t>(n));
          continue;
        }
        if (n == 0) {
          close(fd);
          fd = -1;
        }
        break;
      }
    }
  }

  // Waits until `needle` appears in stdout (or stderr, with `in_stderr`) (true) or the deadline
  // passes.
  bool wait_for_output(const std::string& needle, double timeout_s, bool in_stderr = false) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while ((in_stderr ? res_.err : res_.out).find(needle) == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      if (out_fd_ < 0 && err_fd_ < 0) return false;
      pump(50);
    }
    return true;
  }

  void signal(int sig) {
    if (pid_ > 0) kill(pid_, sig);
  }

  // Waits for the exit (killing the process group at the timeout) and reads
  // everything that is left.
  RunResult wait(double timeout_s) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (pid_ > 0) {
      int st = 0;
      pid_t r = waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        res_.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        pid_ = -1;
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        res_.timed_out = true;
        kill(-pid_, SIGKILL);
        kill(pid_, SIGKILL);
      }
      pump(20);
    }
    while (out_fd_ >= 0 || err_fd_ >= 0) pump(200);
    res_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    return res_;
  }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  RunResult res_;
  std::chrono::steady_clock::time_point start_;
};

inline RunResult run(const std::vector<std::string>& argv, double timeout_s = 90,
                     const std::vector<std::pair<std::string, std::string>>& env = {}) {
  Process p;
  if (!p.start(argv, env)) {
    RunResult r;
    r.err = "cannot start process";
    return r;
  }
  return p.wait(timeout_s);
}

// The value (st_value) of `symbol` in the ELF file `path` as `nm` prints it, or nullopt (no
// nm, or no such symbol).
inline std::optional<uint64_t> nm_value(const std::string& path, const std::string& symbol) {
  auto r = run({"/usr/bin/nm", "--defined-only", path}, 30);
  if (r.status != 0) return std::nullopt;
  std::istringstream lines(r.out);
  std::string value, type, name;
  while (lines >> value >> type >> name)
    if (name == symbol) return std::stoull(value, nullptr, 16);
  return std::nullopt;
}

// As kernel_offset and the query API show a value: "0x" and lowercase hex.
inline std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// `scope trace ARGS...`
inline RunResult run_scope(const std::vector<std::string>& args, double timeout_s = 90,
                           const std::vector<std::pair<std::string, std::string>>& env = {}) {
  std::vector<std::string> argv = {kScope, "trace"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, timeout_s, env);
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

// scope's --json output, split into events and the summary; lines the traced
// program printed itself (under --json its stdout goes to scope's stderr) are kept apart.
struct Trace {
  std::vector<nlohmann::json> events;
  nlohmann::json summary;
  std::vector<std::string> other_lines;  // not JSON objects
  int bad_json_lines = 0;                // start with '{' but do not parse
  RunResult run;

  const nlohmann::json& cuda() const { return summary.at("cuda"); }

  std::vector<nlohmann::json> where(const std::string& key, const std::string& value) const {
    std::vector<nlohmann::json> out;
    for (const auto& e : events)
      if (e.contains(key) && e[key].is_string() && e[key] == value) out.push_back(e);
    return out;
  }
  size_t count(const std::string& key, const std::string& value) const {
    return where(key, value).size();
  }
  // summary.cuda.ops[op], 0 when absent.
  int64_t op(const std::string& name) const {
    const auto& ops = cuda().at("ops");
    return ops.contains(name) ? ops[name].get<int64_t>() : 0;
  }
  std::string describe() const {
    std::string s = "exit " + std::to_string(run.status) + (run.timed_out ? " (timed out)" : "") +
                    "\nstderr:\n" + run.err.substr(0, 4000) + "\nsummary: " +
                    (summary.is_null() ? std::string("(none)") : summary.dump()).substr(0, 6000);
    return s;
  }
};

inline Trace parse_trace(RunResult r) {
  Trace t;
  for (const auto& line : lines_of(r.out)) {
    if (line.empty()) continue;
    if (line[0] != '{') {
      t.other_lines.push_back(line);
      continue;
    }
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      ++t.bad_json_lines;
      t.other_lines.push_back(line);
      continue;
    }
    if (j.value("event", "") == "summary")
      t.summary = j;
    else
      t.events.push_back(std::move(j));
  }
  for (const auto& line : lines_of(r.err)) t.other_lines.push_back(line);
  t.run = std::move(r);
  return t;
}

inline Trace trace(const std::vector<std::string>& args, double timeout_s = 90,
                   const std::vector<std::pair<std::string, std::string>>& env = {}) {
  return parse_trace(run_scope(args, timeout_s, env));
}

// Each `op` cuda_demo performs and the key of its `expect {...}` line that counts it.
inline constexpr std::pair<const char*, const char*> kDemoOps[] = {
    {"launch", "launches"},
    {"alloc", "allocs"},
    {"free", "frees"},
    {"memcpy", "memcpy"},
    {"memset", "memset"},
    {"sync", "syncs"},
    {"graph_launch", "graph_launches"}};

// The `expect {...}` line cuda_demo prints at exit.
inline nlohmann::json expect_line(const Trace& t) {
  for (const auto& l : t.other_lines)
    if (l.rfind("expect ", 0) == 0) return nlohmann::json::parse(l.substr(7), nullptr, false);
  return nullptr;
}

// Uprobes currently registered on files under `dir`, from `bpftool -j perf`
// (empty when bpftool is missing: callers check bpftool_available()).
inline bool bpftool_available() {
  return file_exists("/usr/sbin/bpftool") || file_exists("/usr/bin/bpftool");
}
inline std::string bpftool_path() {
  return file_exists("/usr/sbin/bpftool") ? "/usr/sbin/bpftool" : "/usr/bin/bpftool";
}

// Paths of every uprobe_multi link in the kernel (BPF_OBJ_GET_INFO_BY_FD on
// each link; Debian's bpftool 7.1 prints them as "type 12" without a path).
inline std::vector<std::string> uprobe_multi_link_paths() {
  constexpr uint32_t kLinkTypeUprobeMulti = 12;
  std::vector<std::string> out;
  uint32_t id = 0;
  while (bpf_link_get_next_id(id, &id) == 0) {
    int fd = bpf_link_get_fd_by_id(id);
    if (fd < 0) continue;
    // struct bpf_link_info: type, id, prog_id, then (8-aligned) the union,
    // whose uprobe_multi member starts with: path, offsets, ref_ctr_offsets,
    // cookies (u64 each), path_size, count, flags, pid (u32 each).
    alignas(8) unsigned char info[256] = {};
    char path[4096] = {};
    uint64_t path_ptr = reinterpret_cast<uint64_t>(path);
    uint32_t path_size = sizeof(path);
    std::memcpy(info + 16, &path_ptr, sizeof(path_ptr));
    std::memcpy(info + 16 + 32, &path_size, sizeof(path_size));
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, info, &len) == 0) {
      uint32_t type = 0;
      std::memcpy(&type, info, sizeof(type));
      if (type == kLinkTypeUprobeMulti) out.emplace_back(path);
    }
    close(fd);
  }
  return out;
}

inline std::vector<std::string> uprobes_under(const std::string& dir) {
  std::vector<std::string> out;
  RunResult r = run({bpftool_path(), "-j", "perf", "list"}, 30);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_array()) {
    for (const auto& e : j) {
      std::string file = e.value("filename", "");
      if (!file.empty() && file.rfind(dir, 0) == 0)
        out.push_back(file + " (pid " + std::to_string(e.value("pid", 0)) + ", prog " +
                      std::to_string(e.value("prog_id", 0)) + ")");
    }
  }
  // uprobe_multi links (one per program and file), from the kernel's link list.
  for (const auto& file : uprobe_multi_link_paths())
    if (file.rfind(dir, 0) == 0) out.push_back(file + " (uprobe_multi link)");
  // Legacy tracefs uprobes (probes created through uprobe_events).
  if (std::FILE* f = std::fopen("/sys/kernel/tracing/uprobe_events", "r")) {
    char buf[4096];
    while (std::fgets(buf, sizeof buf, f))
      if (std::strstr(buf, dir.c_str())) out.push_back(std::string("uprobe_events: ") + buf);
    std::fclose(f);
  }
  return out;
}

// Names of the loaded BPF programs.
inline std::vector<std::string> bpf_program_names() {
  std::vector<std::string> out;
  RunResult r = run({bpftool_path(), "-j", "prog", "show"}, 30);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_array())
    for (const auto& p : j) out.push_back(p.value("name", ""));
  return out;
}

// IDs of the loaded BPF programs, by name.
inline std::map<int64_t, std::string> bpf_programs() {
  std::map<int64_t, std::string> out;
  RunResult r = run({bpftool_path(), "-j", "prog", "show"}, 30);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_array())
    for (const auto& p : j) out[p.value("id", int64_t{0})] = p.value("name", "");
  return out;
}

inline pid_t parse_ready_pid(const std::string& out) {
  auto pos = out.find("ready ");
  if (pos == std::string::npos) return -1;
  return static_cast<pid_t>(std::atoi(out.c_str() + pos + 6));
}

}  // namespace scope::bpftest
