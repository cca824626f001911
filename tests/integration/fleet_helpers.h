// Helpers for the fleet tests: the real PostgreSQL and Redis that
// scripts/services.sh starts (URLs in SCOPE_TEST_POSTGRES_URL and
// SCOPE_TEST_REDIS_URL; the tests skip with a reason without them), and
// `scope agent` / `scope server` run as processes. Agents started while a server of the fleet
// runs are enrolled with it first (their batches are signed); a test that starts agents before
// its server gives that server --allow-unsigned-batches.
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "agent/identity.h"
#include "auth/crypto.h"
#include "event/batch.h"
#include "event/cuda_event.h"
#include "families/cuda_output.h"
#include "http/client.h"
#include "tests/bpf/run_scope.h"
#include "transport/redis_stream.h"

namespace scope::fleettest {

using bpftest::kScope;
using bpftest::Process;
using bpftest::RunResult;

inline std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}
inline std::string pg_url() { return env("SCOPE_TEST_POSTGRES_URL"); }
inline std::string redis_url() { return env("SCOPE_TEST_REDIS_URL"); }

inline std::string skip_reason(bool need_services_script = false) {
  if (pg_url().empty()) return "SCOPE_TEST_POSTGRES_URL is not set (source scripts/services.sh)";
  if (redis_url().empty()) return "SCOPE_TEST_REDIS_URL is not set (source scripts/services.sh)";
  if (need_services_script && env("SCOPE_TEST_SERVICES").empty())
    return "SCOPE_TEST_SERVICES is not set (source scripts/services.sh): cannot stop/start servers";
  return "";
}

#define SCOPE_FLEET_REQUIRE(...)                                     \
  do {                                                               \
    std::string why_ = ::scope::fleettest::skip_reason(__VA_ARGS__); \
    if (!why_.empty()) {                                             \
      std::printf("skipped: %s\n", why_.c_str());                    \
      GTEST_SKIP() << why_;                                          \
    }                                                                \
  } while (0)

// `scripts/services.sh ACTION` (stop-postgres, start-redis, ...).
inline void services(const std::string& action) {
  RunResult r = bpftest::run({"/bin/bash", env("SCOPE_TEST_SERVICES"), action}, 120);
  ASSERT_EQ(r.status, 0) << "services.sh " << action << ": " << r.err;
}

class Fleet;
int metrics_port(Process& p, double timeout_s = 20);

inline std::string temp_dir(const std::string& tag) {
  std::string dir = std::filesystem::temp_directory_path() / ("scope-" + tag + "-XXXXXX");
  return mkdtemp(dir.data());
}

// One PostgreSQL connection for checking what the server stored.
class Pg {
 public:
  explicit Pg(const std::string& schema) : schema_(schema) {
    conn_ = PQconnectdb(pg_url().c_str());
    set_path();
  }
  ~Pg() { PQfinish(conn_); }
  bool ok() { return PQstatus(conn_) == CONNECTION_OK; }
  void exec(const std::string& sql) {
    reconnect();
    PQclear(PQexec(conn_, sql.c_str()));
  }
  // The first column of the first row as an integer; -1 on error.
  int64_t scalar(const std::string& sql) {
    reconnect();
    PGresult* r = PQexec(conn_, sql.c_str());
    int64_t v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
      v = std::atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
  }

 private:
  // After a PostgreSQL restart (the fault tests): a new session, search_path again.
  void reconnect() {
    if (PQstatus(conn_) == CONNECTION_OK) return;
    PQreset(conn_);
    set_path();
  }
  void set_path() {
    if (!schema_.empty()) PQclear(PQexec(conn_, ("SET search_path TO " + schema_).c_str()));
  }
  std::string schema_;
  PGconn* conn_;
};

