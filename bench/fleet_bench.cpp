// Fleet benchmarks against real PostgreSQL and Redis (bench/fleet_bench.sh
// starts them and runs every mode; numbers in BENCHMARKS.md):
//   baseline  one XADD per event and one INSERT per row (autocommit), the
//             naive pipeline scope's batches are measured against
//   populate  N mixed events into a schema through PostgresStore (COPY)
//   queries   p95 of the dashboard queries over what `populate` wrote
//   bytes     bytes on disk per cuda launch event
#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "auth/crypto.h"
#include "event/batch.h"
#include "event/row.h"
#include "fleet_common.h"
#include "store/postgres/postgres_store.h"
#include "transport/redis_stream.h"

using namespace scope;
using namespace scope::bench;

namespace {

// N events over the last `span_s` seconds, in batches of 8192.
int populate(const std::string& url, const std::string& schema, uint64_t n, bool launches_only) {
  auto store = open_store(url, schema, true);
  int64_t span = 3600LL * 1000000000LL;  // one hour of events
  int64_t t0 = now_ns() - span;
  auto start = Clock::now();
  const uint64_t per_batch = 8192;
  for (uint64_t first = 0; first < n; first += per_batch) {
    event::Batch b;
    b.node = "bench-" + std::to_string(first / per_batch % 4);
    b.boot_id = "boot";
    b.first_seq = first;
    uint64_t m = std::min(per_batch, n - first);
    b.events.reserve(m);
    for (uint64_t i = first; i < first + m; ++i) {
      int64_t ts = t0 + static_cast<int64_t>(static_cast<double>(i) / static_cast<double>(n) *
                                             static_cast<double>(span));
      b.events.push_back(launches_only ? launch_row(i, ts) : mixed_row(i, ts));
    }
    auto w = store->write(b);
    if (!w) {
      std::fprintf(stderr, "fleet_bench: write: %s\n", w.error().c_str());
      return 1;
    }
  }
  double s = seconds_since(start);
  std::printf("{\"mode\":\"populate\",\"events\":%llu,\"seconds\":%.2f,\"events_per_s\":%.0f}\n",
              static_cast<unsigned long long>(n), s, static_cast<double>(n) / s);
  PGconn* c = PQconnectdb(url.c_str());
  PQclear(PQexec(c, ("VACUUM ANALYZE " + schema + ".cuda_events, " + schema + ".open_events, " +
                     schema + ".syscalls_events")
                        .c_str()));
  PQfinish(c);
  return 0;
}

int queries(const std::string& url, const std::string& schema, int runs) {
  auto store = open_store(url, schema, false);
  auto n = store->query("SELECT count(*) FROM cuda_events", {});
  auto t = store->query("SELECT min(ts_ns), max(ts_ns) FROM cuda_events", {});
  if (!n || !t) return 1;
  int64_t lo = std::get<int64_t>(t->rows[0][0]), hi = std::get<int64_t>(t->rows[0][1]);
  int64_t w0 = lo + (hi - lo) / 2, w1 = w0 + 5LL * 60 * 1000000000LL;  // a 5-minute window
  struct Q {
    const char* name;
    std::string sql;
  };
  // The same four queries as bench/store_bench.cpp (SQLite), each over a
  // 5-minute window of the hour, as a dashboard asks them.
  const std::string w = " ts_ns >= " + std::to_string(w0) + " AND ts_ns < " + std::to_string(w1);
  std::vector<Q> qs = {
      {"top kernels by count and time, 5-minute window (per-minute rollup)",
       "SELECT kernel, sum(launches) AS launches, sum(total_ns) AS total_ns FROM "
       "cuda_kernel_minutes WHERE minute_ns >= " +
           std::to_string(w0) + " AND minute_ns < " + std::to_string(w1) +
           " GROUP BY kernel ORDER BY launches DESC LIMIT 20"},
      {"device memory timeline of one process, 5-minute window",
       "SELECT ts_ns, op, bytes, ptr FROM cuda_events WHERE pid = 1007 AND op IN ('alloc', "
       "'free') AND" +
           w + " ORDER BY ts_ns"},
      {"top syscalls per process, 5-minute window",
       "SELECT pid, name, sum(count) AS calls, sum(total_ns) AS ns FROM syscalls_events WHERE" + w +
           " GROUP BY pid, name ORDER BY ns DESC LIMIT 50"},
      {"opens per comm, 5-minute window", "SELECT comm, count(*) AS opens FROM open_events WHERE" +
                                              w + " GROUP BY comm ORDER BY opens DESC"},
  };
  std::printf("{\"mode\":\"queries\",\"cuda_events\":%lld,\"results\":[",
              static_cast<long long>(std::get<int64_t>(n->rows[0][0])));
  for (size_t qi = 0; qi < qs.size(); ++qi) {
    std::vector<double> ms;
    for (int r = 0; r < runs + 1; ++r) {
      auto start = Clock::now();
      store::QueryOptions all_rows;
      all_rows.max_rows = 1000000;
      auto res = store->query(qs[qi].sql, all_rows);
      double took = seconds_since(start) * 1000;
      if (!res) {
        std::fprintf(stderr, "fleet_bench: %s: %s\n", qs[qi].name, res.error().c_str());
        return 1;
      }
      if (r > 0) ms.push_back(took);  // the first run warms the cache
    }
    std::sort(ms.begin(), ms.end());
    double p50 = ms[ms.size() / 2];
    double p95 =
        ms[std::min(ms.size() - 1, static_cast<size_t>(0.95 * static_cast<double>(ms.size())))];
    std::printf("%s{\"query\":\"%s\",\"p50_ms\":%.1f,\"p95_ms\":%.1f}", qi ? "," : "", qs[qi].name,
                p50, p95);
  }
  std::printf("]}\n");
  return 0;
}

// Bytes on disk (heap + indexes + TOAST, all partitions) per launch row.
int bytes(const std::string& url, const std::string& schema) {
  PGconn* c = PQconnectdb(url.c_str());
  PQclear(PQexec(c, "CHECKPOINT"));
  std::string sql = "SELECT sum(pg_total_relation_size(i.inhrelid)), (SELECT count(*) FROM " +
                    schema + ".cuda_events) FROM pg_inherits i WHERE i.inhparent = '" + schema +
                    ".cuda_events'::regclass";
  PGresult* r = PQexec(c, sql.c_str());
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    std::fprintf(stderr, "fleet_bench: %s", PQerrorMessage(c));
    return 1;
  }
  double total = std::atof(PQgetvalue(r, 0, 0));
  double rows = std::atof(PQgetvalue(r, 0, 1));
  std::printf("{\"mode\":\"bytes\",\"rows\":%.0f,\"bytes\":%.0f,\"bytes_per_launch\":%.1f}\n", rows,
              total, total / rows);
  PQclear(r);
  PQfinish(c);
  return 0;
}

