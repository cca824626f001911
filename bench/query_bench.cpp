// The query API's latency (BENCHMARKS.md, "Query API"): N synthetic events (default 10
// million) over one hour written into a store through Store::write (so the per-minute rollup
// is kept as in production), then every /api/v1/query endpoint called through its route
// handler for the last 5 minutes and the whole hour; p50 and p95 per endpoint and window.
//   query_bench sqlite DIR [EVENTS] [ROUNDS] [ONLY]
//   query_bench postgres URL [EVENTS] [ROUNDS] [ONLY]     (schema query_bench, dropped first)
// ONLY: call just the endpoints whose path contains it ("memory": cuda/memory and llm/memory).
// ONLY "export": no endpoint; the Perfetto export (export/perfetto_export.h) of the last 5
// minutes and of the whole hour, timed, with its size, bytes a launch and peak memory.
// EVENTS 0: the store written by an earlier run, as it is. ONLY "verify-memory": no timing; each
// process's cuda/memory and llm/memory answer from the memory rollup (a pid) and from the replay
// of its rows (its comm, which only it has) compared, one line each.
// SCOPE_BENCH_END (optional, unix seconds): the hour ends there rather than at a fixed time.
// SCOPE_BENCH_PATHS (optional, comma-separated, e.g. "/host/opens,/llm/decode") calls only
// those endpoints.
// Prints one JSON object per endpoint and window.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "event/row.h"
#include "export/perfetto_export.h"
#include "http/router.h"
#include "server/queries.h"
#include "store/sqlite/sqlite_store.h"
#ifdef SCOPE_WITH_POSTGRES
#include "store/postgres/postgres_store.h"
#endif

using namespace scope;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int64_t kS = 1'000'000'000;
constexpr int64_t kHour = 3600 * kS;
// The dataset's start: 20 s into a minute, so that windows cut minutes as the UI's do.
// SCOPE_BENCH_END (unix seconds) ends the hour there instead (webui_bench: an hour that ends now).
const int64_t kT0 = [] {
  const char* end = std::getenv("SCOPE_BENCH_END");
  return end && *end ? std::stoll(end) * kS - kHour : 1'790'000'000 * kS;
}();

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "query_bench: %s\n", why.c_str());
  std::exit(1);
}

