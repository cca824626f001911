// scope's Perfetto export from each store: the file decoded by protoc against the .proto kept in
// the repository, its structure checked (tests/support/perfetto_decode.h) and its counts compared
// with the store's own.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "event/schema.h"
#include "export/perfetto_export.h"
#include "store_suite.h"
#include "tests/support/perfetto_decode.h"

namespace scope::store::testing {
namespace {

using scope::testing::decode_trace;
using scope::testing::DecodedTrace;

constexpr int64_t kT0 = 1'780'000'000'000'000'000;  // Unix ns, 2026
const std::string kProto = std::string(SCOPE_SOURCE_DIR) + "/src/export/perfetto_trace.proto";

event::EventRow row(const char* family, int64_t ts, uint32_t pid, uint32_t tid, const char* comm,
                    std::initializer_list<std::pair<const char*, event::Value>> columns) {
  auto r = event::make_row(*event::schema_for(family), ts, pid, tid, comm);
  for (const auto& [name, value] : columns) event::set_column(r, name, value);
  return r;
}

// A workload whose trace is known: python3 (pid 100) execs, allocates 1, 2 and 4 MiB and frees
// the 2 MiB, copies, launches 600 kernels on two streams and syncs; its thread 101 decodes with
// llama (a ggml graph inside each decode); its sched rows; it exits. pid 200 launches 50 kernels.
event::Batch workload(const std::string& node) {
  event::Batch b;
  b.node = node;
  b.boot_id = "boot";
  b.first_seq = 1;
  auto& e = b.events;
  e.push_back(row("exec", kT0, 100, 100, "python3",
                  {{"call", "execve"},
                   {"filename", "/usr/bin/python3"},
                   {"argv", R"(["python3","train.py","--epochs","3"])"},
                   {"ret", int64_t{0}}}));
  int64_t t = kT0 + 1000;
  const int64_t mib = 1 << 20;
  for (auto [ptr, bytes] : {std::pair{0x1000, 1 * mib}, {0x2000, 2 * mib}, {0x3000, 4 * mib}})
    e.push_back(row("cuda", t += 100, 100, 100, "python3",
                    {{"call", "cudaMalloc"},
                     {"op", "alloc"},
                     {"ret", int64_t{0}},
                     {"ptr", int64_t{ptr}},
                     {"bytes", int64_t{bytes}},
                     {"duration_ns", int64_t{50}}}));
  e.push_back(
      row("cuda", t += 100, 100, 100, "python3",
          {{"call", "cudaFree"}, {"op", "free"}, {"ret", int64_t{0}}, {"ptr", int64_t{0x2000}}}));
  e.push_back(row("cuda", t += 100, 100, 100, "python3",
                  {{"call", "cudaMemcpy"},
                   {"op", "memcpy"},
                   {"ret", int64_t{0}},
                   {"bytes", int64_t{4096}},
                   {"kind", "htod"},
                   {"async", int64_t{0}},
                   {"duration_ns", int64_t{500}}}));
  for (int i = 0; i < 600; ++i)
    e.push_back(row("cuda", t += 700, 100, 100, "python3",
                    {{"call", "cudaLaunchKernel"},
                     {"op", "launch"},
                     {"kernel", i % 3 ? "gemm_kernel" : "softmax_kernel"},
                     {"grid", "[1,2,3]"},
                     {"block", "[4,1,1]"},
                     {"shared_mem", int64_t{0}},
                     {"stream", int64_t{i % 2 ? 0x7f00 : 0}}}));
  e.push_back(row("cuda", t += 100, 100, 100, "python3",
                  {{"call", "cuCtxSynchronize_v2"},
                   {"op", "sync"},
                   {"ret", int64_t{0}},
                   {"duration_ns", int64_t{20000}}}));
  for (int i = 0; i < 5; ++i) {
    int64_t d = kT0 + 1'000'000 + i * 100'000;
    e.push_back(row("llama", d, 100, 101, "python3",
                    {{"call", "llama_decode"},
                     {"duration_ns", int64_t{50'000}},
                     {"tokens", int64_t{i == 0 ? 12 : 1}},
                     {"phase", i == 0 ? "prompt" : "generation"},
                     {"ret", int64_t{0}}}));
    e.push_back(row("ggml", d + 1000, 100, 101, "python3",
                    {{"call", "ggml_backend_graph_compute"},
                     {"op", "graph_compute"},
                     {"duration_ns", int64_t{40'000}},
                     {"nodes", int64_t{900}}}));
  }
  for (int i = 0; i < 4; ++i)
    e.push_back(row("sched", kT0 + 2'000'000 + i * 1000, 100, 100, "python3",
                    {{"switches", int64_t{10}},
                     {"voluntary", int64_t{8}},
                     {"involuntary", int64_t{2}},
                     {"offcpu_ns", int64_t{1000 * (i + 1)}},
                     {"runq_ns", int64_t{10 * i}}}));
  for (int i = 0; i < 50; ++i)
    e.push_back(row("cuda", kT0 + 3000 + i * 900, 200, 200, "other",
                    {{"call", "cuLaunchKernel"},
                     {"op", "launch"},
                     {"kernel", "other_kernel"},
                     {"grid", "[8,1,1]"},
                     {"block", "[256,1,1]"},
                     {"shared_mem", int64_t{1024}},
                     {"stream", int64_t{0}}}));
  e.push_back(
      row("exec", kT0 + 3'000'000, 100, 100, "python3",
          {{"call", "exit"}, {"exit_code", int64_t{0}}, {"lifetime_ns", int64_t{3'000'000}}}));
  // The store keeps a batch in time order per table; rows of one batch may come in any order.
  return b;
}

int64_t scalar(Store& s, const std::string& sql) {
  auto r = s.query(sql, {});
  EXPECT_TRUE(r) << (r ? "" : r.error());
  if (!r || r->rows.empty()) return -1;
  const auto* v = std::get_if<int64_t>(&r->rows[0][0]);
  return v ? *v : -1;
}

class PerfettoExport : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    if (scope::testing::protoc_path().empty())
      GTEST_SKIP() << "no protoc (apt-get install protobuf-compiler)";
    if (auto why = GetParam().skip_reason(); !why.empty()) GTEST_SKIP() << why;
    auto s = GetParam().make();
    ASSERT_TRUE(s) << s.error();
    store_ = std::move(s.value());
    dir_ = temp_dir();
  }

  // Exports with `o` into a file and decodes it.
  DecodedTrace exported(const perfetto::ExportOptions& o,
                        perfetto::ExportSummary* summary = nullptr) {
    std::string path = dir_ + "/trace.pftrace";
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    auto r = perfetto::export_trace(*store_, o, [&](std::string_view bytes) {
      f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      return bool(f);
    });
    f.close();
    EXPECT_TRUE(r) << (r ? "" : r.error());
    if (r && summary) *summary = *r;
    return decode_trace(path, kProto);
  }

  std::unique_ptr<Store> store_;
  std::string dir_;
};

TEST_P(PerfettoExport, EveryEventOnItsTrackWithTheStoresCounts) {
  ASSERT_TRUE(store_->write(workload("gpu-1")));
  perfetto::ExportSummary summary;
  DecodedTrace t = exported({}, &summary);
  ASSERT_EQ(t.error, "");

  // Launches: instants named by kernel on the stream tracks, as many as the store holds.
  int64_t launches = scalar(*store_, "SELECT count(*) FROM cuda_events WHERE op = 'launch'");
  EXPECT_EQ(launches, 650);
  EXPECT_EQ(t.count("TYPE_INSTANT", "gemm_kernel") + t.count("TYPE_INSTANT", "softmax_kernel") +
                t.count("TYPE_INSTANT", "other_kernel"),
            static_cast<size_t>(launches));
  EXPECT_EQ(summary.events.launches, static_cast<uint64_t>(launches));
  const scope::testing::DecodedEvent* first = nullptr;
  for (const auto& e : t.events)
    if (e.name == "softmax_kernel" && !first) first = &e;
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->args.at("launch"), "<<<(1,2,3), (4,1,1), 0>>>");
  EXPECT_EQ(t.tracks.at(first->track).name, "CUDA stream 0x0");
  uint64_t python = t.process_track(100);
  ASSERT_NE(python, 0u);
  EXPECT_EQ(t.tracks.at(first->track).parent, python);

  // CUDA calls, llama decodes and ggml graphs: slices, each ended (decode_trace checks it).
  int64_t calls = scalar(*store_, "SELECT count(*) FROM cuda_events WHERE op <> 'launch'");
  EXPECT_EQ(t.count("TYPE_SLICE_BEGIN", "cudaMalloc") + t.count("TYPE_SLICE_BEGIN", "cudaFree") +
                t.count("TYPE_SLICE_BEGIN", "cudaMemcpy") +
                t.count("TYPE_SLICE_BEGIN", "cuCtxSynchronize_v2"),
            static_cast<size_t>(calls));
  EXPECT_EQ(t.count("TYPE_SLICE_BEGIN", "llama_decode"),
            static_cast<size_t>(scalar(*store_, "SELECT count(*) FROM llama_events")));
  EXPECT_EQ(t.count("TYPE_SLICE_BEGIN", "ggml_backend_graph_compute"),
            static_cast<size_t>(scalar(*store_, "SELECT count(*) FROM ggml_events")));
  EXPECT_EQ(t.count("TYPE_SLICE_BEGIN"), t.count("TYPE_SLICE_END"));
  EXPECT_EQ(summary.file.clamped, 0u);
  for (const auto& e : t.events)
    if (e.name == "llama_decode" && e.args.at("phase") == "prompt") {
      EXPECT_EQ(e.args.at("tokens"), "12");
      EXPECT_EQ(t.tracks.at(e.track).tid, 101);
    }
  // The sync: 20 µs from its begin to its end on the main thread.
  int64_t sync_begin = -1;
  for (const auto& e : t.events) {
    if (e.name == "cuCtxSynchronize_v2") sync_begin = e.ts;
    if (e.type == "TYPE_SLICE_END" && sync_begin >= 0 && t.tracks.at(e.track).tid == 100) {
      EXPECT_EQ(e.ts - sync_begin, 20000);
      sync_begin = -2;
    }
  }
  EXPECT_EQ(sync_begin, -2);

  // Device memory: a counter per process, a value per allocation or free, 5 MiB at the end.
  std::vector<int64_t> memory;
  for (const auto& e : t.events)
    if (e.type == "TYPE_COUNTER" && t.tracks.at(e.track).name == "CUDA memory") {
      EXPECT_EQ(t.tracks.at(e.track).parent, python);
      memory.push_back(e.counter);
    }
  EXPECT_EQ(static_cast<int64_t>(memory.size()),
            scalar(*store_, "SELECT count(*) FROM cuda_mem_events"));
  ASSERT_FALSE(memory.empty());
  EXPECT_EQ(memory.back(), 5 << 20);
  EXPECT_EQ(memory[1], 3 << 20);

  // The process: named and with its command line from its exec; the exec and exit instants.
  EXPECT_EQ(t.tracks.at(python).name, "python3");
  EXPECT_EQ(t.tracks.at(python).cmdline,
            (std::vector<std::string>{"python3", "train.py", "--epochs", "3"}));
  EXPECT_EQ(t.count("TYPE_INSTANT", "execve"), 1u);
  EXPECT_EQ(t.count("TYPE_INSTANT", "exit"), 1u);
  // Off-CPU time: a counter under the thread, one value per sched row.
  size_t offcpu = 0;
  for (const auto& e : t.events)
    offcpu += e.type == "TYPE_COUNTER" && t.tracks.at(e.track).name == "off-CPU ns";
  EXPECT_EQ(offcpu, static_cast<size_t>(scalar(*store_, "SELECT count(*) FROM sched_events")));

  // Timestamps are the store's, exactly: the first launch of pid 200.
  for (const auto& e : t.events)
    if (e.name == "other_kernel") {
      EXPECT_EQ(e.ts, kT0 + 3000);
      break;
    }
}

TEST_P(PerfettoExport, FiltersByPidAndWindowAndNode) {
  ASSERT_TRUE(store_->write(workload("gpu-1")));
  perfetto::ExportOptions o;
  o.pid = 200;
  DecodedTrace t = exported(o);
  ASSERT_EQ(t.error, "");
  EXPECT_EQ(t.count("TYPE_INSTANT"), 50u);
  EXPECT_EQ(t.process_track(100), 0u);

  o = {};
  o.from_ns = kT0 + 1'000'000;  // the decodes on
  o.to_ns = kT0 + 2'000'000;
  t = exported(o);
  ASSERT_EQ(t.error, "");
  EXPECT_EQ(t.count("TYPE_SLICE_BEGIN", "llama_decode"), 5u);
  EXPECT_EQ(t.count("TYPE_INSTANT"), 0u);

  // A second node: the export must be told which.
  event::Batch other = workload("gpu-2");
  ASSERT_TRUE(store_->write(other));
  auto r = perfetto::export_trace(*store_, {}, [](std::string_view) { return true; });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), Errc::kBadInput);
  EXPECT_NE(r.error().find("gpu-1, gpu-2"), std::string::npos) << r.error();
  o = {};
  o.node = "gpu-2";
  t = exported(o);
  ASSERT_EQ(t.error, "");
  EXPECT_EQ(t.count("TYPE_INSTANT", "other_kernel"), 50u);

