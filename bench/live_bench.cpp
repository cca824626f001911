// The live stream's cost to ingest (BENCHMARKS.md, "Live stream"): scope up's store path
// (SQLite write of each committed batch, then LiveHub::publish) at a fixed event rate, in
// interleaved rounds with 0 and with N WebSocket clients subscribed to every event, in one
// process and one run. Per round: the ingest thread's busy time per event (write + publish),
// whether it kept the rate, and for the clients the event → client latency (from the event's
// ts_ns, set when its batch is made, to the client having read the message) and what they
// were sent or skipped.
//   live_bench [--rate 50000] [--clients 20] [--seconds 5] [--rounds 3] [--batch-ms 20]
//              [--pin-ingest CPU] [--subscribe-pids] [--hub-nice N]
// --subscribe-pids: client i subscribes to pid 1000 + i % 8 (an eighth of the events, as a page
// following one process would) instead of to everything. --hub-nice: the hub thread's nice
// value (LiveOptions::hub_nice; default as scope runs it).
// Prints one JSON object per round, then a summary object.
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "event/batch.h"
#include "families/cuda_output.h"
#include "http/server.h"
#include "server/live.h"
#include "store/sqlite/sqlite_store.h"
#include "tests/support/ws_client.h"

using namespace scope;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  uint64_t rate = 50'000;
  int clients = 20;
  double seconds = 5;
  int rounds = 3;
  int batch_ms = 20;
  int pin_ingest = -1;  // a CPU for the ingest thread; the others get every other CPU
  bool subscribe_pids = false;
  std::optional<int> hub_nice;
};

// Pins the calling thread to `cpu` (only) or, with `all_but`, to every CPU but that one.
void pin(int cpu, bool all_but) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  unsigned n = std::thread::hardware_concurrency();
  for (unsigned c = 0; c < n; ++c)
    if ((static_cast<int>(c) == cpu) != all_but) CPU_SET(c, &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

int64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::vector<event::EventRow> templates() {
  std::vector<event::EventRow> out;
  CudaEvent e;
  e.comm = "python3";
  e.call = CALL_cuLaunchKernel;
  e.op = CUDA_OP_LAUNCH;
  e.grid = {128, 1, 1};
  e.block = {256, 1, 1};
  e.stream = 0x7f0000002000;
  e.handle = 0x55550000;
  for (int k = 0; k < 16; ++k) {
    e.kernel =
        "void at::native::elementwise_kernel<128, 4, op" + std::to_string(k) + ">(int, float*)";
    out.push_back(cuda_row(e));
  }
  return out;
}

// One client: subscribes to everything and reads as fast as it can, noting each event's
// latency from the ts_ns in the raw message (no JSON parse: the client should not be the
// bottleneck being measured).
class Reader {
 public:
  Reader(int port, std::string token, std::string subscribe, int pin_ingest) {
    thread_ = std::thread(
        [this, port, token = std::move(token), subscribe = std::move(subscribe), pin_ingest] {
          pin(pin_ingest, true);
          run(port, token, subscribe);
        });
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  bool connected() const { return connected_; }
  bool failed() const { return failed_; }
  std::vector<int64_t> latencies_ns;
  uint64_t events = 0, lagged = 0;
  bool cut = false;

 private:
  void run(int port, const std::string& token, const std::string& subscribe) {
    testnet::WsClient ws;
    if (ws.connect(port, {{"Authorization", "Bearer " + token}}) != 101 || !ws.send(subscribe)) {
      failed_ = true;
      return;
    }
    connected_ = true;
    static constexpr std::string_view kEvents = R"({"type":"events")";
    static constexpr std::string_view kTs = R"("ts_ns":)";
    while (!stop_) {
      auto m = ws.read(std::chrono::milliseconds(300));
      int64_t now = unix_now_ns();
      if (!m) {
        if (ws.error() == boost::beast::error::timeout) continue;
        cut = ws.closed_by_server();
        return;
      }
      if (m->compare(0, kEvents.size(), kEvents) != 0) {
        if (m->find(R"("type":"lagged")") != std::string::npos) ++lagged;
        continue;
      }
      for (size_t at = m->find(kTs); at != std::string::npos; at = m->find(kTs, at + 1)) {
        ++events;
        if (events % 8 == 0)
          latencies_ns.push_back(now - std::strtoll(m->c_str() + at + kTs.size(), nullptr, 10));
      }
    }
  }
  std::atomic<bool> stop_{false}, connected_{false}, failed_{false};
  std::thread thread_;
};

double percentile(std::vector<int64_t> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return static_cast<double>(v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))]);
}