// A fresh schema and stream per test, and the processes that use them.
class Fleet {
 public:
  explicit Fleet(const std::string& name) : name_(name) {
    schema_ = "fleet_" + name;
    stream_ = "scope:test:" + name + ":" + std::to_string(getpid());
    Pg admin("");
    admin.exec("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
    admin.exec("DROP SCHEMA IF EXISTS " + schema_ + "_auth CASCADE");
    redis_ = std::make_unique<transport::RedisClient>(*transport::parse_redis_url(redis_url()));
    (void)redis_->command({"DEL", stream_, stream_ + ":dead", stream_ + ":auth:revoked"});
    pg_ = std::make_unique<Pg>(schema_);
  }
  ~Fleet() {
    procs_.clear();  // each killed and reaped: nothing writes to the dirs below any more
    (void)redis_->command({"DEL", stream_, stream_ + ":dead", stream_ + ":auth:revoked"});
    // The data dirs go with a passing test; a failing one keeps them to look at.
    if (::testing::Test::HasFailure()) {
      for (const auto& [who, dir] : dirs_)
        std::printf("  kept %s's dir: %s\n", who.c_str(), dir.c_str());
      return;
    }
    std::error_code ec;
    for (const auto& [who, dir] : dirs_) std::filesystem::remove_all(dir, ec);
  }

  const std::string& stream() const { return stream_; }
  const std::string& schema() const { return schema_; }
  Pg& pg() { return *pg_; }
  transport::RedisClient& redis() { return *redis_; }

  // `scope server` on this test's stream and schema.
  Process& server(std::vector<std::string> extra = {}, const std::string& consumer = "server-1") {
    std::vector<std::string> argv = {
        kScope,       "server",      "--redis",           redis_url(),
        "--postgres", pg_url(),      "--postgres-schema", schema_,
        "--stream",   stream_,       "--consumer",        consumer,
        "--listen",   "127.0.0.1:0", "--data-dir",        data_dir("server")};
    argv.insert(argv.end(), extra.begin(), extra.end());
    server_ = &start(argv);
    return *server_;
  }
  // The running server's HTTP base URL (http://127.0.0.1:PORT); empty without one.
  std::string server_url() {
    if (!server_) return "";
    int port = metrics_port(*server_);
    return port > 0 ? "http://127.0.0.1:" + std::to_string(port) : "";
  }
  std::string admin_token() {
    std::ifstream in(data_dir("server") + "/admin.token");
    std::string t;
    std::getline(in, t);
    return t;
  }
  // An admin call on the running server.
  http::ClientResponse api(const std::string& method, const std::string& path,
                           const std::string& body = "", const std::string& bearer = "use-admin") {
    http::ClientRequest req;
    req.method = method;
    req.url = server_url() + path;
    req.body = body;
    req.timeout = std::chrono::seconds(20);
    if (!bearer.empty())
      req.headers.emplace_back("Authorization",
                               "Bearer " + (bearer == "use-admin" ? admin_token() : bearer));
    auto r = http::fetch(req);
    return r ? *r : http::ClientResponse{};
  }
  // A new node on the server (an existing one of that name is deleted first); its one-time token.
  std::string create_node(const std::string& node) {
    auto r = api("POST", "/api/v1/nodes", nlohmann::json{{"name", node}}.dump());
    if (r.status == 409) {
      api("DELETE", "/api/v1/nodes/" + node);
      r = api("POST", "/api/v1/nodes", nlohmann::json{{"name", node}}.dump());
    }
    EXPECT_EQ(r.status, 201) << r.body;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    return j.is_object() ? j.value("enrollment_token", "") : "";
  }
  // Enrolls `node` with the running server, its key in `dir` (`scope agent --enroll-file`).
  void enroll(const std::string& node, const std::string& dir) {
    std::string token = create_node(node);
    std::string file = dir + "/enroll.token";
    std::ofstream(file) << token << "\n";
    RunResult r = bpftest::run(
        {kScope, "agent", "--enroll-file", file, "--server", server_url(), "--data-dir", dir}, 60);
    std::filesystem::remove(file);
    EXPECT_EQ(r.status, 0) << r.out << r.err;
  }
  // A producer on the fleet's stream that signs like `node`'s agent would: `node` is enrolled
  // with the running server (again, with a new key, when it was before) and its key kept in a
  // directory of its own.
  std::unique_ptr<transport::StreamProducer> signed_producer(const std::string& node) {
    std::string dir = data_dir("signer-" + node + "-" + std::to_string(++signers_));
    enroll(node, dir);
    auto id = agent::load_node_identity(dir);
    EXPECT_TRUE(id && *id) << (id ? "not enrolled" : id.error());
    auto p = std::make_unique<transport::StreamProducer>(*redis_, stream_);
    if (id && *id)
      p->set_signer(node, [key = (*id)->secret_key](std::string_view b) {
        return auth::sign_detached(key, b);
      });
    return p;
  }
  // `scope agent` with synthetic events (the test hook).
  Process& agent(const std::string& node, int64_t count, uint64_t rate,
                 std::vector<std::string> extra = {}, const std::string& given_dir = "") {
    std::string dir = given_dir.empty() ? data_dir("agent-" + node) : given_dir;
    if (server_ && !std::filesystem::exists(dir + "/node.key")) enroll(node, dir);
    std::vector<std::string> argv = {kScope,
                                     "agent",
                                     "--redis",
                                     redis_url(),
                                     "--node",
                                     node,
                                     "--stream",
                                     stream_,
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--data-dir",
                                     dir,
                                     "--test-synthetic-count",
                                     std::to_string(count),
                                     "--test-synthetic-rate",
                                     std::to_string(rate)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return start(argv);
  }
  Process& start(const std::vector<std::string>& argv) {
    procs_.push_back(std::make_unique<Process>());
    EXPECT_TRUE(procs_.back()->start(argv, {{"SCOPE_VERBOSE", "1"}}));
    return *procs_.back();
  }
  std::string data_dir(const std::string& who) {
    auto it = dirs_.find(who);
    if (it != dirs_.end()) return it->second;
    return dirs_[who] = temp_dir(name_ + "-" + who);
  }

  int64_t stored() { return pg_->scalar("SELECT count(*) FROM cuda_events"); }
  int64_t distinct() {
    return pg_->scalar("SELECT count(*) FROM (SELECT DISTINCT node, seq FROM cuda_events) d");
  }
  // Waits until `expected` events are stored (true) or the timeout passes.
  bool wait_stored(int64_t expected, double timeout_s) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
      if (stored() >= expected) return true;
      for (auto& p : procs_) p->pump(0);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }

 private:
  std::string name_, schema_, stream_;
  std::unique_ptr<transport::RedisClient> redis_;
  std::unique_ptr<Pg> pg_;
  std::vector<std::unique_ptr<Process>> procs_;
  std::map<std::string, std::string> dirs_;
  Process* server_ = nullptr;  // the last one started
  int signers_ = 0;
};

// The metrics port a process printed ("/metrics on http://127.0.0.1:PORT").
inline int metrics_port(Process& p, double timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  std::regex re("on http://127\\.0\\.0\\.1:([0-9]+)");
  while (std::chrono::steady_clock::now() < deadline) {
    p.pump(50);
    std::smatch m;
    std::string err = p.err();
    if (std::regex_search(err, m, re)) return std::stoi(m[1]);
  }
  return -1;
}

// One sample from /metrics (`name{labels}` as written), -1 when absent.
double metric(int port, const std::string& series);

// Waits for `pred`, pumping the processes' output meanwhile.
inline bool wait_until(const std::function<bool()>& pred, double timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return pred();
}

// The JSON summary a process printed on stdout at exit.
inline nlohmann::json summary_of(const RunResult& r) {
  for (const auto& line : bpftest::lines_of(r.out))
    if (line.rfind("{\"", 0) == 0) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object() && j.value("event", "") == "summary") return j;
    }
  return nullptr;
}