  o = {};
  o.from_ns = 10;
  o.to_ns = 10;
  r = perfetto::export_trace(*store_, o, [](std::string_view) { return true; });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), Errc::kBadInput);
}

// The format's cost: a launch-bound trace (100,000 launches of 20 kernels on 4 streams, ~2 µs
// apart) in at most 30 bytes a launch, the whole file counted.
TEST_P(PerfettoExport, ALaunchCostsAtMostThirtyBytes) {
  event::Batch b;
  b.node = "gpu-1";
  b.boot_id = "boot";
  b.first_seq = 1;
  for (int i = 0; i < 100000; ++i)
    b.events.push_back(
        row("cuda", kT0 + i * 2100 + (i * 7919) % 400, 100, 100, "python3",
            {{"call", "cudaLaunchKernel"},
             {"op", "launch"},
             {"kernel",
              ("void at::native::elementwise_kernel<" + std::to_string(i % 20) + ">").c_str()},
             {"grid", "[" + std::to_string(1 + i % 5) + ",1,1]"},
             {"block", "[128,1,1]"},
             {"shared_mem", int64_t{0}},
             {"stream", int64_t{0x1000 * (i % 4)}}}));
  ASSERT_TRUE(store_->write(b));
  perfetto::ExportSummary s;
  DecodedTrace t = exported({}, &s);
  ASSERT_EQ(t.error, "");
  EXPECT_EQ(t.count("TYPE_INSTANT"), 100000u);
  double per_launch = static_cast<double>(s.file.bytes) / 100000.0;
  std::printf("%.1f bytes a launch (%llu bytes)\n", per_launch,
              static_cast<unsigned long long>(s.file.bytes));
  EXPECT_LE(per_launch, 30.0);
}

INSTANTIATE_TEST_SUITE_P(Stores, PerfettoExport, ::testing::ValuesIn(store_factories("perfetto")),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace scope::store::testing
