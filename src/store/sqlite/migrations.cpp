// SQLite's schema, version by version: each step is literal SQL, frozen once released (a step
// is never edited; a change is a new step). event/schema.h lists the columns they make.
#include "store/sqlite/migrations.h"

#include "store/rollup.h"

namespace scope::store {

const std::vector<std::string_view>& sqlite_migrations() {
  static const std::vector<std::string_view> steps = {
      // 1: a table per family, the batches stored (exactly once).
      R"sql(
CREATE TABLE IF NOT EXISTS scope_batches (node TEXT NOT NULL, boot_id TEXT NOT NULL, first_seq INTEGER NOT NULL, events INTEGER NOT NULL, ingested_ns INTEGER NOT NULL, PRIMARY KEY (node, boot_id, first_seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS scope_batches_ingested ON scope_batches (ingested_ns);
CREATE TABLE IF NOT EXISTS cuda_events (ts_ns INTEGER NOT NULL, node TEXT NOT NULL, seq INTEGER NOT NULL, pid INTEGER, tid INTEGER, comm TEXT, call TEXT, op TEXT, ret INTEGER, duration_ns INTEGER, kernel TEXT, grid TEXT, block TEXT, shared_mem INTEGER, stream INTEGER, handle INTEGER, ptr INTEGER, bytes INTEGER, kind TEXT, mem TEXT, async INTEGER);
CREATE INDEX IF NOT EXISTS cuda_events_ts ON cuda_events (ts_ns);
CREATE INDEX IF NOT EXISTS cuda_events_pid_ts ON cuda_events (pid, ts_ns);
CREATE TABLE IF NOT EXISTS exec_events (ts_ns INTEGER NOT NULL, node TEXT NOT NULL, seq INTEGER NOT NULL, pid INTEGER, tid INTEGER, comm TEXT, call TEXT, ppid INTEGER, uid INTEGER, filename TEXT, argv TEXT, argv_truncated INTEGER, ret INTEGER, duration_ns INTEGER, exit_code INTEGER, lifetime_ns INTEGER);
CREATE INDEX IF NOT EXISTS exec_events_ts ON exec_events (ts_ns);
CREATE INDEX IF NOT EXISTS exec_events_pid_ts ON exec_events (pid, ts_ns);
CREATE TABLE IF NOT EXISTS open_events (ts_ns INTEGER NOT NULL, node TEXT NOT NULL, seq INTEGER NOT NULL, pid INTEGER, tid INTEGER, comm TEXT, call TEXT, path TEXT, flags INTEGER, ret INTEGER);
CREATE INDEX IF NOT EXISTS open_events_ts ON open_events (ts_ns);
CREATE INDEX IF NOT EXISTS open_events_pid_ts ON open_events (pid, ts_ns);
CREATE TABLE IF NOT EXISTS net_events (ts_ns INTEGER NOT NULL, node TEXT NOT NULL, seq INTEGER NOT NULL, pid INTEGER, tid INTEGER, comm TEXT, op TEXT, family TEXT, saddr TEXT, daddr TEXT, sport INTEGER, dport INTEGER, error INTEGER, handshake_ns INTEGER, duration_ns INTEGER, rx_bytes INTEGER, tx_bytes INTEGER);
CREATE INDEX IF NOT EXISTS net_events_ts ON net_events (ts_ns);
CREATE INDEX IF NOT EXISTS net_events_pid_ts ON net_events (pid, ts_ns);
CREATE TABLE IF NOT EXISTS syscalls_events (ts_ns INTEGER NOT NULL, node TEXT NOT NULL, seq INTEGER NOT NULL, pid INTEGER, tid INTEGER, comm TEXT, name TEXT, count INTEGER, errors INTEGER, total_ns INTEGER);
CREATE INDEX IF NOT EXISTS syscalls_events_ts ON syscalls_events (ts_ns);
CREATE INDEX IF NOT EXISTS syscalls_events_pid_ts ON syscalls_events (pid, ts_ns);
CREATE TABLE IF NOT EXISTS sched_events (ts_ns INTEGER NOT NULL, node TEXT NOT NULL, seq INTEGER NOT NULL, pid INTEGER, tid INTEGER, comm TEXT, switches INTEGER, voluntary INTEGER, involuntary INTEGER, offcpu_ns INTEGER, runq_ns INTEGER);
CREATE INDEX IF NOT EXISTS sched_events_ts ON sched_events (ts_ns);
CREATE INDEX IF NOT EXISTS sched_events_pid_ts ON sched_events (pid, ts_ns);
CREATE TABLE IF NOT EXISTS llama_events (ts_ns INTEGER NOT NULL, node TEXT NOT NULL, seq INTEGER NOT NULL, pid INTEGER, tid INTEGER, comm TEXT, call TEXT, duration_ns INTEGER, ret INTEGER, tokens INTEGER, phase TEXT, n_ctx INTEGER, n_batch INTEGER, path TEXT);
CREATE INDEX IF NOT EXISTS llama_events_ts ON llama_events (ts_ns);
CREATE INDEX IF NOT EXISTS llama_events_pid_ts ON llama_events (pid, ts_ns);
CREATE TABLE IF NOT EXISTS ggml_events (ts_ns INTEGER NOT NULL, node TEXT NOT NULL, seq INTEGER NOT NULL, pid INTEGER, tid INTEGER, comm TEXT, call TEXT, duration_ns INTEGER, nodes INTEGER, bytes INTEGER, ptr INTEGER, backend TEXT);
CREATE INDEX IF NOT EXISTS ggml_events_ts ON ggml_events (ts_ns);
CREATE INDEX IF NOT EXISTS ggml_events_pid_ts ON ggml_events (pid, ts_ns);
)sql",
      // 2: launches and GPU time per kernel and minute (the "top kernels" queries).
      R"sql(
CREATE TABLE IF NOT EXISTS cuda_kernel_minutes (minute_ns BIGINT NOT NULL, node TEXT NOT NULL, pid BIGINT NOT NULL, kernel TEXT NOT NULL, launches BIGINT NOT NULL, total_ns BIGINT NOT NULL, PRIMARY KEY (minute_ns, node, pid, kernel));
INSERT INTO cuda_kernel_minutes SELECT ts_ns - ts_ns % 60000000000, node, pid, coalesce(kernel, ''), count(*), coalesce(sum(duration_ns), 0) FROM cuda_events WHERE op = 'launch' GROUP BY 1, 2, 3, 4 ON CONFLICT DO NOTHING;
)sql",
      // 3: the event fields that had no column (path_truncated, exec's dirfd and faults, exits'
      // signal, llama's op and handles, ggml's op, graph and nested calls).
      R"sql(
ALTER TABLE exec_events ADD COLUMN dirfd INTEGER;
ALTER TABLE exec_events ADD COLUMN filename_truncated INTEGER;
ALTER TABLE exec_events ADD COLUMN argv_fault INTEGER;
ALTER TABLE exec_events ADD COLUMN filename_fault INTEGER;
ALTER TABLE exec_events ADD COLUMN signal INTEGER;
ALTER TABLE exec_events ADD COLUMN core_dumped INTEGER;
ALTER TABLE open_events ADD COLUMN path_truncated INTEGER;
ALTER TABLE open_events ADD COLUMN path_unresolved INTEGER;
ALTER TABLE llama_events ADD COLUMN op TEXT;
ALTER TABLE llama_events ADD COLUMN ctx INTEGER;
ALTER TABLE llama_events ADD COLUMN model INTEGER;
ALTER TABLE llama_events ADD COLUMN ok INTEGER;
ALTER TABLE llama_events ADD COLUMN n_ubatch INTEGER;
ALTER TABLE llama_events ADD COLUMN n_seq_max INTEGER;
ALTER TABLE ggml_events ADD COLUMN op TEXT;
ALTER TABLE ggml_events ADD COLUMN graph INTEGER;
ALTER TABLE ggml_events ADD COLUMN nested_calls INTEGER;
ALTER TABLE ggml_events ADD COLUMN ret INTEGER;
)sql",
      // 4: per-5-second-slot rollups written with each batch (store/rollup.h) for the launches
      // (the edges of cuda_kernel_minutes), cuda/copies, cuda/syncs (stall buckets),
      // host/syscalls, host/sched and llm/tokens, filled from the rows already stored (the SQL
      // is PostgreSQL's migration 5 too).
      kSlotRollupsMigration,
      // 5: memory in use (cuda/memory, llm/memory) kept with each batch (store/rollup.h): the
      // allocations and frees with their replay's levels and ends, and the level per slot,
      // filled from the rows already stored (the SQL is PostgreSQL's migration 6 too).
      memory_migration(),
      // 6: host/opens' rollups merged per bucket of 5 s, 20 s, 1 min and 10 min
      // (store/rollup.h), filled from the rows already stored.
      kOpenRollupsMigrationSqlite,
      // 7: llm/decode's rollups (a histogram of decode durations, the runs of each context's
      // prompt and generation decodes, graph computes per slot), filled from the rows already
      // stored (PostgreSQL's migration 8 too).
      decode_rollups_migration(),
      // 8: where a launch's kernel lives when its host stub named it (the stub's ELF file and
      // its symbol's value there).
      R"sql(
ALTER TABLE cuda_events ADD COLUMN kernel_file TEXT;
ALTER TABLE cuda_events ADD COLUMN kernel_offset INTEGER;
)sql",
      // 9: llm/decode's requests (time to first token) kept with each batch, filled from the
      // rows already stored; the runs they were assembled from at read time dropped
      // (store/rollup.h; PostgreSQL's migration 10 too).
      requests_migration(),
      // 10: GPU times from CUPTI (op gpu_kernel/gpu_memcpy): the queue delay and the correlation
      // id.
      R"sql(
ALTER TABLE cuda_events ADD COLUMN queue_ns INTEGER;
ALTER TABLE cuda_events ADD COLUMN correlation_id INTEGER;
)sql",
  };
  return steps;
}

}  // namespace scope::store
