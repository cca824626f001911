// A rollup both stores keep beside cuda_events, in the same transaction as the
// batch: launches and their summed duration per minute, node, pid and kernel.
// "Top kernels in a window" reads a few rows per minute instead of every
// launch (a 5-minute window of a busy host is ~10^6 launches).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "event/batch.h"

namespace scope::store {

inline constexpr const char* kKernelMinutesTable = "cuda_kernel_minutes";
inline constexpr int64_t kMinuteNs = 60'000'000'000;

struct KernelMinute {
  int64_t minute_ns = 0;  // ts_ns rounded down to the minute
  int64_t pid = 0;
  std::string kernel;  // "" for a launch whose name is not known
  int64_t launches = 0;
  int64_t total_ns =
      0;  // the kernel's runs on the GPU (gpu_kernel rows, CUPTI) and launch durations
};

// The batch's launches, aggregated.
std::vector<KernelMinute> kernel_minutes(const event::Batch& batch);

// The upsert of one row: parameters minute_ns, node, pid, kernel, launches, total_ns
// as ?1..?6 (SQLite) or $1..$6 (PostgreSQL, `dollar` true).
std::string kernel_minutes_upsert(bool dollar);

// Rollups per 5-second slot that both stores keep beside the raw tables, in the batch's
// transaction: one row per batch, slot, node, pid, comm and the rollup's keys, holding the
// aggregates of the batch's matching events (count, sum or max, NULL where SQL's would be:
// a sum of no non-NULL values is NULL). A query sums (or maxes) them again, which gives exactly
// what the raw rows give; whole slots of a window come from here, its partial edges from the
// raw rows. 5 s divides every series step of a window of 5 minutes or more
// (server/queries.h), so a bucket is whole slots. A redelivered batch is refused before its
// rows are written (scope_batches), so its slots are not counted twice.
inline constexpr int64_t kSlotNs = 5'000'000'000;
// The slot rollup tables and their fill from the rows already stored: the same SQL is SQLite's
// migration 4 and PostgreSQL's migration 5 (frozen with them).
extern const std::string_view kSlotRollupsMigration;

// cuda/syncs' histogram of stalls, in decades: < 1 µs, < 10 µs, ... < 1 s, and the rest.
inline constexpr int64_t kStallBounds[] = {1'000,      10'000,      100'000,      1'000'000,
                                           10'000'000, 100'000'000, 1'000'000'000};
inline constexpr int64_t kStallBuckets = 8;
int64_t stall_bucket(int64_t duration_ns);

enum class Agg { kCount, kSum, kMax, kMin };

struct SlotRow;

struct SlotRollup {
  const char* table;
  const char* family;
  std::vector<const char*> keys;  // columns after slot_ns, node, pid, comm
  std::vector<std::pair<const char*, Agg>> values;
  // Whether the event counts; its keys; its contribution to each value (ignored for kCount).
  bool (*keep)(const event::EventRow&);
  std::vector<event::Value> (*key)(const event::EventRow&);
  std::vector<event::Value> (*value)(const event::EventRow&);
  // Where set, the batch's rows come from here instead (keep, key and value unused).
  std::vector<SlotRow> (*rows)(const event::Batch&) = nullptr;
};

// cuda/top-kernels and launch-rate (the edges of the minutes), cuda/copies, cuda/syncs,
// host/syscalls, host/sched, llm/tokens, llm/decode (decode_slots, graph_slots).
const SlotRollup& launch_slots();
const SlotRollup& copy_slots();
const SlotRollup& sync_slots();
const SlotRollup& syscall_slots();
const SlotRollup& sched_slots();
const SlotRollup& token_slots();
const SlotRollup& decode_slots();
const SlotRollup& graph_slots();
const std::vector<const SlotRollup*>& slot_rollups();

struct SlotRow {
  int64_t slot_ns = 0;
  int64_t pid = 0;
  std::string comm;
  std::vector<event::Value> keys;
  std::vector<event::Value> values;
};

// The batch's rows of rollup `r`, in key order.
std::vector<SlotRow> slot_rows(const SlotRollup& r, const event::Batch& batch);

// The INSERT of `rows` rows: each slot_ns, node, pid, comm, keys..., values... as ?N (SQLite)
// or $N (PostgreSQL, `dollar` true).
std::string slot_insert(const SlotRollup& r, size_t rows, bool dollar);

// Memory in use (cuda/memory, llm/memory), kept beside the raw tables in the batch's
// transaction. `table` holds one row per allocation or free the query counts (an `op` of
// `alloc_ops` or `free_ops`, a non-zero ptr, ret 0 or NULL, ts_ns >= 0): is_alloc, bytes (an
// allocation's, 0 for a free), and what the replay of the process's rows in (ts_ns, seq) order
// gives: `level`, the bytes in use after the row, `live`, the allocations live after it, and for
// an allocation end_ns/end_seq, the next row on the same (node, pid, ptr) (a free, or an
// allocation that replaces it), NULL while it is live. `slots` holds per node, pid and 5-second
// slot the largest level after a row of the slot and the level after its last row. A batch's rows
// are inserted, then the derived columns of each of its processes are recomputed from its earliest
// row on (memory_update): a batch that arrives late (a row before rows already stored) is replayed
// exactly too.
struct MemoryRollup {
  const char* table;
  const char* slots;
  const char* procs;  // node, pid and first_ns (the earliest ts_ns) of each process in `table`
  const char* family;
  const char* events;     // the raw table
  const char* alloc_ops;  // SQL lists of op values
  const char* free_ops;
  std::vector<std::string_view> allocs;  // the same values
  std::vector<std::string_view> frees;
};
const MemoryRollup& cuda_memory();
const MemoryRollup& ggml_memory();
const std::vector<const MemoryRollup*>& memory_rollups();

struct MemoryRow {
  int64_t pid = 0, seq = 0, ts_ns = 0, ptr = 0, is_alloc = 0, bytes = 0;
  std::string comm;
};
// The batch's rows of `m`, in batch order.
std::vector<MemoryRow> memory_rows(const MemoryRollup& m, const event::Batch& batch);
// The INSERT of `rows` rows: each node, pid, seq, ts_ns, ptr, is_alloc, bytes, comm.
std::string memory_insert(const MemoryRollup& m, size_t rows, bool dollar);
// After the insert, per process of the batch: these statements in order, each with the
// parameters node, pid and then the process's earliest ts_ns in the batch (`slot` false) or
// that rounded down to its slot (`slot` true).
struct MemoryStep {
  std::string sql;
  bool slot;
};
std::vector<MemoryStep> memory_update(const MemoryRollup& m, bool dollar);
// The memory tables and their fill from the rows already stored: SQLite's migration 5 and
// PostgreSQL's migration 6 (frozen with them).
const std::string& memory_migration();
// Retention: the memory rows before `cutoff_ns` deleted, and what the remaining rows give
// recomputed (the replay of the rows still stored, as the raw rows' replay was).
std::string memory_retention_sql(const MemoryRollup& m, int64_t cutoff_ns);
// host/opens' rollups, kept beside open_events in the batch's transaction and merged across
// batches (an UPSERT adds a batch's counts to its bucket's row): opens and errors (ret < 0) per
// bucket of each width below, node and the rollup's keys. A busy host opens the same few
// thousand files again and again, so a bucket holds one row per key however many opens it had,
// and a window is its coarsest whole buckets, then finer ones toward its edges, then the raw rows
// of the partial 5-second slots at either end: the same counts as the raw rows of the window.
struct OpenRollup {
  const char* table;
  std::vector<const char*> keys;  // columns after width_ns, bucket_ns, node
  // Ascending, each a multiple of the one before, the first kSlotNs.
  std::vector<int64_t> widths;
};
// Top comms (keys pid, comm), top paths without a pid or comm filter (path; 5 s, 20 s, 1 min and
// 10 min), and top paths with one (pid, comm, path; 5 s, 1 min and 10 min: the largest, and not
// read by the default view).
const OpenRollup& open_comm_rollup();
const OpenRollup& open_path_rollup();
const OpenRollup& open_proc_path_rollup();
const std::vector<const OpenRollup*>& open_rollups();

struct OpenRow {
  int64_t width_ns = 0;
  int64_t bucket_ns = 0;
  std::vector<event::Value> keys;  // pid as an integer, comm and path as text ('' for none)
  int64_t opens = 0;
  int64_t errors = 0;
};

// The batch's rows of rollup `r` for every width, one per width, bucket and key; comm and path
// as `text` has them where given (PostgreSQL's text: keys that it makes equal are one row).
std::vector<OpenRow> open_rows(const OpenRollup& r, const event::Batch& batch,
                               std::string (*text)(std::string_view) = nullptr);

// The UPSERT of `rows` rows: each width_ns, bucket_ns, node, keys..., opens, errors as ?N
// (SQLite) or $N (PostgreSQL, `dollar` true), added to the row already there.
std::string open_upsert(const OpenRollup& r, size_t rows, bool dollar);

// PostgreSQL's UPSERT of a batch's rows of `r` in one statement: each column's values as one
// array parameter ($1 width_ns, $2 bucket_ns, $3 node, the keys, opens, errors; bigint[] or
// text[] in array syntax, open_array below), unnested: one plan for any number of rows instead of
// a parameter per value.
std::string open_upsert_arrays(const OpenRollup& r);
// The array literal of `values` (integers, or text quoted and escaped).
std::string open_array(const std::vector<event::Value>& values);

// The open rollup tables and their fill from the rows already stored (SQLite's tables are
// WITHOUT ROWID: clustered by bucket, a window's buckets are one range).
extern const std::string_view kOpenRollupsMigrationSqlite;
extern const std::string_view kOpenRollupsMigrationPostgres;
// llm/decode's latency histogram (llama_decode_slots: decodes, max_ns, first_ns = the first
// decode's start, last_ns = the last decode's end, per bucket): durations below 128 ns are their
// own bucket; above, a bucket is a power of two split in 64 equal parts, so its width is at most
// 1/64 of its lower bound. decode_bucket_value, the bucket's middle, is within 1/128 (0.79 %)
// of every duration in it. A NULL duration counts as 0 (as the raw rows' answer did).
int64_t decode_bucket(int64_t duration_ns);
int64_t decode_bucket_value(int64_t bucket);
// decode_bucket of the SQL integer expression `d` (the migration's fill).
std::string decode_bucket_sql(std::string_view d);
// llm/decode's rollups and their fill from the rows already stored: SQLite's migration 5 and
// PostgreSQL's migration 6. Frozen with them, decode_bucket and decode_bucket_sql included (the
// stored buckets are theirs). llama_decode_run_slots holds the runs of a context's (node, pid,
// ctx) prompt or generation decodes of one phase and comm, per batch and slot in (ts_ns, seq)
// order: start_ns and start_seq of the first decode, end_ns the end of the last; a generation
// run right after a prompt run of the same comm is no row but the prompt run's ender_ns. The
// reader merges the runs of all batches, so a request's prompt may span batches and slots.
// ggml_graph_slots: graph computes and their summed duration.
const std::string& decode_rollups_migration();

// llm/decode's requests (time to first token): `llama_requests` holds one row per run of a
// context's (node, pid, ctx) prompt decodes that a generation decode ended, in (ts_ns, seq)
// order: start_ns the first prompt decode's start, first_token_ns/_seq the generation decode's,
// ttft_ns the end of the last prompt decode less start_ns, comm the generation decode's. Kept in
// the batch's transaction: after the raw rows, per context of the batch (request_contexts), the
// requests after the context's last generation decode before the batch's earliest decode are
// deleted and recomputed from the raw rows (request_update), so a late batch is exact too and an
// in-order one reads only its own decodes and the prompt decodes just before them.
// `llama_ttft_minutes` counts them per minute of their first token, node, pid, comm and
// decode_bucket of ttft_ns (requests, min_ns, max_ns), recounted for the process from the minute of
// the changes on.
struct RequestContext {
  int64_t pid = 0, ctx = 0, ts_ns = 0, seq = 0;  // the context's earliest decode in the batch
};
std::vector<RequestContext> request_contexts(const event::Batch& batch);
// The statements, each with the parameters node, pid, ctx, ts_ns, seq.
std::vector<std::string> request_update(bool dollar);
// The requests tables, the raw decodes' index the update reads, the fill from the rows already
// stored, and llama_decode_run_slots (what the reader assembled requests from) dropped: SQLite's
// migration 9 and PostgreSQL's 10 (frozen with them).
const std::string& requests_migration();

// Retention of the store's own tables (both stores): the dedupe rows of
// batches ingested before `cutoff_ns` and the rollups' whole minutes and slots before it.
std::string bookkeeping_retention_sql(int64_t cutoff_ns);

}  // namespace scope::store
