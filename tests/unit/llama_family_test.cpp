// The llama and ggml families' plain code: decoding, the prompt/generation
// rule, time to first token, percentiles, leak accounting, the LLM table and
// symbol matching.
#include "families/llama_family.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "families/ggml_family.h"
#include "families/library_probes.h"

namespace scope::families {
namespace {

llama_event decode_ev(uint32_t pid, uint64_t ctx, int32_t tokens, uint64_t ts, uint64_t dur,
                      int64_t ret = 0) {
  llama_event e{};
  e.pid = pid;
  e.tid = pid;
  e.call = LLAMA_CALL_llama_decode;
  e.op = LLAMA_OP_DECODE;
  e.handle = ctx;
  e.n_tokens = tokens;
  e.ts_ns = ts;
  e.duration_ns = dur;
  e.ret = ret;
  std::strcpy(e.comm, "runner");
  return e;
}

llama_event create_ev(uint32_t pid, uint64_t ctx) {
  llama_event e{};
  e.pid = pid;
  e.call = LLAMA_CALL_llama_init_from_model;
  e.op = LLAMA_OP_CONTEXT_CREATE;
  e.handle = ctx;
  e.n_ctx = 4096;
  e.n_batch = 512;
  return e;
}

TEST(LlamaFamily, PromptAndGenerationRule) {
  llama::LlamaStats s;
  // A context scope saw created: its first decode is the prompt, even of one token.
  s.add(create_ev(1, 0xc1));
  EXPECT_EQ(s.add(decode_ev(1, 0xc1, 1, 100, 10)), llama::Phase::kPrompt);
  EXPECT_EQ(s.add(decode_ev(1, 0xc1, 1, 200, 10)), llama::Phase::kGeneration);
  // More than one token is a prompt (a new request on the same context).
  EXPECT_EQ(s.add(decode_ev(1, 0xc1, 8, 300, 50)), llama::Phase::kPrompt);
  EXPECT_EQ(s.add(decode_ev(1, 0xc1, 1, 400, 10)), llama::Phase::kGeneration);
  // A context created before scope attached: one token is generation.
  EXPECT_EQ(s.add(decode_ev(1, 0xc2, 1, 500, 10)), llama::Phase::kGeneration);
  const auto& p = s.processes().at(1);
  EXPECT_EQ(p.prompt_decodes, 2u);
  EXPECT_EQ(p.prompt_tokens, 9u);
  EXPECT_EQ(p.generation_decodes, 3u);
  EXPECT_EQ(p.generated_tokens, 3u);
  EXPECT_EQ(s.decode_calls(), 5u);
}

TEST(LlamaFamily, TimeToFirstTokenPerRequest) {
  llama::LlamaStats s;
  s.add(create_ev(7, 0xc));
  // Request 1: prompt in two batches (100..150, 160..200), then generation.
  s.add(decode_ev(7, 0xc, 32, 100, 50));
  s.add(decode_ev(7, 0xc, 5, 160, 40));
  s.add(decode_ev(7, 0xc, 1, 210, 5));
  s.add(decode_ev(7, 0xc, 1, 220, 5));
  // Request 2: one prompt batch 300..330.
  s.add(decode_ev(7, 0xc, 12, 300, 30));
  s.add(decode_ev(7, 0xc, 1, 340, 5));
  // A prompt never followed by generation is no finished request.
  s.add(decode_ev(7, 0xc, 12, 400, 30));
  const auto& p = s.processes().at(7);
  ASSERT_EQ(p.ttft_ns.size(), 2u);
  EXPECT_EQ(p.ttft_ns[0], 100u);
  EXPECT_EQ(p.ttft_ns[1], 30u);
  auto j = s.json();
  EXPECT_EQ(j["processes"][0]["requests"], 2);
  EXPECT_EQ(j["decode_calls"], 7);
  EXPECT_EQ(j["prompt_tokens"], 32 + 5 + 12 + 12);
  EXPECT_EQ(j["generation_tokens"], 3);
  // 61 prompt tokens in 150 ns of prompt decodes.
  EXPECT_NEAR(j["tokens_per_s"]["prompt"].get<double>(), 61 * 1e9 / 150, 1);
}

TEST(LlamaFamily, FailedDecodesCountNoTokens) {
  llama::LlamaStats s;
  s.add(decode_ev(2, 0xa, 16, 100, 10, /*ret=*/1));  // no KV slot
  const auto& p = s.processes().at(2);
  EXPECT_EQ(p.failed_decodes, 1u);
  EXPECT_EQ(p.prompt_tokens, 0u);
  EXPECT_EQ(p.prompt_decodes, 1u);
}

TEST(LlamaFamily, Percentile) {
  std::vector<uint64_t> v;
  EXPECT_EQ(llama::percentile(v, 50), 0u);
  for (uint64_t i = 1; i <= 100; ++i) v.push_back(101 - i);
  EXPECT_EQ(llama::percentile(v, 50), 50u);
  EXPECT_EQ(llama::percentile(v, 99), 99u);
  EXPECT_EQ(llama::percentile(v, 100), 100u);
  std::vector<uint64_t> one = {7};
  EXPECT_EQ(llama::percentile(one, 99), 7u);
}

TEST(LlamaFamily, DecodesShortAndLongRecords) {
  llama_event e = decode_ev(3, 0xabc, 4, 1000, 20);
  EXPECT_FALSE(llama::decode(&e, LLAMA_EVENT_SHORT - 1));
  auto d = llama::decode(&e, LLAMA_EVENT_SHORT);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->n_tokens, 4);
  EXPECT_EQ(d->path[0], 0);
  llama_event load{};
  load.op = LLAMA_OP_MODEL_LOAD;
  load.call = LLAMA_CALL_llama_model_load_from_file;
  std::strcpy(load.path, "/models/tiny.gguf");
  load.handle = 0x1234;
  auto l = llama::decode(&load, sizeof load);
  ASSERT_TRUE(l);
  auto j = event::row_json(llama::row(*l, llama::Phase::kNone, 0));
  EXPECT_EQ(j["event"], "llama");
  EXPECT_EQ(j["call"], "llama_model_load_from_file");
  EXPECT_EQ(j["op"], "model_load");
  EXPECT_EQ(j["path"], "/models/tiny.gguf");
  EXPECT_EQ(j["ok"], true);
}

TEST(LlamaFamily, EventJsonAndHumanLine) {
  llama_event e = decode_ev(5, 0xfeed, 37, 2'000'000'000, 1'500'000);
  auto j = event::row_json(llama::row(e, llama::Phase::kPrompt, 1000));
  EXPECT_EQ(j["call"], "llama_decode");
  EXPECT_EQ(j["op"], "decode");
  EXPECT_EQ(j["tokens"], 37);
  EXPECT_EQ(j["phase"], "prompt");
  EXPECT_EQ(j["duration_ns"], 1'500'000);
  EXPECT_EQ(j["ts_ns"], 2'000'001'000);
  EXPECT_EQ(j["ctx"], "0xfeed");
  std::string line = llama::human_line(e, llama::Phase::kPrompt, 1'000'000'000);
  EXPECT_NE(line.find("1.000000 runner[5/5]"), std::string::npos) << line;
  EXPECT_NE(line.find("prompt     tokens=37 1.50ms"), std::string::npos) << line;
  llama_event c = create_ev(5, 0x77);
  auto cj = event::row_json(llama::row(c, llama::Phase::kNone, 0));
  EXPECT_EQ(cj["n_ctx"], 4096);
  EXPECT_EQ(cj["n_batch"], 512);
}

ggml_event ggml_ev(uint32_t pid, uint8_t kind, uint64_t ptr, uint64_t bytes) {
  ggml_event e{};
  e.pid = pid;
  e.kind = kind;
  e.ptr = ptr;
  e.bytes = bytes;
  std::strcpy(e.comm, "prog");
  return e;
}

TEST(GgmlFamily, LiveBytesAndLeaks) {
  ggml::GgmlStats s;
  s.add(ggml_ev(9, GGML_KIND_ALLOC, 0x1000, 4096), "ggml_aligned_malloc");
  s.add(ggml_ev(9, GGML_KIND_ALLOC, 0x2000, 8192), "ggml_aligned_malloc");
  s.add(ggml_ev(9, GGML_KIND_ALLOC, 0, 1 << 30), "ggml_aligned_malloc");  // failed
  s.add(ggml_ev(9, GGML_KIND_FREE, 0x1000, 4096), "ggml_aligned_free");
  s.add(ggml_ev(9, GGML_KIND_FREE, 0x9000, 64), "ggml_aligned_free");  // before scope attached
  s.add(ggml_ev(9, GGML_KIND_FREE, 0, 0), "ggml_aligned_free");        // free(NULL)
  const auto& p = s.processes().at(9);
  EXPECT_EQ(p.live_bytes, 8192u);
  EXPECT_EQ(p.peak_bytes, 12288u);
  EXPECT_EQ(p.allocs, 2u);
  EXPECT_EQ(p.failed_allocs, 1u);
  EXPECT_EQ(p.frees, 2u);
  EXPECT_EQ(p.unmatched_frees, 1u);
  auto leaks = s.leaks_json();
  ASSERT_EQ(leaks.size(), 1u);
  EXPECT_EQ(leaks[0]["ptr"], "0x2000");
  EXPECT_EQ(leaks[0]["bytes"], 8192);
  EXPECT_EQ(leaks[0]["reason"], "end");
  // The exit may be read before the process's last events.
  s.process_exit(9);
  EXPECT_EQ(s.leaks_json()[0]["reason"], "exit");
}

TEST(GgmlFamily, GraphTotalsAndEvents) {
  ggml::GgmlStats s;
  ggml_event g = ggml_ev(4, GGML_KIND_GRAPH, 0xaaa, 0);
  g.nodes = 68;
  g.ts_ns = 1000;
  g.duration_ns = 500;
  g.flags = GGML_F_HAS_RET;
  s.add(g, "ggml_backend_sched_graph_compute_async");
  g.ts_ns = 2000;
  g.nodes = 70;
  s.add(g, "ggml_backend_sched_graph_compute_async");
  auto j = s.json();
  EXPECT_EQ(j["graph_computes"], 2);
  EXPECT_EQ(j["nodes"], 138);
  EXPECT_EQ(j["by_call"][0]["count"], 2);
  EXPECT_EQ(j["leaks"].size(), 0u);
  auto e = event::row_json(ggml::row(g, "ggml_backend_sched_graph_compute_async", 0));
  EXPECT_EQ(e["event"], "ggml");
  EXPECT_EQ(e["op"], "graph");
  EXPECT_EQ(e["nodes"], 70);
  EXPECT_EQ(e["ret"], 0);
  const auto& p = s.processes().at(4);
  EXPECT_EQ(p.first_ns, 1000u);
  EXPECT_EQ(p.last_ns, 2500u);
}

TEST(GgmlFamily, CudaSymbolsByDemangledName) {
  EXPECT_EQ(ggml::cuda_kind("ggml_cuda_mul_mat_q(ggml_backend_cuda_context&, ggml_tensor const*)"),
            GGML_KIND_CUDA_OP);
  EXPECT_EQ(ggml::cuda_kind("ggml_cuda_op_mul_mat_vec_f(ggml_backend_cuda_context&)"),
            GGML_KIND_CUDA_OP);
  EXPECT_EQ(ggml::cuda_kind("ggml_cuda_cpy(ggml_backend_cuda_context&, ggml_tensor const*)"),
            GGML_KIND_CUDA_OP);
  EXPECT_EQ(ggml::cuda_kind("ggml_cuda_pool_leg::alloc(unsigned long, unsigned long*)"),
            GGML_KIND_CUDA_ALLOC);
  EXPECT_EQ(ggml::cuda_kind("ggml_cuda_pool_vmm::free(void*, unsigned long)"), GGML_KIND_CUDA_FREE);
  EXPECT_EQ(ggml::cuda_kind("ggml_cuda_op_add(ggml_backend_cuda_context&, ggml_tensor*)"),
            GGML_KIND_NONE);
  EXPECT_EQ(ggml::short_name("ggml_cuda_pool_leg::free(void*, unsigned long)"),
            "ggml_cuda_pool_leg::free");
  ggml::CallNames names;
  EXPECT_EQ(names.name(1), "ggml_backend_sched_graph_compute");
  EXPECT_EQ(names.name(7), "ggml_aligned_free");
  uint16_t id = names.cuda_id("ggml_cuda_cpy");
  EXPECT_GE(id, ggml::kFirstCudaCall);
  EXPECT_EQ(names.cuda_id("ggml_cuda_cpy"), id);
  EXPECT_EQ(names.name(id), "ggml_cuda_cpy");
  EXPECT_EQ(names.name(9999), "?");
}

TEST(GgmlFamily, NestedOnlyGraphProbesAreDetachedAfterAWindow) {
  ggml::NestedGraphProbes n;
  ggml_event g = ggml_ev(1, GGML_KIND_GRAPH, 0x1, 0);
  g.call = 2;                        // ggml_backend_sched_graph_compute_async, outermost
  g.nested = (1u << 4) | (1u << 5);  // the backend's and the CPU backend's inside it
  ggml_event direct = g;
  direct.call = 5;  // ggml_graph_compute called directly once
  direct.nested = 0;
  n.add(direct);
  for (uint64_t i = 1; i + 1 < ggml::NestedGraphProbes::kWindow; ++i) n.add(g);
  EXPECT_TRUE(n.to_detach().empty());  // not enough seen yet
  n.add(g);
  auto ids = n.to_detach();
  // Only call 4: call 5 was seen outermost once, so it stays.
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0], 4);
  EXPECT_TRUE(n.to_detach().empty());  // each once
  EXPECT_EQ(n.detached(), 1u << 4);
}

TEST(LibraryProbes, NamedLike) {
  EXPECT_TRUE(named_like("/usr/lib/ollama/libggml-base.so", {"libggml"}));
  EXPECT_TRUE(named_like("libggml-cpu-haswell.so", {"libggml"}));
  EXPECT_FALSE(named_like("/opt/libggml/libc.so.6", {"libggml"}));
  EXPECT_TRUE(named_like("/x/libllama.v0.5.0.so", {"libllama"}));
}

TEST(LlmTable, JoinsLlamaAndGgml) {
  llama::LlamaStats l;
  l.add(create_ev(11, 0xc));
  l.add(decode_ev(11, 0xc, 10, 1000, 1000));
  l.add(decode_ev(11, 0xc, 1, 3000, 1000));  // decoding span 1000..4000
  ggml::GgmlStats g;
  ggml_event ge = ggml_ev(11, GGML_KIND_GRAPH, 0x1, 0);
  ge.nodes = 50;
  ge.ts_ns = 1100;
  ge.duration_ns = 1500;
  g.add(ge, "ggml_graph_compute");
  g.add(ggml_ev(11, GGML_KIND_ALLOC, 0x10, 2048), "ggml_aligned_malloc");
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* f = open_memstream(&buf, &len);
  print_llm_table(f, &l, &g);
  std::fclose(f);
  std::string out(buf, len);
  free(buf);
  EXPECT_NE(out.find("LLM processes"), std::string::npos) << out;
  EXPECT_NE(out.find("runner"), std::string::npos) << out;
  EXPECT_NE(out.find("50.0"), std::string::npos) << out;  // 1500 of 3000 ns
  EXPECT_NE(out.find("2.00 KiB"), std::string::npos) << out;
}

}  // namespace
}  // namespace scope::families
