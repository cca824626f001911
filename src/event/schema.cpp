#include "event/schema.h"

#include <cstdio>
#include <cstdlib>

namespace scope::event {

namespace {

constexpr ColumnType I = ColumnType::kInt;
constexpr ColumnType T = ColumnType::kText;
constexpr Show kHex = Show::kHex;
constexpr Show kBool = Show::kBool;
constexpr Show kJson = Show::kJson;

std::vector<FamilySchema> make_schemas() {
  // Ids are part of the batch format: append, never renumber. Columns are appended too, each
  // with a migration (store/sqlite/migrations.cpp, store/postgres/migrations.cpp): schema
  // version 3 added those after the "v3" comments; those after "v4" came with SQLite's step 8 and
  // PostgreSQL's step 9, those after "v5" with SQLite's step 10 and PostgreSQL's step 11.
  return {
      {0,
       "cuda",
       "cuda_events",
       {{"call", T},
        {"op", T},
        {"ret", I},
        {"duration_ns", I},
        {"kernel", T},
        {"grid", T, kJson},
        {"block", T, kJson},
        {"shared_mem", I},
        {"stream", I, kHex},
        {"handle", I, kHex},
        {"ptr", I, kHex},
        {"bytes", I},
        {"kind", T},
        {"mem", T},
        {"async", I, kBool},
        // v4: where a launch's kernel lives, when its host stub named it: the stub's ELF file
        // (as the process sees it) and its symbol's value there (st_value, as `nm` shows it).
        {"kernel_file", T},
        {"kernel_offset", I, kHex},
        // v5: what the GPU did (op gpu_kernel/gpu_memcpy, from CUPTI): from the launch call's
        // start to the GPU start, and CUPTI's id joining the GPU record to its call.
        {"queue_ns", I},
        {"correlation_id", I}}},
      {1,
       "exec",
       "exec_events",
       {{"call", T},  // execve, execveat, or exit
        {"ppid", I},
        {"uid", I},
        {"filename", T},
        {"argv", T, kJson},  // JSON array
        {"argv_truncated", I, kBool},
        {"ret", I},
        {"duration_ns", I},
        {"exit_code", I},
        {"lifetime_ns", I},
        // v3
        {"dirfd", I},
        {"filename_truncated", I, kBool},
        {"argv_fault", I, kBool},
        {"filename_fault", I, kBool},
        {"signal", I},
        {"core_dumped", I, kBool}}},
      {2,
       "open",
       "open_events",
       {{"call", T},
        {"path", T},
        {"flags", I},
        {"ret", I},
        // v3
        {"path_truncated", I, kBool},
        {"path_unresolved", I, kBool}}},
      {3,
       "net",
       "net_events",
       {{"op", T},
        {"family", T},
        {"saddr", T},
        {"daddr", T},
        {"sport", I},
        {"dport", I},
        {"error", I, kBool},
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
        {"path", T},
        // v3
        {"op", T},
        {"ctx", I, kHex},
        {"model", I, kHex},
        {"ok", I, kBool},
        {"n_ubatch", I},
        {"n_seq_max", I}}},
      {7,
       "ggml",
       "ggml_events",
       {{"call", T},
        {"duration_ns", I},
        {"nodes", I},
        {"bytes", I},
        {"ptr", I, kHex},
        {"backend", T},
        // v3
        {"op", T},
        {"graph", I, kHex},
        {"nested_calls", I},
        {"ret", I}}},
  };
}

}  // namespace

int FamilySchema::column_index(std::string_view name) const {
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i].name == name) return static_cast<int>(i);
  return -1;
}

size_t FamilySchema::column(std::string_view name) const {
  int i = column_index(name);
  if (i < 0) {
    std::fprintf(stderr, "scope: internal: %.*s has no column %.*s\n",
                 static_cast<int>(table.size()), table.data(), static_cast<int>(name.size()),
                 name.data());
    std::abort();
  }
  return static_cast<size_t>(i);
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
