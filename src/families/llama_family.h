// The llama family's decoding, formatting and accounting (bpf/shared/llama.h
// records): plain code, unit tested without privileges.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "bpf/shared/llama.h"
#include "discover/elf_file.h"
#include "event/row.h"
#include "families/ggml_family.h"
#include "families/library_probes.h"

namespace scope::families::llama {

// "llama_decode", ... (or "call#N").
std::string call_name(uint16_t call);
// "decode" | "encode" | "model_load" | "context_create" | "context_free" | "model_free".
std::string op_name(uint8_t op);

// Every probed symbol of `elf` (programs index 0: entry + return).
std::vector<LibrarySymbol> match_symbols(const discover::ElfFile& elf);
std::vector<std::string> expected_symbols();

// A ring-buffer record (short, or with the model path), or nothing when too short.
std::optional<llama_event> decode(const void* data, size_t size);

// Prompt processing or generation. The rule, per context (llama_context *):
// a decode of more than one token is prompt; a one-token decode is prompt
// when it is the first decode of a context whose creation scope saw, and
// generation otherwise. A request is a run of prompt decodes followed by
// generation; its time to first token is from the start of its first prompt
// decode to the end of its last (when the first token's logits are ready).
enum class Phase { kNone, kPrompt, kGeneration };
const char* phase_name(Phase phase);

// Its llama_events row; ts_ns made Unix time.
event::EventRow row(const llama_event& e, Phase phase, int64_t mono_to_unix_ns);
std::string human_line(const llama_event& e, Phase phase, uint64_t first_ts_ns);

// Nearest-rank percentile (p in 0..100) of `v`, 0 when empty. Sorts `v`.
uint64_t percentile(std::vector<uint64_t>& v, double p);

struct ProcessStats {
  std::string comm;
  uint64_t prompt_tokens = 0, prompt_ns = 0, prompt_decodes = 0;
  uint64_t generated_tokens = 0, generation_ns = 0, generation_decodes = 0;
  uint64_t encodes = 0, encode_tokens = 0, encode_ns = 0;
  uint64_t failed_decodes = 0;  // llama_decode/encode returned non-zero
  std::vector<uint64_t> decode_ns;
  std::vector<uint64_t> ttft_ns;
  uint64_t first_ns = 0, last_ns = 0;  // span of its decodes (monotonic)
  struct ModelLoad {
    std::string path;
    uint64_t duration_ns = 0;
    bool ok = false;
  };
  std::vector<ModelLoad> loads;
  struct Context {
    uint32_t n_ctx = 0, n_batch = 0, n_ubatch = 0, n_seq_max = 0;
    uint64_t duration_ns = 0;
  };
  std::vector<Context> contexts;

  struct ContextState {
    bool created_seen = false;
    uint64_t decodes = 0;
    bool in_prompt = false;
    uint64_t prompt_start_ns = 0, prompt_end_ns = 0;
  };
  std::unordered_map<uint64_t, ContextState> live_contexts;
};

class LlamaStats {
 public:
  // Accounts one call; for a decode, returns its phase.
  Phase add(const llama_event& e);
  const std::map<uint32_t, ProcessStats>& processes() const { return procs_; }
  uint64_t decode_calls() const;
  // {decode_calls, encode_calls, prompt_tokens, generated_tokens,
  //  tokens_per_s: {prompt, generation}, processes: [...]}
  nlohmann::json json() const;
  void print(std::FILE* out) const;

 private:
  std::map<uint32_t, ProcessStats> procs_;
};

}  // namespace scope::families::llama

namespace scope::families {
// The per-process LLM table: tokens/s (prompt, generation), decode p50/p99,
// time to first token, graph compute share of the decoding span, live ggml
// bytes. Either side may be null.
void print_llm_table(std::FILE* out, const llama::LlamaStats* llama, const ggml::GgmlStats* ggml);
}  // namespace scope::families
