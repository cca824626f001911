// The query API (server/queries.h) on real SQLite and PostgreSQL stores: known events written
// through Store::write, every endpoint's exact answer, the same answer from both stores, and
// hostile requests refused or answered without effect.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>

#include "event/row.h"
#include "http/router.h"
#include "server/queries.h"
#include "store/rollup.h"
#include "store_suite.h"

namespace scope::store::testing {
namespace {

using json = nlohmann::json;

constexpr int64_t kS = 1'000'000'000;
constexpr int64_t kT0 = 1'700'000'040 * kS;  // a whole minute

class Events {
 public:
  event::EventRow& add(const char* family, int64_t ts, uint32_t pid, const std::string& comm) {
    batch_.events.push_back(event::make_row(*event::schema_for(family), ts, pid, pid, comm));
    return batch_.events.back();
  }
  event::EventRow& last() { return batch_.events.back(); }
  event::Batch take(const std::string& node) {
    batch_.node = node;
    batch_.boot_id = "boot-1";
    batch_.first_seq = 1;
    return std::move(batch_);
  }

 private:
  event::Batch batch_;
};

void set(event::EventRow& r, const std::map<std::string, event::Value>& columns) {
  for (const auto& [name, v] : columns) event::set_column(r, name, v);
}

// The events every test reads, on node n1 (and one launch on n2).
void write_known_events(Store& s) {
  Events e;
  auto launch = [&](int64_t at, uint32_t pid, const std::string& comm, event::Value kernel,
                    int64_t ns) {
    set(e.add("cuda", kT0 + at, pid, comm), {{"call", std::string("cudaLaunchKernel")},
                                             {"op", std::string("launch")},
                                             {"ret", int64_t{0}},
                                             {"kernel", std::move(kernel)},
                                             {"grid", std::string("[4,1,1]")},
                                             {"block", std::string("[128,1,1]")},
                                             {"stream", int64_t{0x10}},
                                             {"handle", int64_t{0x401000}},
                                             {"duration_ns", ns}});
  };
  launch(10 * kS, 100, "demo", std::string("k_a"), 100);
  // Named by its host stub: where the stub lives.
  set(e.last(), {{"kernel_file", std::string("/opt/demo")}, {"kernel_offset", int64_t{0x1149}}});
  launch(20 * kS, 101, "o'hare", std::string("k_b"), 1000);
  launch(30 * kS, 100, "demo", event::Value{}, 5);
  launch(70 * kS, 100, "demo", std::string("k_a"), 200);
  launch(130 * kS, 100, "demo", std::string("k_a"), 300);
  auto mem = [&](int64_t at, const char* op, int64_t ptr, event::Value bytes) {
    set(e.add("cuda", kT0 + at, 100, "demo"),
        {{"call", std::string(op == std::string("alloc") ? "cudaMalloc" : "cudaFree")},
         {"op", std::string(op)},
         {"ret", int64_t{0}},
         {"ptr", ptr},
         {"bytes", std::move(bytes)}});
  };
  mem(1 * kS, "alloc", 0x1000, int64_t{1000});
  mem(40 * kS, "alloc", 0x2000, int64_t{500});
  mem(50 * kS, "free", 0x1000, event::Value{});
  auto copy = [&](int64_t at, const char* kind, int64_t bytes, int64_t ns) {
    set(e.add("cuda", kT0 + at, 100, "demo"), {{"call", std::string("cudaMemcpy")},
                                               {"op", std::string("memcpy")},
                                               {"kind", std::string(kind)},
                                               {"bytes", bytes},
                                               {"duration_ns", ns}});
  };
  copy(10 * kS, "htod", 1'000'000, 1'000'000);
  copy(11 * kS, "dtoh", 2'000'000, 4'000'000);
  copy(12 * kS, "htod", 1'000'000, 1'000'000);
  for (int64_t ns : {int64_t{500}, int64_t{5000}, 2 * kS})
    set(e.add("cuda", kT0 + 13 * kS, 100, "demo"), {{"call", std::string("cudaDeviceSynchronize")},
                                                    {"op", std::string("sync")},
                                                    {"duration_ns", ns}});

  set(e.add("exec", kT0 + 1 * kS, 200, "bash"), {{"call", std::string("execve")},
                                                 {"ppid", int64_t{1}},
                                                 {"uid", int64_t{0}},
                                                 {"filename", std::string("/usr/bin/bash")},
                                                 {"argv", std::string(R"(["bash","-c","exit 3"])")},
                                                 {"argv_truncated", int64_t{0}},
                                                 {"ret", int64_t{0}}});
  set(e.add("exec", kT0 + 2 * kS, 100, "demo"),
      {{"call", std::string("execve")},
       {"ppid", int64_t{200}},
       {"filename", std::string("/opt/demo")},
       {"argv", std::string(R"(["/opt/demo","--model","x.gguf"])")},
       {"ret", int64_t{0}}});
  set(e.add("exec", kT0 + 5 * kS, 200, "bash"),
      {{"call", std::string("exit")}, {"exit_code", int64_t{3}}, {"lifetime_ns", 4 * kS}});
  set(e.add("exec", kT0 + 200 * kS, 100, "demo"),
      {{"call", std::string("exit")}, {"exit_code", int64_t{0}}});

  auto open = [&](int64_t at, const std::string& comm, const std::string& path, int64_t ret) {
    set(e.add("open", kT0 + at, 300, comm),
        {{"call", std::string("openat")}, {"path", path}, {"ret", ret}});
  };
  open(1 * kS, "cat", "/etc/passwd", 3);
  open(2 * kS, "cat", "/etc/passwd", 3);
  open(3 * kS, "cat", "/nope", -2);
  open(4 * kS, "o'hare", "/x", 3);

  auto sys = [&](int64_t at, const char* name, int64_t count, int64_t errors, int64_t ns) {
    set(e.add("syscalls", kT0 + at, 300, "cat"),
        {{"name", std::string(name)}, {"count", count}, {"errors", errors}, {"total_ns", ns}});
  };
  sys(1 * kS, "read", 6, 1, 60);
  sys(2 * kS, "read", 4, 0, 40);
  sys(2 * kS, "write", 5, 3, 1000);

  for (int64_t at : {1 * kS, 2 * kS})
    set(e.add("sched", kT0 + at, 100, "demo"), {{"switches", int64_t{10}},
                                                {"voluntary", int64_t{7}},
                                                {"involuntary", int64_t{3}},
                                                {"offcpu_ns", int64_t{100}},
                                                {"runq_ns", int64_t{5}}});
  set(e.add("sched", kT0 + 1 * kS, 300, "cat"), {{"switches", int64_t{1}},
                                                 {"voluntary", int64_t{1}},
                                                 {"involuntary", int64_t{0}},
                                                 {"offcpu_ns", int64_t{1}},
                                                 {"runq_ns", int64_t{1}}});

  set(e.add("net", kT0 + 3 * kS, 100, "demo"), {{"op", std::string("connect")},
                                                {"family", std::string("ipv4")},
                                                {"saddr", std::string("10.0.0.1")},
                                                {"sport", int64_t{40000}},
                                                {"daddr", std::string("10.0.0.2")},
                                                {"dport", int64_t{443}},
                                                {"error", int64_t{0}},
                                                {"handshake_ns", int64_t{1500}}});
  set(e.add("net", kT0 + 9 * kS, 100, "demo"), {{"op", std::string("close")},
                                                {"family", std::string("ipv4")},
                                                {"saddr", std::string("10.0.0.1")},
                                                {"sport", int64_t{40000}},
                                                {"daddr", std::string("10.0.0.2")},
                                                {"dport", int64_t{443}},
                                                {"duration_ns", 6 * kS},
                                                {"rx_bytes", int64_t{4096}},
                                                {"tx_bytes", int64_t{512}}});

  auto decode = [&](int64_t at, const char* phase, int64_t tokens, int64_t ns) {
    set(e.add("llama", kT0 + at, 100, "demo"), {{"call", std::string("llama_decode")},
                                                {"op", std::string("decode")},
                                                {"phase", std::string(phase)},
                                                {"tokens", tokens},
                                                {"duration_ns", ns},
                                                {"ctx", int64_t{0xc0}},
                                                {"ret", int64_t{0}}});
  };
  decode(1 * kS, "prompt", 10, 100);
  decode(1 * kS + 200, "prompt", 5, 50);
  decode(2 * kS, "generation", 1, 20);
  decode(2 * kS + 100, "generation", 1, 30);
  set(e.add("ggml", kT0 + 2 * kS, 100, "demo"),
      {{"call", std::string("ggml_backend_graph_compute")},
       {"op", std::string("graph")},
       {"duration_ns", int64_t{40}},
       {"nodes", int64_t{12}}});
  set(e.add("ggml", kT0 + 1 * kS, 100, "demo"), {{"call", std::string("ggml_backend_alloc")},
                                                 {"op", std::string("alloc")},
                                                 {"ptr", int64_t{0xa0}},
                                                 {"bytes", int64_t{4096}}});

  auto w = s.write(e.take("n1"));
  ASSERT_TRUE(w) << w.error();
  launch(15 * kS, 400, "other", std::string("k_c"), 7);
  w = s.write(e.take("n2"));
  ASSERT_TRUE(w) << w.error();
}

struct Answer {
  int status = 0;
  json body;
};

class QueryApi : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    if (auto why = GetParam().skip_reason(); !why.empty()) GTEST_SKIP() << why;
    auto s = GetParam().make();
    ASSERT_TRUE(s) << s.error();
    store_ = std::move(s.value());
    write_known_events(*store_);
    server::add_query_routes(router_, *store_);
  }