struct Round {
  int clients = 0;
  uint64_t events = 0;
  double busy_ns_per_event = 0;
  double publish_ns_per_event = 0;  // of busy: LiveHub::publish alone
  // ... and the CPU time the ingest thread spent in it (less: the thread waited for a CPU)
  double publish_cpu_ns_per_event = 0;
  double rate = 0;  // events/s the ingest thread achieved
  uint64_t late_batches = 0;
  double p50_ms = -1, p95_ms = -1;
  uint64_t received = 0, lagged = 0, cut = 0, skipped = 0;
};

Round run_round(const Args& a, int clients, store::Store& store, server::LiveHub& hub, int port,
                const std::string& token, uint64_t* seq) {
  Round r;
  r.clients = clients;
  std::vector<std::unique_ptr<Reader>> readers;
  for (int i = 0; i < clients; ++i) {
    std::string subscribe =
        a.subscribe_pids ? R"({"type":"subscribe","pids":[)" + std::to_string(1000 + i % 8) + "]}"
                         : std::string(R"({"type":"subscribe"})");
    readers.push_back(std::make_unique<Reader>(port, token, subscribe, a.pin_ingest));
  }
  // Every reader subscribed before the clock starts.
  auto until = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < until && !std::all_of(readers.begin(), readers.end(), [](const auto& x) {
           return x->connected() || x->failed();
         }))
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto before = hub.stats();

  const auto rows = templates();
  const uint64_t per_batch = a.rate * static_cast<uint64_t>(a.batch_ms) / 1000;
  std::thread ingest([&] {
    pin(a.pin_ingest, false);
    auto start = Clock::now();
    auto next = start;
    auto end = start + std::chrono::duration<double>(a.seconds);
    int64_t busy = 0, publishing = 0, publishing_cpu = 0;
    while (Clock::now() < end) {
      std::this_thread::sleep_until(next);
      event::Batch b{"bench", "boot", *seq, {}};
      b.events.reserve(per_batch);
      int64_t ts = unix_now_ns();
      for (uint64_t i = 0; i < per_batch; ++i) {
        b.events.push_back(rows[(*seq + i) % rows.size()]);
        b.events.back().ts_ns = ts;
        b.events.back().pid = 1000 + static_cast<uint32_t>(i % 8);
      }
      *seq += per_batch;
      auto t0 = Clock::now();
      auto w = store.write(b);
      if (!w) std::fprintf(stderr, "live_bench: store: %s\n", w.error().c_str());
      auto tp = Clock::now();
      int64_t cpu0 = thread_cpu_ns();
      hub.publish(std::move(b));
      publishing_cpu += thread_cpu_ns() - cpu0;
      auto t1 = Clock::now();
      publishing += std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - tp).count();
      busy += std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
      r.events += per_batch;
      next += std::chrono::milliseconds(a.batch_ms);
      if (t1 > next) ++r.late_batches;
    }
    double took = std::chrono::duration<double>(Clock::now() - start).count();
    r.busy_ns_per_event = static_cast<double>(busy) / static_cast<double>(r.events);
    r.publish_ns_per_event = static_cast<double>(publishing) / static_cast<double>(r.events);
    r.publish_cpu_ns_per_event =
        static_cast<double>(publishing_cpu) / static_cast<double>(r.events);
    r.rate = static_cast<double>(r.events) / took;
  });
  ingest.join();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the last events arrive
  std::vector<int64_t> lat;
  for (auto& x : readers) {
    x->stop();
    lat.insert(lat.end(), x->latencies_ns.begin(), x->latencies_ns.end());
    r.received += x->events;
    r.lagged += x->lagged;
    r.cut += x->cut ? 1 : 0;
  }
  auto after = hub.stats();
  r.skipped = after.events_skipped - before.events_skipped;
  r.p50_ms = percentile(lat, 0.50) / 1e6;
  r.p95_ms = percentile(lat, 0.95) / 1e6;
  // The next round starts with the hub knowing no client.
  until = Clock::now() + std::chrono::seconds(10);
  while (hub.stats().clients > 0 && Clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return r;
}

