// Every field of every family's event reaches its table column, in every store: one sample
// event per kind of each family, made by the family's own row function (from its decoded
// record), written to a real SQLite and PostgreSQL store and read back column by column. The
// JSON of an event is its row's, so a key without a column cannot exist; a field added to an
// event but to no column fails the size tripwires below, and a column no event fills fails
// the coverage check.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "event/cuda_event.h"
#include "event/row.h"
#include "families/cuda_output.h"
#include "families/exec_family.h"
#include "families/family.h"
#include "families/ggml_family.h"
#include "families/llama_family.h"
#include "families/net_family.h"
#include "families/open_family.h"
#include "families/sched_family.h"
#include "families/syscalls_family.h"
#include "store/sqlite/sqlite_store.h"
#ifdef SCOPE_WITH_POSTGRES
#include <libpq-fe.h>

#include "store/postgres/postgres_store.h"
#endif

namespace scope::vocabulary {
namespace {

using event::EventRow;
namespace f = families;

constexpr int64_t kTs = 1'700'000'000'000'000'000;

// A field added to one of these is a field that needs a column (and its row function must set
// it): then change the size here.
TEST(Vocabulary, EventStructsHaveTheFieldsTheirRowsCarry) {
  EXPECT_EQ(sizeof(CudaEvent), 264u) << "CudaEvent changed: give the field a cuda_events column";
  EXPECT_EQ(sizeof(f::ExecEvent), 144u) << "ExecEvent changed: give the field a column";
  EXPECT_EQ(sizeof(f::ExitEvent), 72u) << "ExitEvent changed: give the field a column";
  EXPECT_EQ(sizeof(f::OpenEvent), 136u) << "OpenEvent changed: give the field a column";
  EXPECT_EQ(sizeof(net_event), 96u) << "net_event changed: give the field a column";
  EXPECT_EQ(sizeof(llama_event), 96u + LLAMA_PATH_MAX) << "llama_event changed";
  EXPECT_EQ(sizeof(ggml_event), 72u) << "ggml_event changed: give the field a column";
}

// One event of each kind every family emits, every field set.
std::vector<EventRow> samples() {
  std::vector<EventRow> rows;
  auto cuda = [&](uint16_t call, uint8_t op, auto&& fill) {
    CudaEvent e;
    e.ts_ns = kTs + rows.size();
    e.pid = 10;
    e.tid = 11;
    e.comm = "python3";
    e.call = call;
    e.op = op;
    fill(e);
    rows.push_back(cuda_row(e));
  };
  cuda(CALL_cuLaunchKernel, CUDA_OP_LAUNCH, [](CudaEvent& e) {
    e.kernel = "gemm(float*)";
    e.kernel_file = "/opt/app/bin/train";
    e.kernel_offset = 0x4a1c0;
    e.handle = 0x5555;
    e.grid = {1, 2, 3};
    e.block = {4, 5, 6};
    e.shared_mem = 256;
    e.stream = 0x77;
  });
  cuda(CALL_cudaMallocAsync, CUDA_OP_ALLOC, [](CudaEvent& e) {
    e.ret = 0;
    e.duration_ns = 1000;
    e.ptr = 0x7f0000001000;
    e.bytes = 4096;
    e.mem = CUDA_MEM_MANAGED;
    e.async = true;
    e.stream = 0x77;
  });
  cuda(CALL_cudaMemcpyAsync, CUDA_OP_MEMCPY, [](CudaEvent& e) {
    e.bytes = 64;
    e.kind = CUDA_COPY_DTOH;
    e.async = true;
    e.stream = 0x78;
  });
  // What the GPU ran (scope's CUPTI library).
  cuda(CALL_NONE, CUDA_OP_GPU_KERNEL, [](CudaEvent& e) {
    e.kernel = "gemm(float*)";
    e.duration_ns = 5000;
    e.queue_ns = 1200;
    e.correlation_id = 42;
    e.stream = 7;
  });
  cuda(CALL_NONE, CUDA_OP_GPU_MEMCPY, [](CudaEvent& e) {
    e.duration_ns = 700;
    e.bytes = 64;
    e.kind = CUDA_COPY_HTOD;
    e.queue_ns = 300;
    e.correlation_id = 43;
    e.stream = 7;
  });
  f::ExecEvent exec;
  exec.ts_ns = kTs + 100;
  exec.pid = exec.tid = 20;
  exec.ppid = 1;
  exec.uid = 1000;
  exec.ret = -2;
  exec.duration_ns = 5000;
  exec.comm = "sh";
  exec.filename = "true";
  exec.argv = {"true", "x"};
  exec.execveat = true;
  exec.dirfd = 3;
  exec.argv_truncated = exec.filename_truncated = exec.argv_fault = exec.filename_fault = true;
  rows.push_back(f::exec_row(exec));
  f::ExitEvent exit;
  exit.ts_ns = kTs + 101;
  exit.pid = exit.tid = 20;
  exit.ppid = 1;
  exit.comm = "sh";
  exit.raw_status = 0x80 | 11;  // SIGSEGV, core dumped
  exit.lifetime_ns = 9000;
  rows.push_back(f::exit_row(exit));
  exit.raw_status = 3 << 8;  // exit(3)
  rows.push_back(f::exit_row(exit));
  f::OpenEvent open;
  open.ts_ns = kTs + 200;
  open.pid = open.tid = 30;
  open.comm = "cat";
  open.call = "openat";
  open.path = "/etc/hosts";
  open.flags = 02000000;
  open.ret = -2;
  open.dfd = -100;
  open.path_truncated = open.path_unresolved = true;
  rows.push_back(f::open_row(open));
  net_event n{};
  n.pid = n.tid = 40;
  std::strcpy(n.comm, "curl");
  n.ts_ns = 300;
  n.duration_ns = 700;
  n.family = NET_AF_INET;
  n.saddr[0] = n.daddr[0] = 127;
  n.saddr[3] = n.daddr[3] = 1;
  n.sport = 40000;
  n.dport = 80;
  n.op = NET_OP_CONNECT;
  n.flags = NET_F_FAILED | NET_F_HAS_DURATION;
  rows.push_back(f::net::row(n, kTs));
  n.op = NET_OP_CLOSE;
  n.flags = NET_F_HAS_DURATION | NET_F_HAS_BYTES;
  n.rx_bytes = 10;
  n.tx_bytes = 20;
  rows.push_back(f::net::row(n, kTs));
  f::syscalls::Row sys{50, 51, 0, "make", 9, 1, 800, 500, 9};
  rows.push_back(f::syscalls::interval_row(kTs + 400, sys, 9, 1, 800));
  f::sched::ThreadStats th{60, 61, "cc1", 5, 3, 2, 700, 100, 50, 2};
  rows.push_back(f::sched::interval_row(kTs + 500, th, {5, 3, 2, 700, 100}));
  llama_event l{};
  l.pid = l.tid = 70;
  std::strcpy(l.comm, "ollama");
  l.ts_ns = 600;
  l.duration_ns = 1000;
  l.call = LLAMA_CALL_llama_decode;
  l.op = LLAMA_OP_DECODE;
  l.n_tokens = 32;
  l.handle = 0xc0;
  rows.push_back(f::llama::row(l, f::llama::Phase::kPrompt, kTs));
  l.op = LLAMA_OP_MODEL_LOAD;
  l.call = LLAMA_CALL_llama_model_load_from_file;
  l.handle = 0xa0;
  std::strcpy(l.path, "/models/m.gguf");
  rows.push_back(f::llama::row(l, f::llama::Phase::kNone, kTs));
  l.op = LLAMA_OP_CONTEXT_CREATE;
  l.call = LLAMA_CALL_llama_init_from_model;
  l.model = 0xa0;
  l.n_ctx = 512;
  l.n_batch = l.n_ubatch = 16;
  l.n_seq_max = 1;
  rows.push_back(f::llama::row(l, f::llama::Phase::kNone, kTs));
  ggml_event g{};
  g.pid = g.tid = 80;
  std::strcpy(g.comm, "ollama");
  g.ts_ns = 700;
  g.duration_ns = 900;
  g.kind = GGML_KIND_GRAPH;
  g.nodes = 68;
  g.ptr = 0xb0;
  g.nested = 0b110;
  g.flags = GGML_F_HAS_RET;
  rows.push_back(f::ggml::row(g, "ggml_backend_sched_graph_compute_async", kTs));
  g.kind = GGML_KIND_CUDA_ALLOC;
  g.bytes = 1 << 20;
  rows.push_back(f::ggml::row(g, "ggml_cuda_pool_alloc", kTs));
  return rows;
}

// Every column of every family is filled by some sample, and the JSON of each sample is its
// non-NULL columns (and the keys a family derives for people).
TEST(Vocabulary, EveryColumnIsFilledAndEveryJsonKeyIsAColumn) {
  std::map<uint8_t, std::set<std::string>> filled;
  for (const auto& row : samples()) {
    const auto& s = event::schemas().at(row.family);
    auto j = f::event_json(row);
    std::set<std::string> keys;
    for (const auto& [k, v] : j.items()) keys.insert(k);
    for (const char* common : {"event", "ts_ns", "pid", "tid", "comm", "flags_str"})
      keys.erase(common);
    std::set<std::string> columns;
    for (size_t i = 0; i < s.columns.size(); ++i)
      if (!std::holds_alternative<std::monostate>(row.values[i]))
        columns.insert(std::string(s.columns[i].name));
    keys.erase("errno_name");  // derived from ret, for people
    EXPECT_EQ(keys, columns) << j.dump();
    filled[row.family].insert(columns.begin(), columns.end());
  }
  for (const auto& s : event::schemas())
    for (const auto& c : s.columns)
      EXPECT_TRUE(filled[s.id].count(std::string(c.name)))
          << s.table << "." << c.name << " is filled by no sample event";
}

// What a store gives back for each column of a row.
void expect_stored(store::Store& store) {
  event::Batch b{"vocab-node", "boot", 1, samples()};
  ASSERT_TRUE(store.write(b));
  for (size_t k = 0; k < b.events.size(); ++k) {
    const auto& row = b.events[k];
    const auto& s = event::schemas().at(row.family);
    std::string columns;
    for (const auto& c : s.columns) columns += (columns.empty() ? "" : ", ") + std::string(c.name);
    auto r = store.query("SELECT ts_ns, pid, tid, comm, " + columns + " FROM " +
                             std::string(s.table) + " WHERE seq = " + std::to_string(1 + k),
                         {});
    ASSERT_TRUE(r) << r.error();
    ASSERT_EQ(r->rows.size(), 1u) << s.table << " seq " << 1 + k;
    const auto& got = r->rows[0];
    EXPECT_EQ(got[0], event::Value(row.ts_ns));
    EXPECT_EQ(got[1], event::Value(int64_t{row.pid}));
    EXPECT_EQ(got[2], event::Value(int64_t{row.tid}));
    EXPECT_EQ(got[3], event::Value(row.comm));
    for (size_t i = 0; i < s.columns.size(); ++i)
      EXPECT_EQ(got[4 + i], row.values[i]) << s.table << "." << s.columns[i].name;
  }
}

TEST(Vocabulary, EveryFieldReachesItsSqliteColumn) {
  std::string dir = std::filesystem::temp_directory_path() / "scope-vocab-XXXXXX";
  ASSERT_TRUE(mkdtemp(dir.data()));
  auto s = store::SqliteStore::open({dir + "/scope.db"});
  ASSERT_TRUE(s) << s.error();
  expect_stored(**s);
  std::filesystem::remove_all(dir);
}

#ifdef SCOPE_WITH_POSTGRES
TEST(Vocabulary, EveryFieldReachesItsPostgresColumn) {
  const char* url = std::getenv("SCOPE_TEST_POSTGRES_URL");
  if (!url || !*url)
    GTEST_SKIP() << "SCOPE_TEST_POSTGRES_URL is not set (source scripts/services.sh)";
  PGconn* c = PQconnectdb(url);
  PQclear(PQexec(c, "DROP SCHEMA IF EXISTS vocabulary CASCADE"));
  PQfinish(c);
  store::PostgresOptions o;
  o.url = url;
  o.schema = "vocabulary";
  auto s = store::PostgresStore::open(o);
  ASSERT_TRUE(s) << s.error();
  expect_stored(**s);
}
#endif

}  // namespace
}  // namespace scope::vocabulary
