// A session starts and stops families while it runs, and a stopped family leaves nothing in the
// kernel: checked from the kernel's own lists of BPF programs, links and maps.
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "event/row.h"
#include "run_scope.h"
#include "session/session.h"
#include "session/sinks.h"

namespace scope::bpftest {
namespace {

struct KernelObjects {
  std::set<uint32_t> progs, links, maps;
  std::set<std::string> prog_names;
};

KernelObjects kernel_objects() {
  KernelObjects k;
  for (uint32_t id = 0; bpf_prog_get_next_id(id, &id) == 0;) {
    k.progs.insert(id);
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) k.prog_names.insert(info.name);
    close(fd);
  }
  for (uint32_t id = 0; bpf_link_get_next_id(id, &id) == 0;) k.links.insert(id);
  // Maps by id only: opening a program array by id while its last user lets go of it makes
  // the kernel (6.18) schedule its deferred clear twice and leak a reference to it.
  for (uint32_t id = 0; bpf_map_get_next_id(id, &id) == 0;) k.maps.insert(id);
  return k;
}

// What is in `now` and not in `before`.
std::set<uint32_t> added(const std::set<uint32_t>& before, const std::set<uint32_t>& now) {
  std::set<uint32_t> out;
  for (uint32_t id : now)
    if (!before.count(id)) out.insert(id);
  return out;
}

// Whether a program called `name` is loaded (the kernel keeps the first 15 characters).
bool has_prog(const KernelObjects& k, const std::string& name) {
  return k.prog_names.count(name.substr(0, 15)) != 0;
}

// The kernel frees a program or map after its last reference, a grace period later: the
// objects once no more than `before`'s are left (or after 5 s, as they are).
KernelObjects settled(const KernelObjects& before) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (true) {
    KernelObjects k = kernel_objects();
    bool extra = false;
    for (const auto* ids : {&k.progs, &k.maps, &k.links})
      for (uint32_t id : *ids)
        extra |= !(ids == &k.progs  ? before.progs
                   : ids == &k.maps ? before.maps
                                    : before.links)
                      .count(id);
    if (!extra || std::chrono::steady_clock::now() > deadline) return k;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Whether `name` is gone within 5 s (freed a grace period after its last reference).
bool prog_gone(const std::string& name) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (has_prog(kernel_objects(), name))
    if (std::chrono::steady_clock::now() > deadline) return false;
  return true;
}

// Names of the programs in `now` and not in `before`.
std::string names(const KernelObjects& now, const KernelObjects& before) {
  std::string out;
  for (const auto& n : now.prog_names)
    if (!before.prog_names.count(n)) out += n + " ";
  return out;
}

// Runs `argv` to its end.
void run_child(const std::vector<std::string>& argv) {
  RunResult r = run(argv, 10);
  ASSERT_EQ(r.status, 0) << r.err;
}

class SessionTest : public ::testing::Test {
 protected:
  // Polls until `pred` holds on the rows seen so far (or 10 s pass).
  bool poll_until(const std::function<bool()>& pred) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      session_->poll(20);
      std::lock_guard lock(mu_);
      if (pred()) return true;
    }
    return false;
  }
  // Rows of `family` whose `column` is `value`.
  size_t rows_where(const std::string& family, const std::string& column, const std::string& v) {
    size_t n = 0;
    for (const auto& r : rows_) {
      if (event::schemas().at(r.family).family != family) continue;
      const auto* s = std::get_if<std::string>(&event::column_value(r, column));
      n += s && *s == v;
    }
    return n;
  }
  // Execs /bin/true (a child of this process, traced: the session skips only its own pid) until
  // the exec family reports one more.
  bool exec_seen() {
    size_t before = rows_where("exec", "filename", "/bin/true");
    run_child({"/bin/true"});
    return poll_until([&] { return rows_where("exec", "filename", "/bin/true") > before; });
  }

  std::mutex mu_;
  std::vector<event::EventRow> rows_;
  session::RowSink sink_{[this](event::EventRow&& r) {
    std::lock_guard lock(mu_);
    rows_.push_back(std::move(r));
  }};
  std::unique_ptr<session::Session> session_;
};