nlohmann::json to_json(const Round& r) {
  return {{"clients", r.clients},
          {"events", r.events},
          {"ingest_rate", r.rate},
          {"ingest_busy_ns_per_event", r.busy_ns_per_event},
          {"publish_ns_per_event", r.publish_ns_per_event},
          {"publish_cpu_ns_per_event", r.publish_cpu_ns_per_event},
          {"late_batches", r.late_batches},
          {"client_events_received", r.received},
          {"client_events_skipped", r.skipped},
          {"lagged_messages", r.lagged},
          {"clients_cut", r.cut},
          {"latency_p50_ms", r.p50_ms},
          {"latency_p95_ms", r.p95_ms}};
}

double median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--subscribe-pids") {
      a.subscribe_pids = true;
      --i;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "live_bench: %s needs a value\n", k.c_str());
      return 2;
    }
    const char* v = argv[i + 1];
    if (k == "--rate")
      a.rate = std::strtoull(v, nullptr, 10);
    else if (k == "--clients")
      a.clients = std::atoi(v);
    else if (k == "--seconds")
      a.seconds = std::atof(v);
    else if (k == "--rounds")
      a.rounds = std::atoi(v);
    else if (k == "--batch-ms")
      a.batch_ms = std::atoi(v);
    else if (k == "--pin-ingest")
      a.pin_ingest = std::atoi(v);
    else if (k == "--hub-nice")
      a.hub_nice = std::atoi(v);
    else {
      std::fprintf(stderr, "live_bench: unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  pin(a.pin_ingest, true);  // this thread and those it starts: the hub, the server
  std::string dir = std::filesystem::temp_directory_path() / "scope-live-bench-XXXXXX";
  if (!mkdtemp(dir.data())) return 1;
  auto store = store::SqliteStore::open({dir + "/scope.db"});
  if (!store) {
    std::fprintf(stderr, "live_bench: %s\n", store.error().c_str());
    return 1;
  }
  server::LiveOptions live;
  if (a.hub_nice) live.hub_nice = *a.hub_nice;
  server::LiveHub hub(live);
  auto router = std::make_shared<http::Router>();
  server::add_live_route(*router, hub);
  http::ServerOptions options;
  options.listen = "127.0.0.1:0";
  const std::string token = "live-bench-token";
  options.authenticate =
      http::single_token_authenticator(token, http::Principal{http::Role::kViewer, "bench"});
  auto server = http::Server::start(options, router);
  if (!server) {
    std::fprintf(stderr, "live_bench: %s\n", server.error().c_str());
    return 1;
  }
  uint64_t seq = 0;
  std::vector<double> base, with, base_rate, with_rate, publish;
  std::vector<Round> with_rounds;
  for (int round = 0; round < a.rounds; ++round) {
    for (int clients : {0, a.clients}) {
      Round r = run_round(a, clients, **store, hub, (*server)->port(), token, &seq);
      std::printf("%s\n", to_json(r).dump().c_str());
      std::fflush(stdout);
      (clients == 0 ? base : with).push_back(r.busy_ns_per_event);
      (clients == 0 ? base_rate : with_rate).push_back(r.rate);
      if (clients > 0) publish.push_back(r.publish_ns_per_event);
      if (clients > 0) with_rounds.push_back(r);
    }
  }
  std::vector<double> p50, p95;
  for (const auto& r : with_rounds) {
    p50.push_back(r.p50_ms);
    p95.push_back(r.p95_ms);
  }
  double b = median(base), w = median(with);
  nlohmann::json summary = {{"summary", true},
                            {"rate", a.rate},
                            {"clients", a.clients},
                            {"rounds", a.rounds},
                            {"seconds_per_round", a.seconds},
                            {"cpus", std::thread::hardware_concurrency()},
                            {"pin_ingest", a.pin_ingest},
                            {"hub_nice", hub.options().hub_nice},
                            {"busy_ns_per_event_0_clients", b},
                            {"busy_ns_per_event_with_clients", w},
                            {"ingest_busy_ratio", w / b},
                            {"ingest_rate_0_clients", median(base_rate)},
                            {"ingest_rate_with_clients", median(with_rate)},
                            {"ingest_rate_ratio", median(with_rate) / median(base_rate)},
                            {"publish_ns_per_event_with_clients", median(publish)},
                            {"subscribe_pids", a.subscribe_pids},
                            {"latency_p50_ms_median", median(p50)},
                            {"latency_p95_ms_median", median(p95)}};
  std::printf("%s\n", summary.dump().c_str());
  (*server)->stop();
  hub.stop();
  std::filesystem::remove_all(dir);
  return 0;
}