// The naive pipeline: one XADD per event (its JSON), one INSERT per row.
int baseline(const std::string& redis_url, const std::string& url, const std::string& schema,
             uint64_t n) {
  auto store = open_store(url, schema, true);  // creates the tables
  auto ep = transport::parse_redis_url(redis_url);
  if (!ep) return 1;
  std::string stream = "scope:bench:baseline:" + std::to_string(getpid());
  transport::RedisClient admin(*ep);
  (void)admin.command({"DEL", stream});
  auto start = Clock::now();
  std::atomic<uint64_t> stored{0};
  std::thread consumer([&] {
    transport::RedisClient rc(*ep);
    transport::StreamConsumer c(rc, {stream, "g", "c"});
    (void)c.ensure_group();
    PGconn* pg = PQconnectdb(url.c_str());
    PQclear(PQexec(pg, ("SET search_path TO " + schema).c_str()));
    const char* ins =
        "INSERT INTO cuda_events (ts_ns, node, seq, pid, tid, comm, call, op, kernel, grid, "
        "block, shared_mem, stream, handle) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
        "$11, $12, $13, $14)";
    while (stored < n) {
      auto entries = c.read(100, 200);
      if (!entries) continue;
      for (const auto& e : *entries) {
        auto j = nlohmann::json::parse(e.data);
        std::vector<std::string> v = {std::to_string(j["ts_ns"].get<int64_t>()),
                                      j["node"],
                                      std::to_string(j["seq"].get<uint64_t>()),
                                      std::to_string(j["pid"].get<int64_t>()),
                                      std::to_string(j["tid"].get<int64_t>()),
                                      j["comm"],
                                      j["call"],
                                      j["op"],
                                      j["kernel"],
                                      j["grid"],
                                      j["block"],
                                      std::to_string(j["shared_mem"].get<int64_t>()),
                                      std::to_string(j["stream"].get<int64_t>()),
                                      std::to_string(j["handle"].get<int64_t>())};
        const char* params[14];
        for (int i = 0; i < 14; ++i) params[i] = v[i].c_str();
        PQclear(PQexecParams(pg, ins, 14, nullptr, params, nullptr, nullptr, 0));
        (void)c.ack({e.id});
        ++stored;
      }
    }
    PQfinish(pg);
  });
  transport::RedisClient pc(*ep);
  transport::StreamProducer p(pc, stream);
  const auto& s = *event::schema_for("cuda");
  for (uint64_t i = 0; i < n; ++i) {
    auto row = launch_row(i, now_ns());
    nlohmann::json j = {{"ts_ns", row.ts_ns}, {"node", "bench"}, {"seq", i},
                        {"pid", row.pid},     {"tid", row.tid},  {"comm", row.comm}};
    for (size_t c = 0; c < s.columns.size(); ++c) {
      if (const auto* iv = std::get_if<int64_t>(&row.values[c]))
        j[std::string(s.columns[c].name)] = *iv;
      else if (const auto* sv = std::get_if<std::string>(&row.values[c]))
        j[std::string(s.columns[c].name)] = *sv;
    }
    (void)p.add(j.dump());
  }
  consumer.join();
  double sec = seconds_since(start);
  (void)admin.command({"DEL", stream});
  std::printf("{\"mode\":\"baseline\",\"events\":%llu,\"seconds\":%.2f,\"events_per_s\":%.0f}\n",
              static_cast<unsigned long long>(n), sec, static_cast<double>(n) / sec);
  return 0;
}