// Every stored event once: as many rows as distinct (node, seq), and `expected` of them.
inline void expect_exactly_once(Fleet& f, int64_t expected) {
  EXPECT_EQ(f.stored(), expected);
  EXPECT_EQ(f.distinct(), expected);
  EXPECT_EQ(f.pg().scalar("SELECT count(*) FROM cuda_events WHERE op = 'launch' AND kernel LIKE "
                          "'synthetic_kernel_%'"),
            expected);
}

inline std::string describe(Process& p) {
  p.pump(0);
  return "stderr:\n" + p.err().substr(p.err().size() > 4000 ? p.err().size() - 4000 : 0);
}

// `n` launches of synthetic kernels from `node`, numbered from `first_seq`.
inline event::Batch synthetic_batch(const std::string& node, uint64_t first_seq, size_t n) {
  event::Batch b;
  b.node = node;
  b.boot_id = "boot-1";
  b.first_seq = first_seq;
  CudaEvent e;
  e.comm = "synthetic";
  e.call = CALL_cuLaunchKernel;
  e.op = CUDA_OP_LAUNCH;
  for (size_t i = 0; i < n; ++i) {
    e.ts_ns = 1'790'000'000'000'000'000 + first_seq + i;
    e.pid = 4000 + static_cast<uint32_t>(i % 3);
    e.tid = e.pid;
    e.kernel = "synthetic_kernel_" + std::to_string(i % 5) + "(int)";
    b.events.push_back(cuda_row(e));
  }
  return b;
}

// A stream entry's fields (XRANGE's [id, [field, value, ...]]) by name.
inline std::map<std::string, std::string> fields_of(const transport::RedisValue& entry) {
  std::map<std::string, std::string> kv;
  const auto& fields = entry.elements.at(1).elements;
  for (size_t i = 0; i + 1 < fields.size(); i += 2) kv[fields[i].str] = fields[i + 1].str;
  return kv;
}

// Stops `server` with SIGTERM: it must exit 0 and print its summary (returned).
inline nlohmann::json stopped_summary(Process& server) {
  server.signal(SIGTERM);
  auto r = server.wait(30);
  EXPECT_EQ(r.status, 0) << r.err;
  auto s = summary_of(r);
  EXPECT_TRUE(s.is_object()) << r.out;
  return s;
}

// The series of scope_ingest_rejected_total for `cause`.
inline std::string rejected(const std::string& cause) {
  return "scope_ingest_rejected_total{cause=\"" + cause + "\"}";
}

}  // namespace scope::fleettest
