// Perfetto traces of the CUDA demo traced for real: `scope export perfetto` from a running
// `scope up` (through its API) and `scope trace --perfetto`, each file decoded by protoc against
// the repository's .proto and compared with what the demo says it did.
#include <gtest/gtest.h>

#include "scope_up.h"
#include "tests/support/perfetto_decode.h"

namespace scope::itest {
namespace {

using bpftest::kBin;
using bpftest::kScope;
using bpftest::run;
using scope::testing::decode_trace;
using scope::testing::DecodedTrace;

const std::string kProto = std::string(SCOPE_SOURCE_DIR) + "/src/export/perfetto_trace.proto";

// Launches: instants on the process's CUDA stream tracks.
size_t stream_instants(const DecodedTrace& t) {
  size_t n = 0;
  for (const auto& e : t.events)
    n += e.type == "TYPE_INSTANT" && t.tracks.at(e.track).name.rfind("CUDA stream", 0) == 0;
  return n;
}
// What the GPU ran (CUPTI): slices on the process's GPU stream tracks.
size_t gpu_slices(const DecodedTrace& t, const std::string& name_prefix = "") {
  size_t n = 0;
  for (const auto& e : t.events)
    n += e.type == "TYPE_SLICE_BEGIN" && t.tracks.at(e.track).name.rfind("GPU stream", 0) == 0 &&
         e.name.rfind(name_prefix, 0) == 0;
  return n;
}
// The other CUDA calls: slices named cuda*/cu* on the threads' tracks.
size_t cuda_slices(const DecodedTrace& t) {
  size_t n = 0;
  for (const auto& e : t.events)
    n += e.type == "TYPE_SLICE_BEGIN" && e.name.rfind("cu", 0) == 0 &&
         t.tracks.at(e.track).name.rfind("GPU stream", 0) != 0;
  return n;
}

TEST(PerfettoTrace, ExportOfTheDemoFromScopeUp) {
  SCOPE_BPF_REQUIRE();
  if (scope::testing::protoc_path().empty())
    GTEST_SKIP() << "no protoc (apt-get install protobuf-compiler)";
  std::string dir = make_temp_dir("scope-perfetto");
  ScopeUp up;
  ASSERT_TRUE(up.start(dir, {"--probes", "cuda,exec"})) << up.process().err();
  auto demo = run({"/usr/bin/setsid", "--wait", kBin + "/cuda_demo", "--threads", "2"});
  ASSERT_EQ(demo.status, 0) << demo.err;
  json expect = demo_expect(demo.out);
  ASSERT_TRUE(expect.is_object()) << demo.out;
  int64_t launches = expect["launches"].get<int64_t>() + expect["graph_launches"].get<int64_t>();
  ASSERT_EQ(up.wait_count("SELECT count(*) FROM cuda_events WHERE comm = 'cuda_demo' AND op IN "
                          "('launch', 'graph_launch')",
                          launches),
            launches);
  int64_t pid = up.count("SELECT max(pid) FROM cuda_events WHERE comm = 'cuda_demo'");
  ASSERT_GT(pid, 0);

  std::string file = dir + "/demo.pftrace";
  auto out = run({kScope, "export", "perfetto", "--data-dir", dir, "--from", "10m", "--pid",
                  std::to_string(pid), "-o", file});
  ASSERT_EQ(out.status, 0) << out.err;
  EXPECT_NE(out.err.find("launches"), std::string::npos) << out.err;
  DecodedTrace t = decode_trace(file, kProto);
  ASSERT_EQ(t.error, "");
  EXPECT_EQ(stream_instants(t), static_cast<size_t>(launches));
  EXPECT_EQ(static_cast<int64_t>(cuda_slices(t)),
            up.count("SELECT count(*) FROM cuda_events WHERE pid = " + std::to_string(pid) +
                     " AND op NOT IN ('launch', 'graph_launch')"));
  size_t memory = 0;
  for (const auto& e : t.events)
    memory += e.type == "TYPE_COUNTER" && t.tracks.at(e.track).name == "CUDA memory";
  EXPECT_EQ(static_cast<int64_t>(memory),
            up.count("SELECT count(*) FROM cuda_mem_events WHERE pid = " + std::to_string(pid)));
  uint64_t process = t.process_track(pid);
  ASSERT_NE(process, 0u);
  ASSERT_FALSE(t.tracks.at(process).cmdline.empty());
  EXPECT_NE(t.tracks.at(process).cmdline[0].find("cuda_demo"), std::string::npos);

  // Bad input: a clear error, no file left behind.
  auto bad = run({kScope, "export", "perfetto", "--data-dir", dir, "--from", "yesterday", "-o",
                  dir + "/bad.pftrace"});
  EXPECT_EQ(bad.status, 2) << bad.err;
  EXPECT_NE(bad.err.find("from"), std::string::npos) << bad.err;
  EXPECT_FALSE(bpftest::file_exists(dir + "/bad.pftrace"));
  EXPECT_FALSE(bpftest::file_exists(dir + "/bad.pftrace.partial"));
  auto nowhere =
      run({kScope, "export", "perfetto", "--data-dir", dir, "-o", dir + "/no/such/dir/x.pftrace"});
  EXPECT_NE(nowhere.status, 0);
  EXPECT_NE(nowhere.err.find("x.pftrace"), std::string::npos) << nowhere.err;

  up.process().signal(SIGTERM);
  EXPECT_EQ(up.process().wait(30).status, 0);
}

TEST(PerfettoTrace, TraceWritesTheFileAsItGoes) {
  SCOPE_BPF_REQUIRE();
  if (scope::testing::protoc_path().empty())
    GTEST_SKIP() << "no protoc (apt-get install protobuf-compiler)";
  std::string dir = make_temp_dir("scope-perfetto");
  std::string file = dir + "/trace.pftrace";
  auto r = run({kScope, "trace", "--quiet", "--perfetto", file, "--", kBin + "/cuda_demo",
                "--threads", "2"});
  ASSERT_EQ(r.status, 0) << r.err;
  json expect = demo_expect(r.out + r.err);
  ASSERT_TRUE(expect.is_object()) << r.out;
  DecodedTrace t = decode_trace(file, kProto);
  ASSERT_EQ(t.error, "");
  EXPECT_EQ(stream_instants(t), static_cast<size_t>(expect["launches"].get<int64_t>() +
                                                    expect["graph_launches"].get<int64_t>()));
  int64_t calls = 0;
  for (const char* key : {"allocs", "frees", "memcpy", "memset", "syncs"})
    calls += expect[key].get<int64_t>();
  EXPECT_EQ(static_cast<int64_t>(cuda_slices(t)), calls);
  // scope trace gave the demo scope's CUPTI library: every launch ran on a GPU stream track (graph
  // launches run no kernel on the stand-in), every copy with bytes too.
  EXPECT_EQ(static_cast<int64_t>(gpu_slices(t)) - static_cast<int64_t>(gpu_slices(t, "memcpy")),
            expect["launches"].get<int64_t>());
  EXPECT_GT(gpu_slices(t, "memcpy"), 0u);
  EXPECT_NE(r.err.find(" GPU runs,"), std::string::npos) << r.err;
  // The demo's leak: device memory ends 3 MiB above where the trace began for it.
  int64_t last = -1;
  for (const auto& e : t.events)
    if (e.type == "TYPE_COUNTER" && t.tracks.at(e.track).name == "CUDA memory") last = e.counter;
  EXPECT_EQ(last, 3 << 20);

  auto bad = run(
      {kScope, "trace", "--perfetto", dir + "/no/such/dir/t.pftrace", "--", kBin + "/cuda_demo"});
  EXPECT_EQ(bad.status, 2) << bad.err;
  EXPECT_NE(bad.err.find("--perfetto"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace scope::itest