// What batch authentication costs per batch: the agent's Ed25519 signature and the server's
// verification over the encoded bytes of an `n`-launch batch, against encoding and decoding it.
int sign(uint64_t n) {
  event::Batch b;
  b.node = "bench";
  b.boot_id = "3f5ccccd-4cb2-4079-b349-cbba100bed4d";
  b.first_seq = 0;
  int64_t ts = now_ns();
  for (uint64_t i = 0; i < n; ++i) b.events.push_back(launch_row(i, ts + static_cast<int64_t>(i)));
  auto key = auth::generate_node_key();
  if (!key) return 1;
  const int runs = 200;
  std::string bytes;
  auto t = Clock::now();
  for (int i = 0; i < runs; ++i) bytes = event::encode_batch(b);
  double encode = seconds_since(t) / runs;
  t = Clock::now();
  size_t decoded = 0;
  for (int i = 0; i < runs; ++i) decoded += event::decode_batch(bytes)->events.size();
  double decode = seconds_since(t) / runs;
  std::string sig;
  t = Clock::now();
  for (int i = 0; i < runs; ++i) sig = auth::sign_detached(key->secret_key, bytes);
  double signing = seconds_since(t) / runs;
  t = Clock::now();
  int ok = 0;
  for (int i = 0; i < runs; ++i) ok += auth::verify_detached(key->public_key, bytes, sig);
  double verify = seconds_since(t) / runs;
  if (ok != runs || decoded != n * runs) return 1;
  nlohmann::json j = {{"mode", "sign"},
                      {"events", n},
                      {"batch_bytes", bytes.size()},
                      {"encode_us", encode * 1e6},
                      {"sign_us", signing * 1e6},
                      {"decode_us", decode * 1e6},
                      {"verify_us", verify * 1e6},
                      {"sign_ns_per_event", signing * 1e9 / static_cast<double>(n)},
                      {"verify_ns_per_event", verify * 1e9 / static_cast<double>(n)}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  if (argc < 2) {
    std::fprintf(
        stderr,
        "usage: fleet_bench baseline|populate|queries|bytes|sign --postgres URL [--redis URL] "
        "[--schema S] [--events N] [--runs N] [--launches-only 1]\n");
    return 2;
  }
  std::string mode = argv[1];
  std::string pg = arg(argc, argv, "--postgres", "");
  std::string schema = arg(argc, argv, "--schema", "bench");
  uint64_t n = std::strtoull(arg(argc, argv, "--events", "20000"), nullptr, 10);
  if (mode == "sign") return sign(n);
  if (mode == "baseline") return baseline(arg(argc, argv, "--redis", ""), pg, schema, n);
  if (mode == "populate")
    return populate(pg, schema, n, std::string(arg(argc, argv, "--launches-only", "0")) == "1");
  if (mode == "queries") return queries(pg, schema, std::atoi(arg(argc, argv, "--runs", "20")));
  if (mode == "bytes") return bytes(pg, schema);
  std::fprintf(stderr, "fleet_bench: unknown mode %s\n", mode.c_str());
  return 2;
}