// Event i of n: 60 % CUDA (launches of 64 kernels from 8 processes, allocations and frees,
// copies, syncs), the rest the host and LLM families, spread evenly over the hour.
event::EventRow synthetic(uint64_t i, int64_t ts) {
  static const std::vector<std::string> kernels = [] {
    std::vector<std::string> k;
    for (int n = 0; n < 64; ++n)
      k.push_back("void at::native::elementwise_kernel<128, 4, op" + std::to_string(n) +
                  ">(int, float*)");
    return k;
  }();
  auto pid = static_cast<uint32_t>(1000 + i % 8);
  std::string comm = "python" + std::to_string(i % 8);
  uint64_t r = (i * 2654435761u) % 100;
  auto row = [&](const char* family) {
    return event::make_row(*event::schema_for(family), ts, pid, pid, comm);
  };
  using event::set_column;
  if (r < 50) {
    auto e = row("cuda");
    set_column(e, "call", std::string("cuLaunchKernel"));
    set_column(e, "op", std::string("launch"));
    set_column(e, "kernel", kernels[(i * 7) % kernels.size()]);
    set_column(e, "grid", std::string("[128,1,1]"));
    set_column(e, "block", std::string("[256,1,1]"));
    set_column(e, "duration_ns", static_cast<int64_t>(2000 + i % 3000));
    set_column(e, "ret", int64_t{0});
    return e;
  }
  if (r < 54) {           // r is 50 or 51 for i % 100 == 50 or 91, 52 or 53 for 32 or 73: each
    bool alloc = r < 52;  // allocation is freed 82 events later, by the process that made it
    uint64_t block = alloc ? i : i - 82;
    pid = static_cast<uint32_t>(1000 + block % 8);
    comm = "python" + std::to_string(block % 8);
    auto e = row("cuda");
    set_column(e, "call", std::string(alloc ? "cudaMalloc" : "cudaFree"));
    set_column(e, "op", std::string(alloc ? "alloc" : "free"));
    set_column(e, "ptr", static_cast<int64_t>(0x7f0000000000 + block * 4096));
    if (alloc) set_column(e, "bytes", static_cast<int64_t>(1) << (12 + i % 10));
    set_column(e, "ret", int64_t{0});
    return e;
  }
  if (r < 58) {
    auto e = row("cuda");
    set_column(e, "call", std::string("cudaMemcpyAsync"));
    set_column(e, "op", std::string("memcpy"));
    set_column(e, "kind", std::string(i % 2 ? "htod" : "dtoh"));
    set_column(e, "bytes", int64_t{1 << 20});
    set_column(e, "duration_ns", int64_t{40000});
    return e;
  }
  if (r < 60) {
    auto e = row("cuda");
    set_column(e, "call", std::string("cudaStreamSynchronize"));
    set_column(e, "op", std::string("sync"));
    set_column(e, "duration_ns", static_cast<int64_t>(1000 + (i * 37) % 5'000'000));
    return e;
  }
  if (r < 72) {
    auto e = row("open");
    set_column(e, "call", std::string("openat"));
    set_column(e, "path", "/data/shard-" + std::to_string(i % 997));
    set_column(e, "ret", static_cast<int64_t>(i % 17 ? 3 : -2));
    return e;
  }
  if (r < 84) {
    static const char* names[] = {"read", "write", "futex", "ioctl", "mmap", "openat"};
    auto e = row("syscalls");
    set_column(e, "name", std::string(names[i % 6]));
    set_column(e, "count", static_cast<int64_t>(10 + i % 90));
    set_column(e, "errors", static_cast<int64_t>(i % 5));
    set_column(e, "total_ns", static_cast<int64_t>(1000 + i % 100000));
    return e;
  }
  if (r < 90) {
    auto e = row("sched");
    set_column(e, "switches", static_cast<int64_t>(10 + i % 50));
    set_column(e, "voluntary", int64_t{8});
    set_column(e, "involuntary", int64_t{2});
    set_column(e, "offcpu_ns", static_cast<int64_t>(100000 + i % 1000000));
    set_column(e, "runq_ns", static_cast<int64_t>(1000 + i % 100000));
    return e;
  }
  if (r < 92) {
    auto e = row("net");
    set_column(e, "op", std::string(i % 2 ? "connect" : "close"));
    set_column(e, "family", std::string("ipv4"));
    set_column(e, "saddr", std::string("10.0.0.1"));
    set_column(e, "daddr", std::string("10.0.0.2"));
    set_column(e, "sport", static_cast<int64_t>(30000 + i % 30000));
    set_column(e, "dport", int64_t{443});
    return e;
  }
  if (r < 93) {
    auto e = row("exec");
    set_column(e, "call", std::string((i / 100) % 2 ? "execve" : "exit"));
    set_column(e, "ppid", int64_t{1});
    set_column(e, "filename", std::string("/usr/bin/python3"));
    set_column(e, "argv", std::string(R"(["python3","serve.py"])"));
    set_column(e, "ret", int64_t{0});
    return e;
  }
  if (r < 98) {
    auto e = row("llama");
    set_column(e, "call", std::string("llama_decode"));
    set_column(e, "op", std::string("decode"));
    set_column(e, "phase", std::string((i / 100) % 10 ? "generation" : "prompt"));
    set_column(e, "tokens", static_cast<int64_t>((i / 100) % 10 ? 1 : 512));
    set_column(e, "duration_ns", static_cast<int64_t>(20'000'000 + i % 5'000'000));
    set_column(e, "ctx", int64_t{0xc0});
    return e;
  }
  auto e = row("ggml");
  set_column(e, "call", std::string("ggml_backend_graph_compute"));
  set_column(e, "op", std::string("graph"));
  set_column(e, "duration_ns", static_cast<int64_t>(15'000'000 + i % 5'000'000));
  return e;
}

void fill(store::Store& s, uint64_t n) {
  constexpr uint64_t kBatch = 8192;
  auto start = Clock::now();
  for (uint64_t first = 0; first < n; first += kBatch) {
    event::Batch b;
    b.node = "bench-node";
    b.boot_id = "bench";
    b.first_seq = first + 1;
    for (uint64_t i = first; i < std::min(n, first + kBatch); ++i)
      b.events.push_back(synthetic(
          i, kT0 + static_cast<int64_t>(static_cast<double>(kHour) * static_cast<double>(i) /
                                        static_cast<double>(n))));
    if (auto w = s.write(b); !w) die(w.error());
  }
  std::fprintf(stderr, "query_bench: %s: %llu events written in %.1f s\n",
               std::string(s.kind()).c_str(), static_cast<unsigned long long>(n),
               std::chrono::duration<double>(Clock::now() - start).count());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) die("usage: query_bench sqlite DIR | postgres URL [EVENTS] [ROUNDS]");
  std::string kind = argv[1], where = argv[2];
  uint64_t n = argc > 3 ? std::stoull(argv[3]) : 10'000'000;
  int rounds = argc > 4 ? std::stoi(argv[4]) : 20;
  std::string only = argc > 5 ? argv[5] : "";
  std::unique_ptr<store::Store> store;
  if (kind == "sqlite") {
    store::SqliteOptions o;
    o.path = where + "/query_bench.db";
    if (n) std::filesystem::remove(o.path);
    auto s = store::SqliteStore::open(o);
    if (!s) die(s.error());
    store = std::move(s.value());
  } else if (kind == "postgres") {
#ifdef SCOPE_WITH_POSTGRES
    PGconn* c = PQconnectdb(where.c_str());
    if (n) PQclear(PQexec(c, "DROP SCHEMA IF EXISTS query_bench CASCADE"));
    PQfinish(c);
    store::PostgresOptions o;
    o.url = where;
    o.schema = "query_bench";
    auto s = store::PostgresStore::open(o);
    if (!s) die(s.error());
    store = std::move(s.value());
#else
    die("built without PostgreSQL");
#endif
  } else {
    die("unknown store " + kind);
  }
  if (n) fill(*store, n);
