// `scope up` end to end: the real probes, the real SQLite store, the HTTP API
// and `scope sql`, on the CUDA demo.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "http/openapi.h"
#include "scope_up.h"
#include "tests/support/json_schema.h"

namespace scope::itest {
namespace {

using bpftest::kBin;
using bpftest::kScope;
using bpftest::run;

// Every op the demo performs, as stored, against what it says it did.
void expect_demo_counts(ScopeUp& up, const json& expect, const std::string& where) {
  for (const auto& [op, key] : bpftest::kDemoOps) {
    int64_t want = expect.at(key).get<int64_t>();
    EXPECT_EQ(up.wait_count("SELECT count(*) FROM cuda_events WHERE op = '" + std::string(op) +
                                "' AND " + where,
                            want),
              want)
        << op;
  }
}

TEST(ScopeUp, StoresEveryOperationOfTheDemoExactlyOnce) {
  SCOPE_BPF_REQUIRE();
  std::string dir = make_temp_dir("scope-up");
  ScopeUp up;
  ASSERT_TRUE(up.start(dir, {"--probes", "cuda,exec"})) << up.process().err();
  // The token is printed once, and kept private.
  EXPECT_TRUE(up.process().wait_for_output(up.token(), 5)) << up.process().out();
  struct stat st {};
  ASSERT_EQ(stat((dir + "/admin.token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // In a session of its own (no controlling terminal, as under a service manager): the demo
  // is held once at the loader's hook after libcudart dlopens libcuda.so.1.
  auto demo = run({"/usr/bin/setsid", "--wait", kBin + "/cuda_demo", "--threads", "2"});
  ASSERT_EQ(demo.status, 0) << demo.err;
  json expect = demo_expect(demo.out);
  ASSERT_TRUE(expect.is_object()) << demo.out;
  expect_demo_counts(up, expect, "comm = 'cuda_demo'");
  // One row per operation: sequence numbers are unique within the node.
  EXPECT_EQ(up.count("SELECT count(*) - count(DISTINCT seq) FROM cuda_events"), 0);
  EXPECT_EQ(up.count("SELECT count(*) FROM exec_events WHERE filename LIKE '%cuda_demo' AND "
                     "call = 'execve'"),
            1);
  // Launches carry their names and shapes.
  EXPECT_GT(up.count("SELECT count(*) FROM cuda_events WHERE op = 'launch' AND kernel IS NOT "
                     "NULL AND grid LIKE '[%,%,%]'"),
            0);

  // /health and /metrics agree with the store.
  auto health = http_get(up.url() + "/health");
  ASSERT_EQ(health.status, 200) << health.body;
  json h = json::parse(health.body);
  EXPECT_EQ(h["status"], "ok");
  // scope's uptime (it started seconds ago), not the host's.
  EXPECT_LT(h["uptime_s"].get<double>(), 120.0) << h.dump();
  // The system-wide hold: an openat of a libcuda* file (the cuda family's check on
  // syscalls:sys_enter_openat), then the loader's hook. Other processes may be held too;
  // /health is refreshed twice a second.
  for (int i = 0; i < 40 && h["held"]["at_loader"].get<int64_t>() < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (auto again = http_get(up.url() + "/health"); again.status == 200)
      h = json::parse(again.body);
  }
  EXPECT_GE(h["held"]["at_loader"].get<int64_t>(), 1) << h.dump();
  EXPECT_EQ(h["store"], "sqlite");
  // Other processes on the host exec too (system-wide): the metric lies between
  // what the store held just before and just after it was read.
  const std::string total_sql =
      "SELECT (SELECT count(*) FROM cuda_events) + (SELECT count(*) FROM exec_events)";
  int64_t before = up.count(total_sql);
  auto metrics = http_get(up.url() + "/metrics");
  ASSERT_EQ(metrics.status, 200) << metrics.body;
  int64_t after = up.count(total_sql);
  auto at = metrics.body.find("\nscope_events_stored_total ");
  ASSERT_NE(at, std::string::npos) << metrics.body;
  int64_t stored = std::stoll(metrics.body.substr(at + 27));
  EXPECT_GE(stored, before);
  EXPECT_LE(stored, after);
  EXPECT_NE(metrics.body.find("scope_events_dropped_total{cause=\"kernel\"} 0"), std::string::npos);

  // scope sql through the running process, in each format.
  auto table = run({kScope, "sql", "--data-dir", dir,
                    "SELECT op, count(*) AS n FROM cuda_events WHERE comm = 'cuda_demo' AND op = "
                    "'graph_launch' GROUP BY op"});
  EXPECT_EQ(table.status, 0) << table.err;
  EXPECT_NE(
      table.out.find("graph_launch  " + std::to_string(expect["graph_launches"].get<int64_t>())),
      std::string::npos)
      << table.out;
  auto csv = run({kScope, "sql", "--data-dir", dir, "--csv", "SELECT 'a,b' AS x, 2 AS y"});
  EXPECT_EQ(csv.out, "x,y\n\"a,b\",2\n");
  auto js = run({kScope, "sql", "--data-dir", dir, "--json", "SELECT 1 AS one"});
  EXPECT_EQ(json::parse(js.out)["rows"][0][0], 1);
  auto del = run({kScope, "sql", "--data-dir", dir, "DELETE FROM cuda_events"});
  EXPECT_EQ(del.status, 1);
  EXPECT_NE(del.err.find("read-only"), std::string::npos) << del.err;
  auto bad = run({kScope, "sql", "--data-dir", dir, "SELECT * FROM no_such_table"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("no_such_table"), std::string::npos) << bad.err;

  up.process().signal(SIGTERM);
  auto end = up.process().wait(30);
  EXPECT_EQ(end.status, 0) << end.err;
  EXPECT_FALSE(bpftest::file_exists(dir + "/endpoint.json"));
  auto gone = run({kScope, "sql", "--data-dir", dir, "SELECT 1"});
  EXPECT_EQ(gone.status, 1);
  EXPECT_NE(gone.err.find("scope up"), std::string::npos) << gone.err;
}

// A launch named by its host stub (nvcc 13's __cudaGetKernel), opened through the query API: its
// kernel, the stub's file (the demo, as the process maps it) and the stub symbol's value there as
// `nm` prints it, and the command line; the answer is what the document says.
TEST(ScopeUp, LaunchDetailSaysWhereTheKernelLives) {
  SCOPE_BPF_REQUIRE();
  const std::string demo = kBin + "/cuda_demo";
  auto value = bpftest::nm_value(demo, "_Z10vector_addPfS_i");
  ASSERT_TRUE(value.has_value()) << "nm " << demo;
  std::string dir = make_temp_dir("scope-up");
  ScopeUp up;
  ASSERT_TRUE(up.start(dir, {"--probes", "cuda,exec"})) << up.process().err();
  // Other processes on the host may run the demo too: this one is found by its pid. A run whose
  // calls went by before its probes were attached (seen here when other scopes run on the host at
  // the same time) is run again: what is tested is where a named kernel lives.
  const std::string kernel = "vector_add(float*, float*, int)";
  std::string pid, seen;
  for (int attempt = 0; attempt < 5; ++attempt) {
    bpftest::Process proc;
    ASSERT_TRUE(
        proc.start({demo, "--nvcc13-launch", "--threads", "1", "--iterations", "1", "--no-leak"}));
    pid = std::to_string(proc.pid());
    auto ran = proc.wait(60);
    ASSERT_EQ(ran.status, 0) << ran.err;
    if (up.wait_count("SELECT count(*) FROM cuda_events WHERE pid = " + pid + " AND kernel = '" +
                          kernel + "'",
                      1, 5) == 1)
      break;
    seen += up.sql("SELECT call, op, kernel FROM cuda_events WHERE pid = " + pid).dump() + "\n";
    pid.clear();
  }
  ASSERT_FALSE(pid.empty()) << seen << up.process().err();
  Headers auth = {{"Authorization", "Bearer " + up.token()}};
  auto list = http_get(up.url() + "/api/v1/query/cuda/launches?from=1h&limit=100&pid=" + pid, auth);
  ASSERT_EQ(list.status, 200) << list.body;
  std::string id, driver_id;
  json items = json::parse(list.body)["items"];
  for (const auto& item : items) {
    if (item["kernel"] == kernel) id = item["id"].get<std::string>();
    if (item["kernel"] == "cublas_gemm()") driver_id = item["id"].get<std::string>();
  }
  ASSERT_FALSE(id.empty()) << list.body;
  auto detail = http_get(up.url() + "/api/v1/query/cuda/launches/" + id, auth);
  ASSERT_EQ(detail.status, 200) << detail.body;
  json d = json::parse(detail.body);
  EXPECT_EQ(d["kernel"], kernel);
  EXPECT_EQ(d["kernel_file"], std::filesystem::canonical(demo).string()) << d.dump();
  EXPECT_EQ(d["kernel_offset"], bpftest::hex(*value)) << d.dump();
  EXPECT_NE(d["filename"].get<std::string>().find("cuda_demo"), std::string::npos) << d.dump();
  EXPECT_EQ(d["argv"][1], "--nvcc13-launch") << d.dump();
  json doc = json::parse(http::openapi_document());
  for (const auto& e :
       testsupport::schema_errors(d, doc["components"]["schemas"]["LaunchDetail"], doc))
    ADD_FAILURE() << e << "\n" << d.dump();
  // Named only through the driver's calls: where it lives is not known.
  ASSERT_FALSE(driver_id.empty()) << list.body;
  auto by_driver = http_get(up.url() + "/api/v1/query/cuda/launches/" + driver_id, auth);
  ASSERT_EQ(by_driver.status, 200) << by_driver.body;
  json bd = json::parse(by_driver.body);
  EXPECT_EQ(bd["kernel_file"], nullptr) << bd.dump();
  EXPECT_EQ(bd["kernel_offset"], nullptr) << bd.dump();
  up.process().signal(SIGTERM);
  EXPECT_EQ(up.process().wait(30).status, 0);
}

// The perf events a process holds open (`anon_inode:[perf_event]` descriptors): each of scope's
// programs on a syscalls:* tracepoint holds one.
int perf_event_fds(pid_t pid) {
  int n = 0;
  std::error_code ec;
  for (const auto& fd :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    auto target = std::filesystem::read_symlink(fd.path(), ec);
    n += !ec && target.string() == "anon_inode:[perf_event]";
  }
  return n;
}

// The host families through the store path: exec, open (relative, failed), a TCP connect, and the
// per-interval syscalls and sched rows of one shell found by its exec row. Nothing of scope's sits
// on a syscalls:* tracepoint, whose perf handler would cost every syscall on the host: exec, open
// and net ride the syscalls family's programs.
TEST(ScopeUp, StoresTheHostFamilies) {
  SCOPE_BPF_REQUIRE();
  std::string dir = make_temp_dir("scope-up");
  std::string work = make_temp_dir("scope-up-work");
  ScopeUp up;
  ASSERT_TRUE(up.start(dir, {"--probes", "exec,open,syscalls,sched,net"})) << up.process().err();
  EXPECT_EQ(perf_event_fds(up.process().pid()), 0);
  std::string port = up.url().substr(up.url().rfind(':') + 1);
  // The connect goes to scope up's own listener; the sleep spans a syscalls/sched interval.
  std::string script = "cd " + work +
                       " && echo x > made-here && cat ./made-here >/dev/null; cat ./not-here "
                       "2>/dev/null; exec 3<>/dev/tcp/127.0.0.1/" +
                       port + "; exec 3>&-; sleep 1.5";
  auto r = run({"/bin/bash", "-c", script, "host-families-marker"});
  ASSERT_EQ(r.status, 0) << r.err;

  const std::string shell =
      "(SELECT pid FROM exec_events WHERE call = 'execve' AND argv LIKE "
      "'%host-families-marker%')";
  EXPECT_EQ(up.wait_count("SELECT count(*) FROM exec_events WHERE call = 'execve' AND argv LIKE "
                          "'%host-families-marker%' AND ret = 0",
                          1),
            1);
  EXPECT_EQ(up.wait_count("SELECT count(*) FROM open_events WHERE path = '" + work +
                              "/made-here' AND ret >= 0 AND comm = 'cat'",
                          1),
            1);
  EXPECT_EQ(
      up.wait_count(
          "SELECT count(*) FROM open_events WHERE path = '" + work + "/not-here' AND ret = -2", 1),
      1);
  EXPECT_EQ(up.wait_count("SELECT count(*) FROM net_events WHERE op = 'connect' AND daddr = "
                          "'127.0.0.1' AND dport = " +
                              port + " AND pid = " + shell,
                          1),
            1);
  EXPECT_EQ(
      up.wait_count(
          "SELECT count(*) > 0 FROM syscalls_events WHERE name = 'wait4' AND pid = " + shell, 1),
      1);
  EXPECT_EQ(up.wait_count(
                "SELECT count(*) > 0 FROM sched_events WHERE switches > 0 AND pid = " + shell, 1),
            1);
}

TEST(ScopeUp, RestartKeepsDataTokenAndSequence) {
  SCOPE_BPF_REQUIRE();
  std::string dir = make_temp_dir("scope-up");
  int64_t first_max = 0;
  std::string token;
  {
    ScopeUp up;
    ASSERT_TRUE(up.start(dir, {"--probes", "cuda"})) << up.process().err();
    token = up.token();
    auto demo = run({kBin + "/cuda_demo"});
    json expect = demo_expect(demo.out);
    ASSERT_TRUE(expect.is_object());
    int64_t n = expect["launches"].get<int64_t>();
    ASSERT_EQ(up.wait_count("SELECT count(*) FROM cuda_events WHERE op = 'launch'", n), n);
    first_max = up.count("SELECT max(seq) FROM cuda_events");
    up.process().signal(SIGINT);
    EXPECT_EQ(up.process().wait(30).status, 0);
  }
  ScopeUp again;
  ASSERT_TRUE(again.start(dir, {"--probes", "cuda"})) << again.process().err();
  EXPECT_EQ(again.token(), token);
  EXPECT_FALSE(again.process().wait_for_output("admin token", 1));  // printed once only
  auto demo = run({kBin + "/cuda_demo"});
  json expect = demo_expect(demo.out);
  int64_t n = expect["launches"].get<int64_t>();
  EXPECT_EQ(again.wait_count("SELECT count(*) FROM cuda_events WHERE op = 'launch'", 2 * n), 2 * n);
  // A restarted agent never reuses a sequence number.
  EXPECT_GT(
      again.count("SELECT min(seq) FROM cuda_events WHERE seq > " + std::to_string(first_max)),
      first_max);
  EXPECT_EQ(again.count("SELECT count(*) - count(DISTINCT seq) FROM cuda_events"), 0);
}

TEST(ScopeUp, ApiErrorsAreTypedJson) {
  SCOPE_BPF_REQUIRE();
  std::string dir = make_temp_dir("scope-up");
  ScopeUp up;
  ASSERT_TRUE(up.start(dir, {"--probes", "exec"})) << up.process().err();
  const std::string sql_url = up.url() + "/api/v1/sql";
  Headers auth = {{"Authorization", "Bearer " + up.token()}};
  auto no_token = http_post(sql_url, json{{"query", "SELECT 1"}}.dump());
  EXPECT_EQ(no_token.status, 401);
  EXPECT_EQ(json::parse(no_token.body)["error"]["code"], "unauthorized");
  auto wrong =
      http_post(sql_url, json{{"query", "SELECT 1"}}.dump(), {{"Authorization", "Bearer nope"}});
  EXPECT_EQ(wrong.status, 401);
  for (const std::string body : {"{", "[]", R"({"query": 5})", R"({"query": ""})",
                                 R"({"query": "SELECT 1", "max_rows": -1})"}) {
    auto r = http_post(sql_url, body, auth);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_EQ(json::parse(r.body)["error"]["code"], "bad_request") << body;
  }
  auto big = http_post(sql_url, std::string(2 << 20, 'x'), auth);
  EXPECT_EQ(big.status, 413);
  auto missing = http_get(up.url() + "/api/v1/nothing");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(json::parse(missing.body)["error"]["code"], "not_found");
  // Still serving after all that.
  EXPECT_EQ(up.count("SELECT 7"), 7);
}

TEST(ScopeUp, BadFlagsAndDataDirsGetClearErrors) {
  SCOPE_BPF_REQUIRE();
  std::string dir = make_temp_dir("scope-up");
  auto listen = run({kScope, "up", "--data-dir", dir, "--listen", "nonsense"});
  EXPECT_EQ(listen.status, 2);
  EXPECT_NE(listen.err.find("HOST:PORT"), std::string::npos) << listen.err;
  auto retention = run({kScope, "up", "--data-dir", dir, "--retention", "soon"});
  EXPECT_EQ(retention.status, 2);
  EXPECT_NE(retention.err.find("--retention"), std::string::npos) << retention.err;
  std::ofstream(dir + "/file") << "x";
  auto not_dir = run({kScope, "up", "--data-dir", dir + "/file", "--listen", "127.0.0.1:0"});
  EXPECT_EQ(not_dir.status, 1);
  EXPECT_NE(not_dir.err.find("data dir"), std::string::npos) << not_dir.err;
  auto probes =
      run({kScope, "up", "--data-dir", dir, "--probes", "gpu", "--listen", "127.0.0.1:0"});
  EXPECT_NE(probes.status, 0);
  EXPECT_NE(probes.err.find("unknown probe family 'gpu'"), std::string::npos) << probes.err;
  // A port in use is named.
  ScopeUp up;
  ASSERT_TRUE(up.start(dir, {"--probes", "exec"}));
  std::string port = up.url().substr(up.url().rfind(':') + 1);
  auto taken = run({kScope, "up", "--data-dir", make_temp_dir("scope-up"), "--probes", "exec",
                    "--listen", "127.0.0.1:" + port});
  EXPECT_EQ(taken.status, 1);
  EXPECT_NE(taken.err.find("cannot listen on 127.0.0.1:" + port), std::string::npos) << taken.err;
}

}  // namespace
}  // namespace scope::itest