  Answer get(const std::string& path, const std::map<std::string, std::string>& query = {}) {
    return call(router_, path, query);
  }

 public:
  // GET /api/v1/query<path> with `query`, through the router as the server calls it.
  static Answer call(const http::Router& router, const std::string& path,
                     std::map<std::string, std::string> query) {
    auto m = router.match("GET", "/api/v1/query" + path);
    if (!m.route) {
      ADD_FAILURE() << "no route " << path;
      return {};
    }
    EXPECT_EQ(m.route->access, http::Access::kViewer) << path;
    EXPECT_TRUE(m.route->blocking) << path;
    http::Request req;
    req.method = "GET";
    req.path = "/api/v1/query" + path;
    req.query = std::move(query);
    req.params = m.params;
    http::Response res = m.route->handler(req);
    Answer a{res.status, json::parse(res.body, nullptr, false)};
    EXPECT_FALSE(a.body.is_discarded()) << res.body;
    return a;
  }

  static std::map<std::string, std::string> window(int64_t from, int64_t to) {
    return {{"from", std::to_string(kT0 + from)}, {"to", std::to_string(kT0 + to)}};
  }
  static std::map<std::string, std::string> with(std::map<std::string, std::string> q,
                                                 const std::map<std::string, std::string>& more) {
    for (const auto& [k, v] : more) q[k] = v;
    return q;
  }

 protected:
  std::unique_ptr<Store> store_;
  http::Router router_;
};

TEST_P(QueryApi, TopKernelsJoinTheMinuteRollupAndTheEdgesExactly) {
  // [T0+5s, T0+125s): the whole minute [60s, 120s) from the rollup, the edges from the rows.
  auto a = get("/cuda/top-kernels", window(5 * kS, 125 * kS));
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body["kernels"], json::parse(R"([
    {"kernel": "k_b", "launches": 1, "total_ns": 1000},
    {"kernel": "k_a", "launches": 2, "total_ns": 300},
    {"kernel": "k_c", "launches": 1, "total_ns": 7},
    {"kernel": "", "launches": 1, "total_ns": 5}])"));
  EXPECT_EQ(a.body["window"], json({{"from_ns", kT0 + 5 * kS}, {"to_ns", kT0 + 125 * kS}}));
  // Filters: a node, a process, a command (which reads the rows: the rollup has no comm).
  a = get("/cuda/top-kernels", with(window(0, 180 * kS), {{"node", "n1"}, {"pid", "100"}}));
  EXPECT_EQ(a.body["kernels"], json::parse(R"([{"kernel": "k_a", "launches": 3, "total_ns": 600},
    {"kernel": "", "launches": 1, "total_ns": 5}])"));
  a = get("/cuda/top-kernels", with(window(0, 180 * kS), {{"comm", "o'hare"}}));
  EXPECT_EQ(a.body["kernels"],
            json::parse(R"([{"kernel": "k_b", "launches": 1, "total_ns": 1000}])"));
  a = get("/cuda/top-kernels", with(window(0, 180 * kS), {{"limit", "1"}}));
  EXPECT_EQ(a.body["kernels"].size(), 1u);
}