#ifdef SCOPE_WITH_POSTGRES
  if (kind == "postgres") {  // fresh statistics, as autovacuum gives them a while later
    PGconn* c = PQconnectdb(where.c_str());
    PQclear(PQexec(c, "ANALYZE"));
    PQfinish(c);
  }
#endif
  if (only == "export") {
    auto rss_mib = [] {
      rusage u{};
      getrusage(RUSAGE_SELF, &u);
      return static_cast<double>(u.ru_maxrss) / 1024.0;
    };
    for (const auto& [window, from] : std::vector<std::pair<std::string, int64_t>>{
             {"5m", kT0 + kHour - 300 * kS}, {"1h", kT0}}) {
      double rss_before = rss_mib();
      perfetto::ExportOptions o;
      o.from_ns = from;
      o.to_ns = kT0 + kHour;
      auto t = Clock::now();
      auto r = perfetto::export_trace(*store, o, [](std::string_view) { return true; });
      double s = std::chrono::duration<double>(Clock::now() - t).count();
      if (!r) die(r.error());
      const auto& e = r->events;
      uint64_t rows = e.launches + e.cuda_calls + e.llama_calls + e.ggml_calls + e.execs + e.exits +
                      e.sched + e.memory_values;
      nlohmann::json out = {
          {"bench", "perfetto_export"},
          {"store", kind},
          {"events", n},
          {"window", window},
          {"rows_written", rows},
          {"launches", e.launches},
          {"seconds", s},
          {"rows_per_s", static_cast<double>(rows) / s},
          {"bytes", r->file.bytes},
          {"bytes_per_row", static_cast<double>(r->file.bytes) / static_cast<double>(rows)},
          {"clamped_slices", r->file.clamped},
          {"max_rss_mib_before", rss_before},
          {"max_rss_mib_after", rss_mib()}};
      std::printf("%s\n", out.dump().c_str());
      std::fflush(stdout);
    }
    return 0;
  }
  http::Router router;
  server::add_query_routes(router, *store);
  const std::vector<std::string> paths = {
      "/cuda/top-kernels", "/cuda/launch-rate", "/cuda/launches", "/cuda/memory", "/cuda/copies",
      "/cuda/syncs",       "/host/processes",   "/host/opens",    "/host/sched",  "/host/syscalls",
      "/host/tcp",         "/llm/tokens",       "/llm/decode",    "/llm/memory"};
  const char* paths_env = std::getenv("SCOPE_BENCH_PATHS");
  auto wanted = [&](const std::string& path) {
    if (!paths_env || !*paths_env) return true;
    std::string list = std::string(",") + paths_env + ",";
    return list.find("," + path + ",") != std::string::npos;
  };
  const int64_t end = kT0 + kHour;
  for (const auto& [window, from] :
       std::vector<std::pair<std::string, int64_t>>{{"5m", end - 300 * kS}, {"1h", kT0}}) {
    if (only == "verify-memory") {
      for (const char* path : {"/cuda/memory", "/llm/memory"}) {
        auto m = router.match("GET", std::string("/api/v1/query") + path);
        for (int k = 0; k < 8; ++k) {
          http::Request req;
          req.method = "GET";
          req.query = {{"from", std::to_string(from)},
                       {"to", std::to_string(end)},
                       {"pid", std::to_string(1000 + k)}};
          http::Response rollup = m.route->handler(req);
          req.query["comm"] = "python" + std::to_string(k);
          http::Response replay = m.route->handler(req);
          nlohmann::json out = {{"verify", path},
                                {"window", window},
                                {"pid", 1000 + k},
                                {"status", rollup.status},
                                {"answer_bytes", rollup.body.size()},
                                {"same", rollup.body == replay.body}};
          std::printf("%s\n", out.dump().c_str());
        }
      }
      continue;
    }
    for (const auto& path : paths) {
      if (path.find(only) == std::string::npos || !wanted(path)) continue;
      auto m = router.match("GET", "/api/v1/query" + path);
      std::vector<double> ms;
      int status = 0;
      size_t bytes = 0;
      for (int i = 0; i < rounds; ++i) {
        http::Request req;
        req.method = "GET";
        req.query = {{"from", std::to_string(from)}, {"to", std::to_string(end)}};
        auto t = Clock::now();
        http::Response res = m.route->handler(req);
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
        status = res.status;
        bytes = res.body.size();
      }
      std::sort(ms.begin(), ms.end());
      auto at = [&](double q) {
        return ms[std::min(ms.size() - 1, static_cast<size_t>(q * static_cast<double>(ms.size())))];
      };
      nlohmann::json out = {{"bench", "query_api"},  {"store", kind},     {"events", n},
                            {"window", window},      {"path", path},      {"status", status},
                            {"answer_bytes", bytes}, {"p50_ms", at(0.5)}, {"p95_ms", at(0.95)}};
      std::printf("%s\n", out.dump().c_str());
      std::fflush(stdout);
    }
  }
}
