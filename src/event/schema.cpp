#include "event/schema.h"

namespace scope::event {

namespace {

constexpr ColumnType I = ColumnType::kInt;
constexpr ColumnType T = ColumnType::kText;

std::vector<FamilySchema> make_schemas() {
  // Ids are part of the batch format: append, never renumber.
  return {
      {0,
       "cuda",
       "cuda_events",
       {{"call", T},
        {"op", T},
        {"ret", I},
        {"duration_ns", I},
        {"kernel", T},
        {"grid", T},
        {"block", T},
        {"shared_mem", I},
        {"stream", I},
        {"handle", I},
        {"ptr", I},
        {"bytes", I},
        {"kind", T},
        {"mem", T},
        {"async", I}}},
      {1,
       "exec",
       "exec_events",
       {{"call", T},  // execve, execveat, or exit
        {"ppid", I},
        {"uid", I},
        {"filename", T},
        {"argv", T},  // JSON array
        {"argv_truncated", I},
        {"ret", I},
        {"duration_ns", I},
        {"exit_code", I},
        {"lifetime_ns", I}}},
      {2, "open", "open_events", {{"call", T}, {"path", T}, {"flags", I}, {"ret", I}}},
      {3,
       "net",
       "net_events",
       {{"op", T},
        {"family", T},
        {"saddr", T},
        {"daddr", T},
        {"sport", I},
        {"dport", I},
        {"error", I},
        {"handshake_ns", I},
        {"duration_ns", I},
        {"rx_bytes", I},
        {"tx_bytes", I}}},
      // Aggregated in the kernel: one row per thread and syscall per interval.
      {4,
       "syscalls",
       "syscalls_events",
       {{"name", T}, {"count", I}, {"errors", I}, {"total_ns", I}}},
      {5,
       "sched",
       "sched_events",
       {{"switches", I}, {"voluntary", I}, {"involuntary", I}, {"offcpu_ns", I}, {"runq_ns", I}}},
      {6,
       "llama",
       "llama_events",
       {{"call", T},
        {"duration_ns", I},
        {"ret", I},
        {"tokens", I},
        {"phase", T},
        {"n_ctx", I},
        {"n_batch", I},
        {"path", T}}},
      {7,
       "ggml",
       "ggml_events",
       {{"call", T}, {"duration_ns", I}, {"nodes", I}, {"bytes", I}, {"ptr", I}, {"backend", T}}},
  };
}

}  // namespace

int FamilySchema::column_index(std::string_view name) const {
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i].name == name) return static_cast<int>(i);
  return -1;
}

const std::vector<FamilySchema>& schemas() {
  static const std::vector<FamilySchema> all = make_schemas();
  return all;
}

const FamilySchema* schema_for(std::string_view name) {
  if (name == "exit") name = "exec";
  for (const auto& s : schemas())
    if (s.family == name) return &s;
  return nullptr;
}

}  // namespace scope::event