// GPU runs (gpu_kernel rows from scope's CUPTI library) give each kernel its GPU time; they are
// not launches. Over whole minutes (the minute rollup), their edges (the slots) and the partial
// slots (the rows), the answer is the same.
TEST_P(QueryApi, TopKernelsByGpuTimeFromTheGpuRuns) {
  Events e;
  const int64_t base = -600 * kS;  // before every known event
  int64_t want_a = 0, want_b = 0;
  for (int64_t at : {base + 2 * kS, base + 61 * kS, base + 61 * kS + 3, base + 125 * kS}) {
    set(e.add("cuda", kT0 + at, 300, "gpu"), {{"call", std::string("cuLaunchKernel")},
                                              {"op", std::string("launch")},
                                              {"kernel", std::string("k_gpu")}});
    set(e.add("cuda", kT0 + at + 4000, 300, "gpu"), {{"call", std::string("cupti")},
                                                     {"op", std::string("gpu_kernel")},
                                                     {"kernel", std::string("k_gpu")},
                                                     {"duration_ns", int64_t{250'000}},
                                                     {"queue_ns", int64_t{4000}},
                                                     {"correlation_id", at}});
    want_a += 250'000;
  }
  // A kernel that only ran (its launch before the window): GPU time, no launches.
  set(e.add("cuda", kT0 + base + 70 * kS, 300, "gpu"), {{"call", std::string("cupti")},
                                                        {"op", std::string("gpu_kernel")},
                                                        {"kernel", std::string("k_long")},
                                                        {"duration_ns", int64_t{9'000'000}},
                                                        {"correlation_id", int64_t{1}}});
  want_b += 9'000'000;
  // Copies on the GPU are not kernels.
  set(e.add("cuda", kT0 + base + 71 * kS, 300, "gpu"), {{"call", std::string("cupti")},
                                                        {"op", std::string("gpu_memcpy")},
                                                        {"bytes", int64_t{4096}},
                                                        {"kind", std::string("htod")},
                                                        {"duration_ns", int64_t{800}},
                                                        {"correlation_id", int64_t{2}}});
  ASSERT_TRUE(store_->write(e.take("n3")));  // a node of its own: n1's sequence numbers are taken
  for (auto [from, to] : {std::pair{base, base + 180 * kS}, {base + 1 * kS, base + 126 * kS}}) {
    auto a = get("/cuda/top-kernels", window(from, to));
    ASSERT_EQ(a.status, 200) << a.body;
    EXPECT_EQ(a.body["kernels"],
              json::parse(R"([{"kernel": "k_long", "launches": 0, "total_ns": )" +
                          std::to_string(want_b) + R"(},
      {"kernel": "k_gpu", "launches": 4, "total_ns": )" +
                          std::to_string(want_a) + "}]"))
        << from << " " << to;
  }
  // A comm filter reads the slots and rows only: the same.
  auto a = get("/cuda/top-kernels", with(window(base, base + 180 * kS), {{"comm", "gpu"}}));
  EXPECT_EQ(a.body["kernels"][1], json::parse(R"({"kernel": "k_gpu", "launches": 4, "total_ns": )" +
                                              std::to_string(want_a) + "}"));
}

TEST_P(QueryApi, LaunchRateCountsPerBucketForTheTopKernels) {
  auto a = get("/cuda/launch-rate", with(window(0, 120 * kS), {{"node", "n1"}, {"limit", "1"}}));
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body["step_ns"], 2 * kS);
  EXPECT_EQ(a.body["series"], json::parse("[{\"ts_ns\": " + std::to_string(kT0 + 10 * kS) +
                                          ", \"kernel\": \"k_a\", \"launches\": 1, \"total_ns\": "
                                          "100}, {\"ts_ns\": " +
                                          std::to_string(kT0 + 70 * kS) +
                                          ", \"kernel\": \"k_a\", \"launches\": 1, \"total_ns\": "
                                          "200}]"));
  // Two hours: 2-minute buckets from the rollup alone.
  auto q = window(0, 2 * 3600 * kS);
  a = get("/cuda/launch-rate", with(q, {{"node", "n1"}, {"limit", "1"}}));
  EXPECT_EQ(a.body["step_ns"], 120 * kS);
  EXPECT_EQ(a.body["series"], json::parse("[{\"ts_ns\": " + std::to_string(kT0) +
                                          ", \"kernel\": \"k_a\", \"launches\": 2, \"total_ns\": "
                                          "300}, {\"ts_ns\": " +
                                          std::to_string(kT0 + 120 * kS) +
                                          ", \"kernel\": \"k_a\", \"launches\": 1, \"total_ns\": "
                                          "300}]"));
}

TEST_P(QueryApi, LaunchesPageWithACursorAndOpenTheirDetail) {
  auto q = with(window(0, 180 * kS), {{"limit", "2"}});
  auto first = get("/cuda/launches", q);
  ASSERT_EQ(first.status, 200) << first.body;
  ASSERT_EQ(first.body["items"].size(), 2u);
  EXPECT_EQ(first.body["items"][0]["kernel"], "k_a");
  EXPECT_EQ(first.body["items"][0]["grid"], json::parse("[4,1,1]"));
  EXPECT_EQ(first.body["items"][0]["stream"], "0x10");
  EXPECT_EQ(first.body["items"][1]["node"], "n2");  // 15 s: n2's k_c
  ASSERT_TRUE(first.body["next_cursor"].is_string());
  std::vector<std::string> kernels;
  json page = first.body;
  for (int pages = 0; pages < 10; ++pages) {
    for (const auto& item : page["items"])
      kernels.push_back(item["kernel"].is_null() ? "-" : item["kernel"].get<std::string>());
    if (page["next_cursor"].is_null()) break;
    page = get("/cuda/launches", with(q, {{"cursor", page["next_cursor"]}})).body;
  }
  EXPECT_EQ(kernels, (std::vector<std::string>{"k_a", "k_c", "k_b", "-", "k_a", "k_a"}));
  auto by_kernel = get("/cuda/launches", with(window(0, 180 * kS), {{"kernel", "k_b"}}));
  ASSERT_EQ(by_kernel.body["items"].size(), 1u);
  EXPECT_EQ(by_kernel.body["next_cursor"], nullptr);

  std::string id = first.body["items"][0]["id"];
  auto d = get("/cuda/launches/" + id);
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_EQ(d.body["kernel"], "k_a");
  EXPECT_EQ(d.body["handle"], "0x401000");
  EXPECT_EQ(d.body["pid"], 100);
  EXPECT_EQ(d.body["filename"], "/opt/demo");
  EXPECT_EQ(d.body["argv"], json::parse(R"(["/opt/demo","--model","x.gguf"])"));
  EXPECT_EQ(d.body["kernel_file"], "/opt/demo");
  EXPECT_EQ(d.body["kernel_offset"], "0x1149");
  std::string named_by_driver = first.body["items"][1]["id"];  // n2's k_c
  auto nd = get("/cuda/launches/" + named_by_driver);
  ASSERT_EQ(nd.status, 200) << nd.body;
  EXPECT_EQ(nd.body["kernel"], "k_c");
  EXPECT_EQ(nd.body["kernel_file"], nullptr);
  EXPECT_EQ(nd.body["kernel_offset"], nullptr);
  EXPECT_EQ(get("/cuda/launches/1-1-6e39").status, 404);
  EXPECT_EQ(get("/cuda/launches/nope").status, 400);
  EXPECT_EQ(get("/cuda/launches/1-1-27206f7220313d31").status, 400);  // "' or 1=1"
}

TEST_P(QueryApi, MemoryReplaysAllocationsAndNamesLeaksOfExitedProcesses) {
  auto a = get("/cuda/memory", window(0, 60 * kS));
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body["step_ns"], kS);
  EXPECT_TRUE(a.body["complete"]);
  ASSERT_EQ(a.body["processes"].size(), 1u);
  const json& p = a.body["processes"][0];
  EXPECT_EQ(p["pid"], 100);
  EXPECT_EQ(p["bytes"], 500);
  EXPECT_EQ(p["peak_bytes"], 1500);
  EXPECT_EQ(p["outstanding"], json::parse("[{\"ptr\": \"0x2000\", \"bytes\": 500, \"ts_ns\": " +
                                          std::to_string(kT0 + 40 * kS) + "}]"));
  EXPECT_FALSE(p["exited"]);
  EXPECT_EQ(p["leaked_bytes"], 0);
  ASSERT_EQ(p["series"].size(), 60u);
  EXPECT_EQ(p["series"][0]["bytes"], 0);
  EXPECT_EQ(p["series"][1]["bytes"], 1000);
  EXPECT_EQ(p["series"][40]["bytes"], 1500);
  EXPECT_EQ(p["series"][50]["bytes"], 1500);  // the most during the bucket: before the free
  EXPECT_EQ(p["series"][51]["bytes"], 500);
  EXPECT_EQ(p["series"][59]["bytes"], 500);
  // A later window starts from the level before it; after the exit what is left leaked.
  a = get("/cuda/memory", window(100 * kS, 300 * kS));
  ASSERT_EQ(a.body["processes"].size(), 1u);
  EXPECT_EQ(a.body["processes"][0]["series"][0]["bytes"], 500);
  EXPECT_TRUE(a.body["processes"][0]["exited"]);
  EXPECT_EQ(a.body["processes"][0]["leaked_bytes"], 500);
  a = get("/llm/memory", window(0, 60 * kS));
  ASSERT_EQ(a.body["processes"].size(), 1u);
  EXPECT_EQ(a.body["processes"][0]["bytes"], 4096);
}

