// The llama and ggml families on the real workload: node-llama-cpp's prebuilt
// llama.cpp (libllama, libggml-base, libggml-cpu-*.so, dlopen'd by Node)
// running a tiny generated GGUF model, plus a program that leaks ggml buffers
// and bad input (no library, a stripped copy, renamed symbols).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "run_scope.h"
#include "tests/support/perfetto_decode.h"

namespace scope::bpftest {
namespace {

const std::string kLlamaDir = std::string(SCOPE_TESTDATA_DIR) + "/llama";
const std::string kPrebuilt = kLlamaDir + "/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64";
const std::string kModel = kLlamaDir + "/tiny.gguf";

// Why the workload is missing: only when node-llama-cpp could not be installed.
std::string llama_skip_reason() {
  std::ifstream in(kLlamaDir + "/status");
  std::string status;
  if (!in || !std::getline(in, status))
    return "the llama fixture was not set up (build the llama_fixture target)";
  if (status != "ok") return "node-llama-cpp could not be installed: " + status;
  return {};
}

#define LLAMA_REQUIRE()                           \
  do {                                            \
    SCOPE_BPF_REQUIRE();                          \
    std::string why_ = llama_skip_reason();       \
    if (!why_.empty()) {                          \
      std::printf("skipped: %s\n", why_.c_str()); \
      GTEST_SKIP() << why_;                       \
    }                                             \
  } while (0)

std::string node_binary() {
  for (const char* p : {"/usr/bin/node", "/usr/local/bin/node", "/usr/bin/nodejs"})
    if (file_exists(p)) return p;
  return "node";
}

// The JSON line a fixture program printed (under --json its stdout goes to scope's stderr): the
// one JSON object there.
nlohmann::json program_report(const Trace& t) {
  for (const auto& line : t.other_lines) {
    if (line.empty() || line[0] != '{') continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && !j.contains("event")) return j;
  }
  return nullptr;
}

std::vector<nlohmann::json> family_events(const Trace& t, const std::string& family,
                                          const std::string& op = "") {
  std::vector<nlohmann::json> out;
  for (const auto& e : t.events)
    if (e.value("event", "") == family && (op.empty() || e.value("op", "") == op)) out.push_back(e);
  return out;
}

Trace trace_runner(const std::vector<std::string>& runner_args,
                   const std::string& probes = "llama,ggml") {
  std::vector<std::string> args = {
      "--json", "--probes", probes, "--", node_binary(), kLlamaDir + "/runner.mjs", kModel};
  args.insert(args.end(), runner_args.begin(), runner_args.end());
  return trace(args, 180);
}

TEST(LlamaBpf, DecodesAndTokensEqualTheRunners) {
  LLAMA_REQUIRE();
  // A batch of 16 splits the 37-token prompt into 16 + 16 + 5; two requests.
  Trace t = trace_runner({"--tokens", "12", "--ctx", "256", "--batch", "16", "--repeat", "2"});
  ASSERT_EQ(t.run.status, 0) << t.describe();
  nlohmann::json want = program_report(t);
  ASSERT_TRUE(want.is_object()) << t.describe();
  uint32_t pid = want["pid"].get<uint32_t>();
  ASSERT_EQ(want["requests"], 2);

  uint64_t prompt_tokens = 0, prompt_decodes = 0, generation_decodes = 0, decodes = 0;
  for (const auto& e : family_events(t, "llama", "decode")) {
    if (e["pid"] != pid) continue;
    ++decodes;
    EXPECT_EQ(e["call"], "llama_decode");
    EXPECT_EQ(e["ret"], 0);
    EXPECT_GT(e["duration_ns"].get<uint64_t>(), 0u);
    if (e["phase"] == "prompt") {
      ++prompt_decodes;
      prompt_tokens += e["tokens"].get<uint64_t>();
      EXPECT_LE(e["tokens"].get<int>(), 16) << e.dump();  // n_batch
    } else {
      EXPECT_EQ(e["phase"], "generation") << e.dump();
      EXPECT_EQ(e["tokens"], 1) << e.dump();
      ++generation_decodes;
    }
  }
  EXPECT_EQ(decodes, want["decode_calls"].get<uint64_t>()) << t.describe();
  EXPECT_EQ(prompt_decodes, want["prompt_decodes"].get<uint64_t>());
  EXPECT_EQ(prompt_tokens, want["prompt_tokens"].get<uint64_t>());
  EXPECT_EQ(generation_decodes, want["generation_decodes"].get<uint64_t>());

  const auto& llama = t.summary.at("llama");
  EXPECT_EQ(llama["decode_calls"].get<uint64_t>(), decodes);
  EXPECT_EQ(llama["prompt_tokens"].get<uint64_t>(), prompt_tokens);
  EXPECT_EQ(llama["generation_tokens"].get<uint64_t>(), generation_decodes);
  EXPECT_GT(llama["tokens_per_s"]["prompt"].get<double>(), 0);
  EXPECT_GT(llama["tokens_per_s"]["generation"].get<double>(), 0);
  bool found = false;
  for (const auto& p : llama["processes"]) {
    if (p["pid"] != pid) continue;
    found = true;
    EXPECT_EQ(p["requests"], 2);  // two prompt runs, each followed by generation
    for (const auto& ttft : p["ttft_ns"]) EXPECT_GT(ttft.get<uint64_t>(), 0u);
    EXPECT_GT(p["decode_p50_ns"].get<uint64_t>(), 0u);
    EXPECT_GE(p["decode_p99_ns"].get<uint64_t>(), p["decode_p50_ns"].get<uint64_t>());
    ASSERT_EQ(p["model_loads"].size(), 1u) << p.dump();
    EXPECT_EQ(p["model_loads"][0]["path"], kModel);
    EXPECT_EQ(p["model_loads"][0]["ok"], true);
  }
  EXPECT_TRUE(found) << t.describe();

  // Context creation: n_ctx and n_batch read from the by-value params.
  size_t contexts = 0;
  for (const auto& e : family_events(t, "llama", "context_create")) {
    if (e["pid"] != pid) continue;
    ++contexts;
    EXPECT_EQ(e["n_ctx"], 256) << e.dump();
    EXPECT_EQ(e["n_batch"], 16) << e.dump();
    EXPECT_EQ(e["ok"], true);
  }
  EXPECT_GE(contexts, 2u);
  EXPECT_EQ(t.summary["dropped"], 0);

  // 28 decodes: past the window after which the graph computes only ever
  // called inside the scheduler's are detached; one event per decode still.
  size_t graphs = 0;
  for (const auto& e : family_events(t, "ggml", "graph")) graphs += e["pid"] == pid;
  EXPECT_EQ(graphs, decodes);
  auto detached = t.summary.at("ggml").at("detached_nested");
  EXPECT_EQ(detached,
            nlohmann::json::array({"ggml_backend_graph_compute_async", "ggml_graph_compute"}))
      << detached.dump();
}

TEST(LlamaBpf, GraphComputesCarryNodesAndBuffersBalance) {
  LLAMA_REQUIRE();
  Trace t = trace_runner({"--tokens", "6"});
  ASSERT_EQ(t.run.status, 0) << t.describe();
  nlohmann::json want = program_report(t);
  ASSERT_TRUE(want.is_object()) << t.describe();
  uint32_t pid = want["pid"].get<uint32_t>();

  // One outermost graph compute per decode (the scheduler's; the CPU
  // backend's ggml_graph_compute inside it is part of it).
  size_t graphs = 0;
  for (const auto& e : family_events(t, "ggml", "graph")) {
    if (e["pid"] != pid) continue;
    ++graphs;
    EXPECT_GT(e["nodes"].get<int>(), 0) << e.dump();
    EXPECT_GT(e["duration_ns"].get<uint64_t>(), 0u);
    EXPECT_EQ(e["ret"], 0);
  }
  EXPECT_EQ(graphs, want["decode_calls"].get<uint64_t>()) << t.describe();

  const auto& ggml = t.summary.at("ggml");
  EXPECT_EQ(ggml["leaks"].size(), 0u) << ggml.dump();
  bool found = false;
  for (const auto& m : ggml["memory"]) {
    if (m["pid"] != pid) continue;
    found = true;
    EXPECT_GT(m["allocs"].get<uint64_t>(), 0u);
    EXPECT_EQ(m["allocs"], m["frees"]) << m.dump();
    EXPECT_EQ(m["live_bytes"], 0) << m.dump();
    EXPECT_GT(m["peak_bytes"].get<uint64_t>(), 0u);
  }
  EXPECT_TRUE(found) << ggml.dump();
  // Found by mapping wherever npm put them: libggml-base and a CPU variant.
  bool base = false, cpu = false;
  for (const auto& lib : ggml["libraries"]) {
    std::string path = lib["path"];
    base |= path.find("libggml-base.so") != std::string::npos;
    cpu |= path.find("libggml-cpu-") != std::string::npos;
  }
  EXPECT_TRUE(base && cpu) << ggml["libraries"].dump();
  EXPECT_EQ(ggml["not_found"].size(), 0u) << ggml["not_found"].dump();
}

// The same run as a Perfetto trace (--perfetto beside --json): every llama and ggml call a slice
// on its thread, named by the call, with the decode's tokens and phase; nothing cut to nest; the
// file decodes with protoc against the repository's .proto.
TEST(LlamaBpf, PerfettoTraceHasEveryCallAsASlice) {
  LLAMA_REQUIRE();
  if (scope::testing::protoc_path().empty()) GTEST_SKIP() << "no protoc";
  std::string dir = std::filesystem::temp_directory_path() / "scope-llama-perfetto-XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  std::string file = dir + "/llama.pftrace";
  Trace t = trace({"--json", "--probes", "llama,ggml", "--perfetto", file, "--", node_binary(),
                   kLlamaDir + "/runner.mjs", kModel, "--tokens", "6", "--batch", "16"},
                  180);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  EXPECT_NE(t.run.err.find(", 0 slices cut to nest"), std::string::npos) << t.run.err;
  auto decoded = scope::testing::decode_trace(
      file, std::string(SCOPE_SOURCE_DIR) + "/src/export/perfetto_trace.proto");
  ASSERT_EQ(decoded.error, "");
  std::map<std::string, size_t> want, got;
  for (const auto& e : t.events)
    if (e.value("event", "") == "llama" || e.value("event", "") == "ggml")
      ++want[e.value("call", "")];
  ASSERT_FALSE(want.empty()) << t.describe();
  for (const auto& e : decoded.events)
    if (e.type == "TYPE_SLICE_BEGIN") ++got[e.name];
  for (const auto& [call, n] : want) EXPECT_EQ(got[call], n) << call;
  size_t prompts = 0;
  for (const auto& e : decoded.events)
    if (e.name == "llama_decode" && e.type == "TYPE_SLICE_BEGIN") {
      EXPECT_TRUE(e.args.count("tokens") && e.args.count("phase")) << e.name;
      prompts += e.args.count("phase") && e.args.at("phase") == "prompt";
    }
  EXPECT_GT(prompts, 0u);
}

TEST(LlamaBpf, HumanOutputHasTheLlmTable) {
  LLAMA_REQUIRE();
  RunResult r = run_scope({"--probes", "llama,ggml", "--", node_binary(), kLlamaDir + "/runner.mjs",
                           kModel, "--tokens", "4"},
                          180);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("llama_decode"), std::string::npos);
  EXPECT_NE(r.out.find(" prompt "), std::string::npos);
  EXPECT_NE(r.out.find(" generation "), std::string::npos);
  EXPECT_NE(r.out.find("ggml_backend_sched_graph_compute_async"), std::string::npos);
  EXPECT_NE(r.out.find("LLM processes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("GEN tok/s"), std::string::npos);
  EXPECT_NE(r.out.find("attached 10 probes to " + kPrebuilt + "/libllama"), std::string::npos)
      << r.out;
}

// A server already running (as Ollama's runner would be): its libraries are
// found from its maps, wherever npm put them, and attached without a restart.
TEST(LlamaBpf, AttachesToARunningProcess) {
  LLAMA_REQUIRE();
  Process runner;
  ASSERT_TRUE(runner.start(
      {node_binary(), kLlamaDir + "/runner.mjs", kModel, "--tokens", "100", "--repeat", "1000"}));
  // Past node's start and the model load: the first context exists.
  usleep(4000 * 1000);
  Trace t = trace({"--json", "--probes", "llama,ggml", "--pid", std::to_string(runner.pid()),
                   "--duration", "2"},
                  60);
  runner.signal(SIGKILL);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  auto decodes = family_events(t, "llama", "decode");
  ASSERT_FALSE(decodes.empty()) << t.describe();
  size_t prompts = 0, generation = 0;
  for (const auto& e : decodes) {
    EXPECT_EQ(e["pid"], runner.pid());
    if (e["phase"] == "prompt") {
      ++prompts;
      EXPECT_EQ(e["tokens"], 37) << e.dump();  // each request's prompt, in one batch
    } else {
      ++generation;
      EXPECT_EQ(e["tokens"], 1);
    }
  }
  EXPECT_GT(prompts, 0u);  // requests started after scope attached
  EXPECT_GT(generation, 0u);
  EXPECT_GT(family_events(t, "ggml", "graph").size(), 0u);
  bool llama = false, ggml_base = false;
  for (const auto& lib : t.summary.at("llama").at("libraries"))
    llama |= lib["path"].get<std::string>().rfind(kPrebuilt + "/libllama", 0) == 0;
  for (const auto& lib : t.summary.at("ggml").at("libraries"))
    ggml_base |= lib["path"] == kPrebuilt + "/libggml-base.so";
  EXPECT_TRUE(llama && ggml_base) << t.describe();
}

// ggml_alloc's report: {"leaked": [{ptr, bytes}], "pid"}.
std::map<std::string, uint64_t> leaked_of(const nlohmann::json& report) {
  std::map<std::string, uint64_t> out;
  for (const auto& l : report["leaked"]) out[l["ptr"].get<std::string>()] = l["bytes"];
  return out;
}

std::map<std::string, uint64_t> leaks_in_summary(const Trace& t, uint32_t pid) {
  std::map<std::string, uint64_t> out;
  for (const auto& l : t.summary.at("ggml").at("leaks")) {
    if (l["pid"] != pid) continue;
    EXPECT_EQ(l["reason"], "exit") << l.dump();
    out[l["ptr"].get<std::string>()] = l["bytes"];
  }
  return out;
}

TEST(LlamaBpf, LeakingProgramIsReported) {
  LLAMA_REQUIRE();
  Trace t = trace({"--json", "--probes", "ggml", "--", kBin + "/ggml_alloc",
                   kPrebuilt + "/libggml-base.so", "--allocs", "6", "--leak", "2"},
                  60);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  nlohmann::json report = program_report(t);
  ASSERT_TRUE(report.is_object()) << t.describe();
  auto want = leaked_of(report);
  ASSERT_EQ(want.size(), 2u);
  EXPECT_EQ(leaks_in_summary(t, report["pid"]), want) << t.describe();
  EXPECT_EQ(family_events(t, "ggml", "alloc").size(), 6u);
  EXPECT_EQ(family_events(t, "ggml", "free").size(), 4u);
}

TEST(LlamaBpf, NoGgmlLibraryIsAClearMessage) {
  LLAMA_REQUIRE();
  Trace t = trace({"--json", "--probes", "llama,ggml", "--", kBin + "/nocuda"}, 30);
  EXPECT_EQ(t.run.status, 0) << t.describe();
  EXPECT_NE(t.run.err.find("loaded no ggml library, no llama library"), std::string::npos)
      << t.run.err;
  EXPECT_EQ(t.summary.at("ggml").at("libraries").size(), 0u);
  EXPECT_EQ(t.summary.at("llama").at("decode_calls"), 0);
}

TEST(LlamaBpf, StrippedCopyIsProbedThroughItsDynamicSymbols) {
  LLAMA_REQUIRE();
  const std::string lib = kLlamaDir + "/stripped/libggml-base.so";
  Trace t = trace({"--json", "--probes", "ggml", "--", kBin + "/ggml_alloc", lib, "--allocs", "3",
                   "--leak", "1"},
                  60);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  nlohmann::json report = program_report(t);
  ASSERT_TRUE(report.is_object()) << t.describe();
  EXPECT_EQ(leaks_in_summary(t, report["pid"]), leaked_of(report)) << t.describe();
  const auto& libs = t.summary.at("ggml").at("libraries");
  ASSERT_EQ(libs.size(), 1u) << libs.dump();
  EXPECT_EQ(libs[0]["path"], lib);
}

TEST(LlamaBpf, RenamedSymbolsAreReportedNotGuessed) {
  LLAMA_REQUIRE();
  const std::string lib = std::string(SCOPE_TESTDATA_DIR) + "/llama-renamed/libggml-base.so";
  Trace t = trace({"--json", "--probes", "ggml", "--", kBin + "/ggml_alloc", lib, "--malloc",
                   "ggml_aligned_malloc_v2", "--free", "ggml_aligned_free_v2", "--leak", "1"},
                  60);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  const auto& ggml = t.summary.at("ggml");
  EXPECT_EQ(family_events(t, "ggml").size(), 0u);
  ASSERT_EQ(ggml["problems"].size(), 1u) << ggml.dump();
  std::string problem = ggml["problems"][0];
  EXPECT_NE(problem.find(lib), std::string::npos) << problem;
  EXPECT_NE(problem.find("none of the ggml functions scope probes"), std::string::npos) << problem;
  bool malloc_missing = false;
  for (const auto& s : ggml["not_found"]) malloc_missing |= s == "ggml_aligned_malloc";
  EXPECT_TRUE(malloc_missing) << ggml.dump();
}

}  // namespace
}  // namespace scope::bpftest