TEST_F(SessionTest, FamiliesStartAndStopWhileItRunsAndLeaveNothingBehind) {
  SCOPE_BPF_REQUIRE();
  KernelObjects before = kernel_objects();
  session::SessionOptions o;  // every process on the host
  o.family.interval_rows = true;
  auto s = session::Session::open(o, &sink_);
  ASSERT_TRUE(s) << s.error();
  session_ = std::move(s.value());
  EXPECT_TRUE(added(before.progs, kernel_objects().progs).empty()) << "nothing before a start";

  ASSERT_TRUE(session_->start("exec")) << "exec";
  EXPECT_TRUE(exec_seen());
  EXPECT_TRUE(has_prog(kernel_objects(), "exec_done")) << "exec's programs are loaded";

  // syscalls joins: exec moves into its dispatch (a restart), and goes on reporting.
  ASSERT_TRUE(session_->start("syscalls"));
  ASSERT_TRUE(session_->start("open"));
  EXPECT_EQ(session_->running(), (std::set<std::string>{"exec", "open", "syscalls"}));
  EXPECT_TRUE(exec_seen()) << "exec under the syscalls family's dispatch";
  EXPECT_TRUE(poll_until([&] { return rows_where("open", "call", "openat") > 0; }));
  EXPECT_TRUE(poll_until([&] { return rows_where("syscalls", "name", "execve") > 0; }));

  // syscalls leaves: exec and open are back on their own tracepoints.
  ASSERT_TRUE(session_->stop("syscalls"));
  EXPECT_TRUE(prog_gone("scope_sys_enter")) << "syscalls unloaded";
  EXPECT_TRUE(exec_seen()) << "exec on its own tracepoints again";

  // A library family brings the process watch with it, and takes it away.
  ASSERT_TRUE(session_->start("cuda"));
  EXPECT_TRUE(has_prog(kernel_objects(), "loader_debug_state"));
  EXPECT_TRUE(has_prog(kernel_objects(), "call_entry"));
  ASSERT_TRUE(session_->stop("cuda"));
  EXPECT_TRUE(prog_gone("loader_debug_state")) << "the watch is gone";
  EXPECT_TRUE(prog_gone("call_entry")) << "cuda is gone";

  // Nothing running: nothing of scope in the kernel, maps and the filter included.
  ASSERT_TRUE(session_->apply({}));
  KernelObjects after = settled(before);
  EXPECT_TRUE(added(before.progs, after.progs).empty())
      << "programs left: " << names(after, before);
  EXPECT_TRUE(added(before.links, after.links).empty()) << "links left";
  EXPECT_TRUE(added(before.maps, after.maps).empty()) << "maps left";

  // And it starts again.
  ASSERT_TRUE(session_->start("exec"));
  EXPECT_TRUE(exec_seen()) << "exec after a restart";
  session_.reset();
  after = settled(before);
  EXPECT_TRUE(added(before.progs, after.progs).empty()) << "programs left after the session";
  EXPECT_TRUE(added(before.maps, after.maps).empty()) << "maps left after the session";
}

// The rows a session hands its sink (what `scope up` stores and `scope agent` ships) carry the
// redacted argv; FamilyOptions::redact_args off (--no-redact-args) keeps it whole.
TEST_F(SessionTest, ExecRowsCarryRedactedArgv) {
  SCOPE_BPF_REQUIRE();
  for (bool redact : {true, false}) {
    session::SessionOptions o;
    o.family.redact_args = redact;
    auto s = session::Session::open(o, &sink_);
    ASSERT_TRUE(s) << s.error();
    session_ = std::move(s.value());
    ASSERT_TRUE(session_->start("exec"));
    std::string secret = redact ? "hunter2" : "hunter3";
    run_child({"/bin/sh", "-c", "true", "--password=" + secret});
    std::string want = nlohmann::json{"/bin/sh", "-c", "true",
                                      "--password=" + (redact ? std::string("***") : secret)}
                           .dump();
    EXPECT_TRUE(poll_until([&] { return rows_where("exec", "argv", want) == 1; })) << want;
    std::lock_guard lock(mu_);
    for (const auto& r : rows_) {
      const auto* argv = std::get_if<std::string>(&event::column_value(r, "argv"));
      if (argv && redact) {
        EXPECT_EQ(argv->find(secret), std::string::npos) << *argv;
      }
    }
    session_.reset();
  }
}

TEST_F(SessionTest, AFamilyTheKernelCannotRunIsAnErrorWithItsCode) {
  SCOPE_BPF_REQUIRE();
  session::SessionOptions o;
  auto s = session::Session::open(o, &sink_);
  ASSERT_TRUE(s) << s.error();
  auto st = (*s)->start("nonsense");
  EXPECT_FALSE(st);
  EXPECT_EQ(st.code(), Errc::kBadInput);
  EXPECT_TRUE((*s)->running().empty());
}

}  // namespace
}  // namespace scope::bpftest