// The memory rollup kept with each batch answers exactly as the replay of the raw rows (which a
// comm filter still takes): random allocations, frees, allocations on a live pointer, frees of
// unknown pointers and failed calls of both families, on two nodes, in batches delivered out of
// order whose events are out of order too, one delivered twice; windows that cut slots, start
// after allocations they still count, or hold no row at all.
TEST_P(QueryApi, MemoryRollupAnswersAsTheReplayOfEveryRow) {
  std::mt19937_64 rng(20261207);
  auto pick = [&](int64_t n) { return static_cast<int64_t>(rng() % static_cast<uint64_t>(n)); };
  constexpr int64_t kBase = 1000 * kS;  // after the known events
  for (const char* node : {"r1", "r2"}) {
    std::vector<event::EventRow> rows;
    for (uint32_t pid = 10; pid < 13; ++pid) {
      for (int i = 0; i < 160; ++i) {
        // Whole seconds, slot boundaries and ties included, and some nanoseconds apart.
        int64_t at = kBase + pick(400) * kS + (pick(3) == 0 ? 0 : pick(2 * kS));
        bool ggml = pick(4) == 0;
        int64_t r = pick(100);
        bool alloc = r < 55;
        const char* op =
            ggml ? (alloc ? (r % 2 ? "alloc" : "cuda_alloc") : (r % 2 ? "free" : "cuda_free"))
                 : (alloc ? "alloc" : "free");
        auto row = event::make_row(*event::schema_for(ggml ? "ggml" : "cuda"), at, pid, pid, "w");
        int64_t ptr = r < 95 ? 0x1000 * (1 + pick(6)) : 0x9000000 + pick(1000);  // unknown frees
        set(row, {{"call", std::string(op)},
                  {"op", std::string(op)},
                  {"ret", r >= 90 && r < 93 ? int64_t{2} : int64_t{0}},  // failed: not counted
                  {"ptr", pick(50) == 0 ? int64_t{0} : ptr}});
        if (alloc && pick(10) != 0) event::set_column(row, "bytes", int64_t{1} << pick(20));
        rows.push_back(std::move(row));
      }
      if (pid == 11) {
        auto exit = event::make_row(*event::schema_for("exec"), kBase + 300 * kS, pid, pid, "w");
        set(exit, {{"call", std::string("exit")}, {"exit_code", int64_t{0}}});
        rows.push_back(std::move(exit));
      }
    }
    std::shuffle(rows.begin(), rows.end(), rng);
    constexpr size_t kBatches = 7;
    std::vector<event::Batch> batches(kBatches);
    for (size_t b = 0; b < kBatches; ++b) {
      batches[b].node = node;
      batches[b].boot_id = "boot-r";
      batches[b].first_seq = 1 + b * 10000;
    }
    for (auto& row : rows) batches[static_cast<size_t>(pick(kBatches))].events.push_back(row);
    std::set<size_t> written;
    for (size_t b : {3, 0, 6, 1, 3, 5, 2, 4}) {  // batch 3 twice: refused the second time
      auto w = store_->write(batches[b]);
      ASSERT_TRUE(w) << w.error();
      EXPECT_EQ(w->duplicate, !written.insert(b).second) << b;
    }
  }
  const std::vector<std::pair<int64_t, int64_t>> windows = {
      {1000 * kS, 1060 * kS},           {1000 * kS, 1300 * kS},
      {1037 * kS + 123, 1337 * kS + 7}, {1100 * kS, 1400 * kS},
      {1002 * kS + 1, 1402 * kS - 1},   {600 * kS, 4200 * kS},
      {1200 * kS + 333, 1800 * kS},     {1500 * kS, 1800 * kS},
      {1398 * kS, 1458 * kS},           {990 * kS, 1050 * kS}};
  int compared = 0;
  for (const char* path : {"/cuda/memory", "/llm/memory"}) {
    for (const auto& [from, to] : windows) {
      for (const char* node : {"r1", "r2"}) {
        std::vector<std::map<std::string, std::string>> filters = {{{"node", node}}};
        for (const char* pid : {"10", "11", "12"})
          filters.push_back({{"node", node}, {"pid", pid}});
        for (const auto& f : filters) {
          auto q = with(window(from, to), f);
          q["limit"] = "100";
          auto rollup = get(path, q);
          auto replay = get(path, with(q, {{"comm", "w"}}));
          ASSERT_EQ(rollup.status, 200) << rollup.body;
          EXPECT_EQ(rollup.body, replay.body) << path << " " << from << " " << to << " " << node;
          compared += rollup.body["processes"].empty() ? 0 : 1;
        }
      }
    }
  }
  EXPECT_GT(compared, 60);
}

// Allocations before the window count in its level; a free in a later batch than its
// allocation ends it there; an allocation on a live pointer replaces its block; a free of an
// unknown pointer changes nothing.
TEST_P(QueryApi, MemoryAcrossBatchesAndWindows) {
  auto write = [&](uint64_t seq, int64_t at, const char* op, int64_t ptr, int64_t bytes) {
    event::Batch b;
    b.node = "m1";
    b.boot_id = "boot-m";
    b.first_seq = seq;
    auto row = event::make_row(*event::schema_for("cuda"), kT0 + at, 7, 7, "trainer");
    set(row, {{"call", std::string(op)},
              {"op", std::string(op)},
              {"ptr", ptr},
              {"bytes", std::string(op) == "alloc" ? event::Value(bytes) : event::Value()}});
    b.events.push_back(std::move(row));
    auto w = store_->write(b);
    ASSERT_TRUE(w) << w.error();
  };
  write(1, 10 * kS, "alloc", 0xa000, 100);
  write(2, 20 * kS, "alloc", 0xb000, 30);
  write(4, 400 * kS, "free", 0xa000, 0);    // arrives before...
  write(3, 350 * kS, "alloc", 0xa000, 50);  // ...the allocation that replaces 0xa000's block
  write(5, 410 * kS, "free", 0xc000, 0);    // unknown
  auto q = with(window(300 * kS, 600 * kS), {{"node", "m1"}});
  auto a = get("/cuda/memory", q);
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(a.body["processes"].size(), 1u) << a.body;
  const json& p = a.body["processes"][0];
  EXPECT_EQ(p["comm"], "trainer");
  EXPECT_EQ(p["bytes"], 30);
  EXPECT_EQ(p["peak_bytes"], 80);            // 100 + 30 before the window, 50 + 30 after 350 s
  EXPECT_EQ(p["series"][0]["bytes"], 130);   // the level the window starts from
  EXPECT_EQ(p["series"][10]["bytes"], 130);  // 350 s: the most in the bucket, before the 50
  EXPECT_EQ(p["series"][11]["bytes"], 80);
  EXPECT_EQ(p["series"][20]["bytes"], 80);  // 400 s: the free of the 50
  EXPECT_EQ(p["series"][21]["bytes"], 30);
  EXPECT_EQ(p["outstanding_count"], 1);
  EXPECT_EQ(a.body, get("/cuda/memory", with(q, {{"comm", "trainer"}})).body);
}

// Retention deletes the allocations before its cutoff: the answers are then those of the rows
// still stored, as their replay's.
TEST_P(QueryApi, MemoryAfterRetentionIsTheReplayOfTheRowsLeft) {
  event::Batch b;
  b.node = "t1";
  b.boot_id = "boot-t";
  b.first_seq = 1;
  for (auto [at, ptr, bytes] : {std::tuple{5010, 0xa0, 100}, std::tuple{5040, 0xb0, 30}}) {
    b.events.push_back(event::make_row(*event::schema_for("cuda"), kT0 + at * kS, 8, 8, "t"));
    set(b.events.back(),
        {{"op", std::string("alloc")}, {"ptr", int64_t{ptr}}, {"bytes", int64_t{bytes}}});
  }
  ASSERT_TRUE(store_->write(b));
  auto q = with(window(5000 * kS, 5060 * kS), {{"node", "t1"}});
  EXPECT_EQ(get("/cuda/memory", q).body["processes"][0]["bytes"], 130);
  ASSERT_TRUE(store_->apply_retention(kT0 + 5030 * kS));
  auto a = get("/cuda/memory", q);
  ASSERT_EQ(a.body["processes"].size(), 1u) << a.body;
  EXPECT_EQ(a.body["processes"][0]["bytes"], 30);
  EXPECT_EQ(a.body["processes"][0]["peak_bytes"], 30);
  EXPECT_EQ(a.body, get("/cuda/memory", with(q, {{"comm", "t"}})).body);
}

TEST_P(QueryApi, CopiesAndSyncs) {
  auto a = get("/cuda/copies", window(0, 60 * kS));
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body["directions"], json::parse(R"([
    {"kind": "dtoh", "copies": 1, "bytes": 2000000, "duration_ns": 4000000, "bytes_per_s": 500000000.0},
    {"kind": "htod", "copies": 2, "bytes": 2000000, "duration_ns": 2000000, "bytes_per_s": 1000000000.0}])"));
  EXPECT_EQ(a.body["series"].size(), 3u);
  a = get("/cuda/syncs", window(0, 60 * kS));
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body["count"], 3);
  EXPECT_EQ(a.body["max_ns"], 2 * kS);
  EXPECT_EQ(a.body["total_ns"], 2 * kS + 5500);
  std::vector<int64_t> counts;
  for (const auto& b : a.body["buckets"]) counts.push_back(b["count"]);
  EXPECT_EQ(counts, (std::vector<int64_t>{1, 1, 0, 0, 0, 0, 0, 1}));
  EXPECT_EQ(a.body["buckets"][0]["lt_ns"], 1000);
  EXPECT_EQ(a.body["buckets"][7]["lt_ns"], nullptr);
}

// A window of 5 minutes or more reads whole 5-second slots from the rollups (store/rollup.h) and
// its partial edge slots from the raw rows: the answers are those of the raw rows.
TEST_P(QueryApi, SlotRollupsAndEdgesAnswerAsTheRawRows) {
  auto q = window(-3 * kS, 297 * kS);  // 5 minutes: 5 s steps; raw edges [-3, 0) and [295, 297)
  auto a = get("/cuda/copies", q);
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body["step_ns"], 5 * kS);
  EXPECT_EQ(a.body["directions"], json::parse(R"([
    {"kind": "dtoh", "copies": 1, "bytes": 2000000, "duration_ns": 4000000, "bytes_per_s": 500000000.0},
    {"kind": "htod", "copies": 2, "bytes": 2000000, "duration_ns": 2000000, "bytes_per_s": 1000000000.0}])"));
  EXPECT_EQ(a.body["series"].size(), 2u);
  EXPECT_EQ(a.body["series"][0]["ts_ns"], kT0 + 10 * kS);
  // An edge that cuts a slot: the copy at 10 s is before it, 11 s and 12 s are in its raw edge.
  a = get("/cuda/copies", window(11 * kS, 311 * kS));
  EXPECT_EQ(a.body["directions"], json::parse(R"([
    {"kind": "dtoh", "copies": 1, "bytes": 2000000, "duration_ns": 4000000, "bytes_per_s": 500000000.0},
    {"kind": "htod", "copies": 1, "bytes": 1000000, "duration_ns": 1000000, "bytes_per_s": 1000000000.0}])"));
  a = get("/cuda/syncs", q);
  EXPECT_EQ(a.body["count"], 3);
  EXPECT_EQ(a.body["max_ns"], 2 * kS);
  EXPECT_EQ(a.body["total_ns"], 2 * kS + 5500);
  a = get("/host/sched", q);
  EXPECT_EQ(a.body["comms"][0], json::parse(R"({"comm": "demo", "switches": 20, "voluntary": 14,
    "involuntary": 6, "offcpu_ns": 200, "runq_ns": 10})"));
  EXPECT_EQ(a.body["series"].size(), 2u);  // 1 s and 2 s are one 5 s bucket, per comm
  a = get("/host/sched", with(q, {{"comm", "cat"}}));
  EXPECT_EQ(a.body["comms"].size(), 1u);
  EXPECT_EQ(a.body["comms"][0]["offcpu_ns"], 1);
  a = get("/host/syscalls", q);
  EXPECT_EQ(a.body["syscalls"], json::parse(R"([
    {"name": "read", "count": 10, "errors": 1, "total_ns": 100},
    {"name": "write", "count": 5, "errors": 3, "total_ns": 1000}])"));
  a = get("/host/syscalls", with(q, {{"pid", "1"}}));
  EXPECT_EQ(a.body["syscalls"], json::array());
  // Launches: the slots alone (a comm; a 5-minute series) or at the edges of the minutes.
  a = get("/cuda/top-kernels", with(window(7 * kS, 307 * kS), {{"comm", "o'hare"}}));
  EXPECT_EQ(a.body["kernels"],
            json::parse(R"([{"kernel": "k_b", "launches": 1, "total_ns": 1000}])"));
  auto top = get("/cuda/top-kernels", with(q, {{"limit", "100"}}));
  auto rate = get("/cuda/launch-rate", with(q, {{"limit", "100"}}));
  EXPECT_EQ(rate.body["step_ns"], 5 * kS);
  std::map<std::string, int64_t> launched;
  for (const auto& b : rate.body["series"])
    launched[b["kernel"].get<std::string>()] += b["launches"].get<int64_t>();
  ASSERT_FALSE(top.body["kernels"].empty());
  for (const auto& k : top.body["kernels"])
    EXPECT_EQ(launched[k["kernel"].get<std::string>()], k["launches"].get<int64_t>()) << k;
  a = get("/llm/tokens", q);
  EXPECT_EQ(a.body["prompt_tokens"], 15);
  EXPECT_EQ(a.body["generation_tokens"], 2);
  EXPECT_DOUBLE_EQ(a.body["prompt_tokens_per_s"].get<double>(), 15e9 / 150);
  EXPECT_DOUBLE_EQ(a.body["generation_tokens_per_s"].get<double>(), 2e9 / 50);
}

TEST_P(QueryApi, HostProcessesOpensSchedSyscallsAndTcp) {
  auto a = get("/host/processes", window(0, 60 * kS));
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(a.body["items"].size(), 2u);
  EXPECT_EQ(a.body["items"][0]["pid"], 200);
  EXPECT_EQ(a.body["items"][0]["argv"], json::parse(R"(["bash","-c","exit 3"])"));
  EXPECT_EQ(a.body["items"][0]["exit"]["exit_code"], 3);
  EXPECT_EQ(a.body["items"][1]["ppid"], 200);
  // Its exit, at 200 s, is after the window: shown all the same (the first after the exec).
  EXPECT_EQ(a.body["items"][1]["exit"]["ts_ns"], kT0 + 200 * kS);
  EXPECT_EQ(a.body["items"][1]["exit"]["exit_code"], 0);
  a = get("/host/opens", window(0, 60 * kS));
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body["comms"], json::parse(R"([{"comm": "cat", "opens": 3, "errors": 1},
    {"comm": "o'hare", "opens": 1, "errors": 0}])"));
  EXPECT_EQ(a.body["paths"], json::parse(R"([{"path": "/etc/passwd", "opens": 2, "errors": 0},
    {"path": "/nope", "opens": 1, "errors": 1}, {"path": "/x", "opens": 1, "errors": 0}])"));
  a = get("/host/sched", window(0, 60 * kS));
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body["comms"][0], json::parse(R"({"comm": "demo", "switches": 20, "voluntary": 14,
    "involuntary": 6, "offcpu_ns": 200, "runq_ns": 10})"));
  EXPECT_EQ(a.body["series"].size(), 3u);
  a = get("/host/syscalls", window(0, 60 * kS));
  EXPECT_EQ(a.body["syscalls"], json::parse(R"([
    {"name": "read", "count": 10, "errors": 1, "total_ns": 100},
    {"name": "write", "count": 5, "errors": 3, "total_ns": 1000}])"));
  a = get("/host/syscalls", with(window(0, 60 * kS), {{"sort", "errors"}}));
  EXPECT_EQ(a.body["syscalls"][0]["name"], "write");
  a = get("/host/tcp", window(0, 60 * kS));
  ASSERT_EQ(a.body["items"].size(), 2u);
  EXPECT_EQ(a.body["items"][0]["dport"], 443);
  EXPECT_EQ(a.body["items"][0]["handshake_ns"], 1500);
  EXPECT_EQ(a.body["items"][1]["rx_bytes"], 4096);
}

// host/opens from its merged rollups (buckets of 5 s, 20 s, 1 min and 10 min) and the raw rows
// of the partial slots: the same answer as counting the raw rows, for windows whose edges cut
// slots, buckets and minutes, with every filter, for keys that many batches of two nodes share.
TEST_P(QueryApi, OpensFromTheRollupsAnswerAsTheRawRows) {
  struct Open {
    int64_t ts;
    std::string node;
    int64_t pid;
    std::string comm;
    std::optional<std::string> path;
    std::optional<int64_t> ret;
  };
  const int64_t base = kT0 + 10'000 * kS;  // after the known events; 40 s into a 10-minute bucket
  std::mt19937_64 rng(7);
  auto pick = [&](int64_t n) { return static_cast<int64_t>(rng() % static_cast<uint64_t>(n)); };
  std::vector<Open> opens;
  for (int batch = 0; batch < 8; ++batch) {
    std::string node = batch % 2 ? "n4" : "n3";
    event::Batch b;
    b.node = node;
    b.boot_id = "opens";
    b.first_seq = static_cast<uint64_t>(batch) * 1000 + 1;
    for (int i = 0; i < 400; ++i) {
      Open o{base + pick(1500 * kS),   node,         10 + pick(3),
             pick(4) ? "app" : "tool", std::nullopt, std::nullopt};
      // Some paths with what SQL, PostgreSQL's arrays or JSON quote: ' " \ , { } and a space.
      if (pick(10)) o.path = (pick(5) ? "/data/f" : "/o'd \"q\\,{}") + std::to_string(pick(25));
      if (pick(10)) o.ret = pick(3) ? 3 : -2;
      auto& e = b.events.emplace_back(event::make_row(*event::schema_for("open"), o.ts,
                                                      static_cast<uint32_t>(o.pid),
                                                      static_cast<uint32_t>(o.pid), o.comm));
      set(e, {{"call", std::string("openat")}});
      if (o.path) event::set_column(e, "path", *o.path);
      if (o.ret) event::set_column(e, "ret", *o.ret);
      opens.push_back(std::move(o));
    }
    auto w = store_->write(b);
    ASSERT_TRUE(w) << w.error();
  }
  // The answer counted from the events themselves.
  auto expected = [&](int64_t from, int64_t to, const std::map<std::string, std::string>& f) {
    std::map<std::string, std::pair<int64_t, int64_t>> comms, paths;
    for (const auto& o : opens) {
      if (o.ts < from || o.ts >= to) continue;
      if (f.count("node") && f.at("node") != o.node) continue;
      if (f.count("pid") && f.at("pid") != std::to_string(o.pid)) continue;
      if (f.count("comm") && f.at("comm") != o.comm) continue;
      int64_t error = o.ret && *o.ret < 0 ? 1 : 0;
      comms[o.comm].first += 1;
      comms[o.comm].second += error;
      paths[o.path.value_or("")].first += 1;
      paths[o.path.value_or("")].second += error;
    }
    auto top = [](const std::map<std::string, std::pair<int64_t, int64_t>>& m, const char* name) {
      std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>> v(m.begin(), m.end());
      std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
        return a.second.first > b.second.first;
      });
      json out = json::array();
      for (const auto& [k, c] : v)
        out.push_back({{name, k}, {"opens", c.first}, {"errors", c.second}});
      return out;
    };
    return std::pair{top(comms, "comm"), top(paths, "path")};
  };
  std::vector<std::pair<int64_t, int64_t>> windows = {
      {0, 1500 * kS},                     // every bucket
      {-1, 1501 * kS},                    // ... and raw rows just outside
      {20 * kS, 320 * kS},                // whole minutes and 10 minutes from 40 s past
      {3 * kS, 303 * kS},                 // edges inside slots
      {7 * kS + 1, 1207 * kS - 1},        // inside slots, across 10-minute buckets
      {25 * kS, 45 * kS},                 // 20-second buckets only
      {561 * kS, 562 * kS},               // one second
      {559 * kS + 500, 1161 * kS + 777},  // a 10-minute bucket and its edges at every width
  };
  for (int i = 0; i < 12; ++i) {
    int64_t from = pick(1500 * kS);
    windows.emplace_back(from, from + 1 + pick(1500 * kS - from));
  }
  int compared = 0;
  for (const auto& [from, to] : windows)
    for (const auto& f : std::vector<std::map<std::string, std::string>>{
             {},
             {{"node", "n4"}},
             {{"pid", "11"}},
             {{"comm", "tool"}},
             {{"pid", "12"}, {"comm", "app"}, {"node", "n3"}}}) {
      auto q = with(window(base - kT0 + from, base - kT0 + to), {{"limit", "1000"}});
      auto a = get("/host/opens", with(q, f));
      ASSERT_EQ(a.status, 200) << a.body;
      auto [comms, paths] = expected(base + from, base + to, f);
      EXPECT_EQ(a.body["comms"], comms) << json(q) << json(f);
      EXPECT_EQ(a.body["paths"], paths) << json(q) << json(f);
      ++compared;
    }
  EXPECT_EQ(compared, 100);
}

TEST_P(QueryApi, LlmTokensDecodeLatencyTimeToFirstTokenAndGraphShare) {
  auto a = get("/llm/tokens", window(0, 60 * kS));
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body["prompt_tokens"], 15);
  EXPECT_EQ(a.body["generation_tokens"], 2);
  EXPECT_DOUBLE_EQ(a.body["prompt_tokens_per_s"].get<double>(), 15e9 / 150);
  EXPECT_DOUBLE_EQ(a.body["generation_tokens_per_s"].get<double>(), 2e9 / 50);
  EXPECT_EQ(a.body["series"].size(), 2u);
  a = get("/llm/decode", window(0, 60 * kS));
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body["decodes"], 4);
  EXPECT_EQ(a.body["decode_p50_ns"], 30);
  EXPECT_EQ(a.body["decode_p99_ns"], 100);
  EXPECT_EQ(a.body["requests"], 1);
  EXPECT_EQ(a.body["ttft_p50_ns"], 250);
  EXPECT_EQ(a.body["graph_ns"], 40);
  EXPECT_EQ(a.body["decode_span_ns"], 1 * kS + 130);
}

// Decodes on node n3 from kB: a prompt run in two batches (slots 0 and 1), its first
// generation decode in slot 2, graph computes in slots 1 and 2.
constexpr int64_t kB = 10'000 * kS;  // a whole slot after kT0

void write_decode_runs(Store& s) {
  auto decode = [](event::Batch& b, int64_t at, const char* phase, int64_t ns) {
    b.events.push_back(
        event::make_row(*event::schema_for("llama"), kT0 + kB + at, 300, 300, "llm"));
    set(b.events.back(), {{"call", std::string("llama_decode")},
                          {"op", std::string("decode")},
                          {"phase", std::string(phase)},
                          {"tokens", int64_t{1}},
                          {"duration_ns", ns},
                          {"ctx", int64_t{7}}});
  };
  auto graph = [](event::Batch& b, int64_t at, int64_t ns) {
    b.events.push_back(event::make_row(*event::schema_for("ggml"), kT0 + kB + at, 300, 300, "llm"));
    set(b.events.back(), {{"call", std::string("ggml_backend_graph_compute")},
                          {"op", std::string("graph")},
                          {"duration_ns", ns}});
  };
  event::Batch first, second;
  for (auto* b : {&first, &second}) {
    b->node = "n3";
    b->boot_id = "boot-1";
  }
  first.first_seq = 1;
  second.first_seq = 10;
  decode(first, 1 * kS, "prompt", 999'500);
  decode(first, 4 * kS, "prompt", 1'007'000);
  decode(second, 6 * kS, "prompt", 2'000);
  graph(second, 7 * kS, 1'000);
  graph(second, 11 * kS, 500);
  decode(second, 12 * kS, "generation", 300);
  decode(second, 13 * kS, "generation", 400);
  for (auto* b : {&first, &second}) {
    auto w = s.write(*b);
    ASSERT_TRUE(w) << w.error();
  }
}

TEST_P(QueryApi, LlmDecodeJoinsTheSlotRollupsAndTheEdges) {
  write_decode_runs(*store_);
  // Durations 300, 400, 2000, 999500, 1007000. 999500 and 1007000 share the bucket
  // [122 * 8192, 123 * 8192): its middle, 1003520, is what a percentile falling in it answers
  // unless the largest duration in the bucket is smaller; 2000's bucket [2000, 2016) holds only
  // 2000, so 2000 is exact.
  for (const auto& [from, to] : std::vector<std::pair<int64_t, int64_t>>{
           {kB, kB + 15 * kS},           // whole slots only
           {kB + kS / 2, kB + 14 * kS},  // a whole slot, partial slots at both ends
           {kB + kS / 2, kB + 14 * kS + 123}}) {
    auto a = get("/llm/decode", window(from, to));
    ASSERT_EQ(a.status, 200) << a.body;
    EXPECT_EQ(a.body["complete"], true);
    EXPECT_EQ(a.body["decodes"], 5);
    EXPECT_EQ(a.body["decode_p50_ns"], 2'000);
    EXPECT_EQ(a.body["decode_p99_ns"], 1'003'520);
    // The prompt run from kB + 1 s (batch 1) to the end of kB + 6 s's decode (batch 2).
    EXPECT_EQ(a.body["requests"], 1);
    EXPECT_EQ(a.body["ttft_p50_ns"], 5 * kS + 2'000);
    EXPECT_EQ(a.body["ttft_p99_ns"], 5 * kS + 2'000);
    EXPECT_EQ(a.body["graph_computes"], 2);
    EXPECT_EQ(a.body["graph_ns"], 1'500);
    EXPECT_EQ(a.body["decode_span_ns"], 12 * kS + 400);
  }
  // The window cuts the prompt run: its request's first token came in the window, so it counts
  // whole, from kB + 1 s.
  // 1007000 is then a raw row at the edge, alone in its bucket: exact.
  auto a = get("/llm/decode", window(kB + 2 * kS, kB + 14 * kS));
  EXPECT_EQ(a.body["decodes"], 4);
  EXPECT_EQ(a.body["decode_p50_ns"], 400);
  EXPECT_EQ(a.body["decode_p99_ns"], 1'007'000);
  EXPECT_EQ(a.body["requests"], 1);
  EXPECT_EQ(a.body["ttft_p50_ns"], 5 * kS + 2'000);
  EXPECT_EQ(a.body["decode_span_ns"], 9 * kS + 400);
  // No generation decode: no request. Less than a slot: raw rows only, 999500 alone in its
  // bucket is exact.
  a = get("/llm/decode", window(kB + 5 * kS, kB + 10 * kS));
  EXPECT_EQ(a.body["decodes"], 1);
  EXPECT_EQ(a.body["requests"], 0);
  EXPECT_EQ(a.body["ttft_p50_ns"], nullptr);
  a = get("/llm/decode", window(kB + kS, kB + 4 * kS));
  EXPECT_EQ(a.body["decodes"], 1);
  EXPECT_EQ(a.body["decode_p50_ns"], 999'500);
  EXPECT_EQ(a.body["decode_span_ns"], 999'500);
  // Filters apply to the rollups as to the rows.
  a = get("/llm/decode", with(window(kB, kB + 15 * kS), {{"comm", "other"}}));
  EXPECT_EQ(a.body["decodes"], 0);
  EXPECT_EQ(a.body["decode_p50_ns"], nullptr);
  EXPECT_EQ(a.body["graph_computes"], 0);
  a = get("/llm/decode", with(window(kB, kB + 15 * kS), {{"node", "n3"}, {"pid", "300"}}));
  EXPECT_EQ(a.body["requests"], 1);
}

// Requests (time to first token) kept at write time are those of the replay of every decode,
// whatever order the batches come in: decodes of two nodes, three processes and two contexts
// each, ties and phaseless decodes included, shuffled into batches written out of order. The
// windows' whole minutes come from the per-minute histogram, their edges from the requests.
TEST_P(QueryApi, LlmRequestsAreTheReplayOfEveryDecodeInAnyBatchOrder) {
  std::mt19937_64 rng(20261207);
  auto pick = [&](int64_t n) { return static_cast<int64_t>(rng() % static_cast<uint64_t>(n)); };
  constexpr int64_t kBase = 5000 * kS;
  struct Decode {
    std::string node;
    int64_t pid, ctx, ts, seq, duration;
    std::string phase, comm;
  };
  std::vector<Decode> all;
  for (const char* node : {"q1", "q2"}) {
    std::vector<event::EventRow> rows;
    for (int i = 0; i < 600; ++i) {
      int64_t at = kT0 + kBase + pick(300) * kS + (pick(3) == 0 ? 0 : pick(2 * kS));
      int64_t pid = 20 + pick(3);
      const char* comm = pick(5) == 0 ? "other" : "llm";
      auto row = event::make_row(*event::schema_for("llama"), at, static_cast<uint32_t>(pid),
                                 static_cast<uint32_t>(pid), comm);
      int64_t r = pick(20);
      set(row, {{"call", std::string("llama_decode")},
                {"op", std::string(r == 0 ? "init" : "decode")},
                {"duration_ns", 1 + pick(3 * kS)},
                {"ctx", int64_t{1 + pick(2)}}});
      if (r != 1) event::set_column(row, "phase", std::string(r < 9 ? "prompt" : "generation"));
      rows.push_back(std::move(row));
    }
    constexpr size_t kBatches = 9;
    std::vector<event::Batch> batches(kBatches);
    for (size_t b = 0; b < kBatches; ++b) {
      batches[b].node = node;
      batches[b].boot_id = "boot-q";
      batches[b].first_seq = 1 + b * 10000;
    }
    for (auto& row : rows) batches[static_cast<size_t>(pick(kBatches))].events.push_back(row);
    for (size_t b : {4, 0, 8, 2, 7, 1, 3, 6, 5}) {
      auto w = store_->write(batches[b]);
      ASSERT_TRUE(w) << w.error();
      for (size_t i = 0; i < batches[b].events.size(); ++i) {
        const auto& e = batches[b].events[i];
        auto value = [&](const char* c) -> const event::Value& {
          return e.values[event::schema_for("llama")->column(c)];
        };
        const auto* phase = std::get_if<std::string>(&value("phase"));
        if (std::get<std::string>(value("op")) != "decode" || !phase) continue;
        all.push_back({node, e.pid, std::get<int64_t>(value("ctx")), e.ts_ns,
                       static_cast<int64_t>(batches[b].first_seq + i),
                       std::get<int64_t>(value("duration_ns")), *phase, e.comm});
      }
    }
  }
  // The replay: a generation decode right after a prompt decode of its context ends the run of
  // prompt decodes since the context's last generation decode.
  std::sort(all.begin(), all.end(), [](const Decode& a, const Decode& b) {
    return std::tie(a.node, a.pid, a.ctx, a.ts, a.seq) <
           std::tie(b.node, b.pid, b.ctx, b.ts, b.seq);
  });
  struct Request {
    std::string node, comm;
    int64_t pid, first_token, ttft;
  };
  std::vector<Request> want;
  for (size_t i = 0; i < all.size(); ++i) {
    const Decode& d = all[i];
    bool same = i > 0 && std::tie(d.node, d.pid, d.ctx) ==
                             std::tie(all[i - 1].node, all[i - 1].pid, all[i - 1].ctx);
    if (d.phase != "generation" || !same || all[i - 1].phase != "prompt") continue;
    size_t first = i - 1;
    while (first > 0 && all[first - 1].phase == "prompt" &&
           std::tie(all[first - 1].node, all[first - 1].pid, all[first - 1].ctx) ==
               std::tie(d.node, d.pid, d.ctx))
      --first;
    want.push_back(
        {d.node, d.comm, d.pid, d.ts, all[i - 1].ts + all[i - 1].duration - all[first].ts});
  }
  ASSERT_GT(want.size(), 50u);
  auto stored = store_->select(
      "SELECT count(*) FROM llama_requests WHERE first_token_ns >= " + std::to_string(kT0 + kBase),
      {}, {});
  ASSERT_TRUE(stored) << stored.error();
  EXPECT_EQ(std::get<int64_t>(stored->rows[0][0]), static_cast<int64_t>(want.size()));
  int compared = 0;
  for (const auto& [from, to] :
       std::vector<std::pair<int64_t, int64_t>>{{kBase, kBase + 400 * kS},
                                                {kBase + 17 * kS + 5, kBase + 95 * kS},
                                                {kBase + 100 * kS, kBase + 107 * kS + 3},
                                                {kBase + 250 * kS, kBase + 251 * kS}}) {
    for (const auto& f : std::vector<std::map<std::string, std::string>>{
             {}, {{"node", "q2"}}, {{"node", "q1"}, {"pid", "21"}}, {{"comm", "other"}}}) {
      std::vector<int64_t> ttft;
      for (const auto& r : want)
        if (r.first_token >= kT0 + from && r.first_token < kT0 + to &&
            (!f.count("node") || f.at("node") == r.node) &&
            (!f.count("pid") || f.at("pid") == std::to_string(r.pid)) &&
            (!f.count("comm") || f.at("comm") == r.comm))
          ttft.push_back(r.ttft);
      std::sort(ttft.begin(), ttft.end());
      auto rank = [&](int pct) {
        return ttft[std::max<size_t>((ttft.size() * static_cast<size_t>(pct) + 99) / 100, 1) - 1];
      };
      auto a = get("/llm/decode", with(window(from, to), f));
      ASSERT_EQ(a.status, 200) << a.body;
      EXPECT_EQ(a.body["requests"], ttft.size()) << from << " " << to << " " << json(f);
      if (ttft.empty()) {
        EXPECT_EQ(a.body["ttft_p50_ns"], nullptr);
        continue;
      }
      // Within 1/128 (the histogram's buckets), and in the right bucket.
      for (int pct : {50, 99}) {
        const auto& got = a.body[pct == 50 ? "ttft_p50_ns" : "ttft_p99_ns"];
        ASSERT_TRUE(got.is_number()) << a.body;
        EXPECT_EQ(decode_bucket(got.get<int64_t>()), decode_bucket(rank(pct)))
            << pct << " " << from << " " << to << " " << json(f);
        EXPECT_LE(std::abs(got.get<double>() - static_cast<double>(rank(pct))),
                  static_cast<double>(rank(pct)) / 128);
      }
      ++compared;
    }
  }
  EXPECT_GT(compared, 10);
}

TEST_P(QueryApi, HostileRequestsAreRefusedOrFindNothing) {
  for (const auto& [path, query] :
       std::vector<std::pair<std::string, std::map<std::string, std::string>>>{
           {"/cuda/top-kernels", {{"limit", "1000000000"}}},
           {"/cuda/top-kernels", {{"from", "2000"}, {"to", "1000"}}},
           {"/cuda/top-kernels", {{"from", "1; DROP TABLE cuda_events"}}},
           {"/cuda/top-kernels", {{"node", "n1' OR '1'='1"}}},
           {"/cuda/top-kernels", {{"pid", "100 OR 1=1"}}},
           {"/cuda/launches", {{"cursor", "1-2-zz"}}},
           {"/cuda/launches", {{"cursor", "' UNION SELECT * FROM scope_meta --"}}},
           {"/host/syscalls", {{"sort", "count; DELETE FROM syscalls_events"}}},
           {"/host/opens", {{"q", "SELECT 1"}}},
           {"/cuda/copies", {{"limit", "5"}}},
       }) {
    auto a = get(path, query);
    EXPECT_EQ(a.status, 400) << path << " " << json(query);
    EXPECT_EQ(a.body["error"]["code"], "bad_request") << a.body;
    EXPECT_TRUE(a.body["error"]["message"].is_string());
  }
  // Metacharacters in a filter are values: they match nothing and change nothing.
  auto a = get("/cuda/top-kernels", with(window(0, 180 * kS), {{"comm", "x' OR 1=1 --"}}));
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body["kernels"], json::array());
  a = get("/cuda/launches", with(window(0, 180 * kS), {{"kernel", "k_a'); DROP TABLE x; --"}}));
  EXPECT_EQ(a.body["items"], json::array());
  a = get("/cuda/top-kernels", window(0, 180 * kS));
  EXPECT_EQ(a.body["kernels"].size(), 4u);  // everything still there
}

INSTANTIATE_TEST_SUITE_P(Stores, QueryApi, ::testing::ValuesIn(store_factories("query_api")),
                         [](const auto& info) { return info.param.name; });

// Both stores hold the same events and give the same bytes for every request.
TEST(QueryApiStores, SqliteAndPostgresAnswerIdentically) {
  auto factories = store_factories("query_api_both");
  if (factories.size() < 2 || !factories[1].skip_reason().empty())
    GTEST_SKIP() << "needs PostgreSQL (source scripts/services.sh)";
  std::vector<std::unique_ptr<Store>> stores;
  std::vector<std::unique_ptr<http::Router>> routers;
  for (const auto& f : factories) {
    auto s = f.make();
    ASSERT_TRUE(s) << s.error();
    stores.push_back(std::move(s.value()));
    write_known_events(*stores.back());
    routers.push_back(std::make_unique<http::Router>());
    server::add_query_routes(*routers.back(), *stores.back());
  }
  auto q = QueryApi::window(0, 300 * kS);
  int compared = 0;
  for (const char* path :
       {"/cuda/top-kernels", "/cuda/launch-rate", "/cuda/launches", "/cuda/memory", "/cuda/copies",
        "/cuda/syncs", "/host/processes", "/host/opens", "/host/sched", "/host/syscalls",
        "/host/tcp", "/llm/tokens", "/llm/decode", "/llm/memory"}) {
    for (const auto& window : {q, QueryApi::window(5 * kS, 125 * kS)}) {
      auto a = QueryApi::call(*routers[0], path, window);
      auto b = QueryApi::call(*routers[1], path, window);
      EXPECT_EQ(a.status, 200) << path << a.body;
      EXPECT_EQ(a.body.dump(), b.body.dump()) << path;
      ++compared;
    }
  }
  EXPECT_EQ(compared, 28);
}

}  // namespace
}  // namespace scope::store::testing
