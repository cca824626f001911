// PostgreSQL's schema, version by version: each step is literal SQL, frozen once released (a
// step is never edited; a change is a new step). Version 1 has two forms, native partitioning
// and TimescaleDB; the TimescaleDB form takes its intervals as {{parameters}}.
// event/schema.h lists the columns they make.
#include "store/postgres/migrations.h"

#include <string>

#include "store/rollup.h"

namespace scope::store {

namespace {

// Version 1, native partitioning: a parent per family partitioned by ts_ns, a DEFAULT partition
// for timestamps no day partition covers (negative, or a batch spanning too many days), indexes
// declared once on the parent (BRIN on ts_ns: it arrives nearly in order and costs ingest
// almost nothing). Day partitions are created ahead by the server.
constexpr std::string_view kV1Native = R"sql(
CREATE TABLE IF NOT EXISTS scope_batches (node TEXT NOT NULL, boot_id TEXT NOT NULL, first_seq BIGINT NOT NULL, events BIGINT NOT NULL, ingested_ns BIGINT NOT NULL, PRIMARY KEY (node, boot_id, first_seq));
CREATE INDEX IF NOT EXISTS scope_batches_ingested ON scope_batches (ingested_ns);
CREATE TABLE IF NOT EXISTS cuda_events (ts_ns BIGINT NOT NULL, node TEXT NOT NULL, seq BIGINT NOT NULL, pid BIGINT, tid BIGINT, comm TEXT, call TEXT, op TEXT, ret BIGINT, duration_ns BIGINT, kernel TEXT, grid TEXT, block TEXT, shared_mem BIGINT, stream BIGINT, handle BIGINT, ptr BIGINT, bytes BIGINT, kind TEXT, mem TEXT, async BIGINT) PARTITION BY RANGE (ts_ns);
CREATE TABLE IF NOT EXISTS cuda_events_default PARTITION OF cuda_events DEFAULT;
CREATE INDEX IF NOT EXISTS cuda_events_ts ON cuda_events USING brin (ts_ns);
CREATE INDEX IF NOT EXISTS cuda_events_pid_ts ON cuda_events (pid, ts_ns);
CREATE TABLE IF NOT EXISTS exec_events (ts_ns BIGINT NOT NULL, node TEXT NOT NULL, seq BIGINT NOT NULL, pid BIGINT, tid BIGINT, comm TEXT, call TEXT, ppid BIGINT, uid BIGINT, filename TEXT, argv TEXT, argv_truncated BIGINT, ret BIGINT, duration_ns BIGINT, exit_code BIGINT, lifetime_ns BIGINT) PARTITION BY RANGE (ts_ns);
CREATE TABLE IF NOT EXISTS exec_events_default PARTITION OF exec_events DEFAULT;
CREATE INDEX IF NOT EXISTS exec_events_ts ON exec_events USING brin (ts_ns);
CREATE INDEX IF NOT EXISTS exec_events_pid_ts ON exec_events (pid, ts_ns);
CREATE TABLE IF NOT EXISTS open_events (ts_ns BIGINT NOT NULL, node TEXT NOT NULL, seq BIGINT NOT NULL, pid BIGINT, tid BIGINT, comm TEXT, call TEXT, path TEXT, flags BIGINT, ret BIGINT) PARTITION BY RANGE (ts_ns);
CREATE TABLE IF NOT EXISTS open_events_default PARTITION OF open_events DEFAULT;
CREATE INDEX IF NOT EXISTS open_events_ts ON open_events USING brin (ts_ns);
CREATE INDEX IF NOT EXISTS open_events_pid_ts ON open_events (pid, ts_ns);
CREATE TABLE IF NOT EXISTS net_events (ts_ns BIGINT NOT NULL, node TEXT NOT NULL, seq BIGINT NOT NULL, pid BIGINT, tid BIGINT, comm TEXT, op TEXT, family TEXT, saddr TEXT, daddr TEXT, sport BIGINT, dport BIGINT, error BIGINT, handshake_ns BIGINT, duration_ns BIGINT, rx_bytes BIGINT, tx_bytes BIGINT) PARTITION BY RANGE (ts_ns);
CREATE TABLE IF NOT EXISTS net_events_default PARTITION OF net_events DEFAULT;
CREATE INDEX IF NOT EXISTS net_events_ts ON net_events USING brin (ts_ns);
CREATE INDEX IF NOT EXISTS net_events_pid_ts ON net_events (pid, ts_ns);
CREATE TABLE IF NOT EXISTS syscalls_events (ts_ns BIGINT NOT NULL, node TEXT NOT NULL, seq BIGINT NOT NULL, pid BIGINT, tid BIGINT, comm TEXT, name TEXT, count BIGINT, errors BIGINT, total_ns BIGINT) PARTITION BY RANGE (ts_ns);
CREATE TABLE IF NOT EXISTS syscalls_events_default PARTITION OF syscalls_events DEFAULT;
CREATE INDEX IF NOT EXISTS syscalls_events_ts ON syscalls_events USING brin (ts_ns);
CREATE INDEX IF NOT EXISTS syscalls_events_pid_ts ON syscalls_events (pid, ts_ns);
CREATE TABLE IF NOT EXISTS sched_events (ts_ns BIGINT NOT NULL, node TEXT NOT NULL, seq BIGINT NOT NULL, pid BIGINT, tid BIGINT, comm TEXT, switches BIGINT, voluntary BIGINT, involuntary BIGINT, offcpu_ns BIGINT, runq_ns BIGINT) PARTITION BY RANGE (ts_ns);
CREATE TABLE IF NOT EXISTS sched_events_default PARTITION OF sched_events DEFAULT;
CREATE INDEX IF NOT EXISTS sched_events_ts ON sched_events USING brin (ts_ns);
CREATE INDEX IF NOT EXISTS sched_events_pid_ts ON sched_events (pid, ts_ns);
CREATE TABLE IF NOT EXISTS llama_events (ts_ns BIGINT NOT NULL, node TEXT NOT NULL, seq BIGINT NOT NULL, pid BIGINT, tid BIGINT, comm TEXT, call TEXT, duration_ns BIGINT, ret BIGINT, tokens BIGINT, phase TEXT, n_ctx BIGINT, n_batch BIGINT, path TEXT) PARTITION BY RANGE (ts_ns);
CREATE TABLE IF NOT EXISTS llama_events_default PARTITION OF llama_events DEFAULT;
CREATE INDEX IF NOT EXISTS llama_events_ts ON llama_events USING brin (ts_ns);
CREATE INDEX IF NOT EXISTS llama_events_pid_ts ON llama_events (pid, ts_ns);
CREATE TABLE IF NOT EXISTS ggml_events (ts_ns BIGINT NOT NULL, node TEXT NOT NULL, seq BIGINT NOT NULL, pid BIGINT, tid BIGINT, comm TEXT, call TEXT, duration_ns BIGINT, nodes BIGINT, bytes BIGINT, ptr BIGINT, backend TEXT) PARTITION BY RANGE (ts_ns);
CREATE TABLE IF NOT EXISTS ggml_events_default PARTITION OF ggml_events DEFAULT;
CREATE INDEX IF NOT EXISTS ggml_events_ts ON ggml_events USING brin (ts_ns);
CREATE INDEX IF NOT EXISTS ggml_events_pid_ts ON ggml_events (pid, ts_ns);
)sql";

// Version 1 on TimescaleDB: hypertables on the integer ts_ns, an integer "now" for the policies,
// compression segmented by node. Not exercised by the tests here (Debian has no timescaledb
// package); deploy/ runs it. {{retention}} is "" with a retention, "--" without.
constexpr std::string_view kV1Timescale = R"sql(
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE IF NOT EXISTS scope_batches (node TEXT NOT NULL, boot_id TEXT NOT NULL, first_seq BIGINT NOT NULL, events BIGINT NOT NULL, ingested_ns BIGINT NOT NULL, PRIMARY KEY (node, boot_id, first_seq));
CREATE INDEX IF NOT EXISTS scope_batches_ingested ON scope_batches (ingested_ns);
CREATE OR REPLACE FUNCTION scope_now_ns() RETURNS BIGINT LANGUAGE SQL STABLE AS $$ SELECT (extract(epoch FROM now()) * 1000000000)::BIGINT $$;
CREATE TABLE IF NOT EXISTS cuda_events (ts_ns BIGINT NOT NULL, node TEXT NOT NULL, seq BIGINT NOT NULL, pid BIGINT, tid BIGINT, comm TEXT, call TEXT, op TEXT, ret BIGINT, duration_ns BIGINT, kernel TEXT, grid TEXT, block TEXT, shared_mem BIGINT, stream BIGINT, handle BIGINT, ptr BIGINT, bytes BIGINT, kind TEXT, mem TEXT, async BIGINT);
SELECT create_hypertable('cuda_events', 'ts_ns', chunk_time_interval => {{partition_ns}}::BIGINT, if_not_exists => TRUE);
SELECT set_integer_now_func('cuda_events', 'scope_now_ns', replace_if_exists => TRUE);
CREATE INDEX IF NOT EXISTS cuda_events_pid_ts ON cuda_events (pid, ts_ns);
ALTER TABLE cuda_events SET (timescaledb.compress, timescaledb.compress_segmentby = 'node', timescaledb.compress_orderby = 'ts_ns');
SELECT add_compression_policy('cuda_events', {{compress_after_ns}}::BIGINT, if_not_exists => TRUE);
{{retention}}SELECT add_retention_policy('cuda_events', {{retention_ns}}::BIGINT, if_not_exists => TRUE);
CREATE TABLE IF NOT EXISTS exec_events (ts_ns BIGINT NOT NULL, node TEXT NOT NULL, seq BIGINT NOT NULL, pid BIGINT, tid BIGINT, comm TEXT, call TEXT, ppid BIGINT, uid BIGINT, filename TEXT, argv TEXT, argv_truncated BIGINT, ret BIGINT, duration_ns BIGINT, exit_code BIGINT, lifetime_ns BIGINT);
SELECT create_hypertable('exec_events', 'ts_ns', chunk_time_interval => {{partition_ns}}::BIGINT, if_not_exists => TRUE);
SELECT set_integer_now_func('exec_events', 'scope_now_ns', replace_if_exists => TRUE);
CREATE INDEX IF NOT EXISTS exec_events_pid_ts ON exec_events (pid, ts_ns);
ALTER TABLE exec_events SET (timescaledb.compress, timescaledb.compress_segmentby = 'node', timescaledb.compress_orderby = 'ts_ns');
SELECT add_compression_policy('exec_events', {{compress_after_ns}}::BIGINT, if_not_exists => TRUE);
{{retention}}SELECT add_retention_policy('exec_events', {{retention_ns}}::BIGINT, if_not_exists => TRUE);
CREATE TABLE IF NOT EXISTS open_events (ts_ns BIGINT NOT NULL, node TEXT NOT NULL, seq BIGINT NOT NULL, pid BIGINT, tid BIGINT, comm TEXT, call TEXT, path TEXT, flags BIGINT, ret BIGINT);
SELECT create_hypertable('open_events', 'ts_ns', chunk_time_interval => {{partition_ns}}::BIGINT, if_not_exists => TRUE);
SELECT set_integer_now_func('open_events', 'scope_now_ns', replace_if_exists => TRUE);
CREATE INDEX IF NOT EXISTS open_events_pid_ts ON open_events (pid, ts_ns);
ALTER TABLE open_events SET (timescaledb.compress, timescaledb.compress_segmentby = 'node', timescaledb.compress_orderby = 'ts_ns');
SELECT add_compression_policy('open_events', {{compress_after_ns}}::BIGINT, if_not_exists => TRUE);
{{retention}}SELECT add_retention_policy('open_events', {{retention_ns}}::BIGINT, if_not_exists => TRUE);
CREATE TABLE IF NOT EXISTS net_events (ts_ns BIGINT NOT NULL, node TEXT NOT NULL, seq BIGINT NOT NULL, pid BIGINT, tid BIGINT, comm TEXT, op TEXT, family TEXT, saddr TEXT, daddr TEXT, sport BIGINT, dport BIGINT, error BIGINT, handshake_ns BIGINT, duration_ns BIGINT, rx_bytes BIGINT, tx_bytes BIGINT);
SELECT create_hypertable('net_events', 'ts_ns', chunk_time_interval => {{partition_ns}}::BIGINT, if_not_exists => TRUE);
SELECT set_integer_now_func('net_events', 'scope_now_ns', replace_if_exists => TRUE);
CREATE INDEX IF NOT EXISTS net_events_pid_ts ON net_events (pid, ts_ns);
ALTER TABLE net_events SET (timescaledb.compress, timescaledb.compress_segmentby = 'node', timescaledb.compress_orderby = 'ts_ns');
SELECT add_compression_policy('net_events', {{compress_after_ns}}::BIGINT, if_not_exists => TRUE);
{{retention}}SELECT add_retention_policy('net_events', {{retention_ns}}::BIGINT, if_not_exists => TRUE);
CREATE TABLE IF NOT EXISTS syscalls_events (ts_ns BIGINT NOT NULL, node TEXT NOT NULL, seq BIGINT NOT NULL, pid BIGINT, tid BIGINT, comm TEXT, name TEXT, count BIGINT, errors BIGINT, total_ns BIGINT);
SELECT create_hypertable('syscalls_events', 'ts_ns', chunk_time_interval => {{partition_ns}}::BIGINT, if_not_exists => TRUE);
SELECT set_integer_now_func('syscalls_events', 'scope_now_ns', replace_if_exists => TRUE);
CREATE INDEX IF NOT EXISTS syscalls_events_pid_ts ON syscalls_events (pid, ts_ns);
ALTER TABLE syscalls_events SET (timescaledb.compress, timescaledb.compress_segmentby = 'node', timescaledb.compress_orderby = 'ts_ns');
SELECT add_compression_policy('syscalls_events', {{compress_after_ns}}::BIGINT, if_not_exists => TRUE);
{{retention}}SELECT add_retention_policy('syscalls_events', {{retention_ns}}::BIGINT, if_not_exists => TRUE);
CREATE TABLE IF NOT EXISTS sched_events (ts_ns BIGINT NOT NULL, node TEXT NOT NULL, seq BIGINT NOT NULL, pid BIGINT, tid BIGINT, comm TEXT, switches BIGINT, voluntary BIGINT, involuntary BIGINT, offcpu_ns BIGINT, runq_ns BIGINT);
SELECT create_hypertable('sched_events', 'ts_ns', chunk_time_interval => {{partition_ns}}::BIGINT, if_not_exists => TRUE);
SELECT set_integer_now_func('sched_events', 'scope_now_ns', replace_if_exists => TRUE);
CREATE INDEX IF NOT EXISTS sched_events_pid_ts ON sched_events (pid, ts_ns);
ALTER TABLE sched_events SET (timescaledb.compress, timescaledb.compress_segmentby = 'node', timescaledb.compress_orderby = 'ts_ns');
SELECT add_compression_policy('sched_events', {{compress_after_ns}}::BIGINT, if_not_exists => TRUE);
{{retention}}SELECT add_retention_policy('sched_events', {{retention_ns}}::BIGINT, if_not_exists => TRUE);
CREATE TABLE IF NOT EXISTS llama_events (ts_ns BIGINT NOT NULL, node TEXT NOT NULL, seq BIGINT NOT NULL, pid BIGINT, tid BIGINT, comm TEXT, call TEXT, duration_ns BIGINT, ret BIGINT, tokens BIGINT, phase TEXT, n_ctx BIGINT, n_batch BIGINT, path TEXT);
SELECT create_hypertable('llama_events', 'ts_ns', chunk_time_interval => {{partition_ns}}::BIGINT, if_not_exists => TRUE);
SELECT set_integer_now_func('llama_events', 'scope_now_ns', replace_if_exists => TRUE);
CREATE INDEX IF NOT EXISTS llama_events_pid_ts ON llama_events (pid, ts_ns);
ALTER TABLE llama_events SET (timescaledb.compress, timescaledb.compress_segmentby = 'node', timescaledb.compress_orderby = 'ts_ns');
SELECT add_compression_policy('llama_events', {{compress_after_ns}}::BIGINT, if_not_exists => TRUE);
{{retention}}SELECT add_retention_policy('llama_events', {{retention_ns}}::BIGINT, if_not_exists => TRUE);
CREATE TABLE IF NOT EXISTS ggml_events (ts_ns BIGINT NOT NULL, node TEXT NOT NULL, seq BIGINT NOT NULL, pid BIGINT, tid BIGINT, comm TEXT, call TEXT, duration_ns BIGINT, nodes BIGINT, bytes BIGINT, ptr BIGINT, backend TEXT);
SELECT create_hypertable('ggml_events', 'ts_ns', chunk_time_interval => {{partition_ns}}::BIGINT, if_not_exists => TRUE);
SELECT set_integer_now_func('ggml_events', 'scope_now_ns', replace_if_exists => TRUE);
CREATE INDEX IF NOT EXISTS ggml_events_pid_ts ON ggml_events (pid, ts_ns);
ALTER TABLE ggml_events SET (timescaledb.compress, timescaledb.compress_segmentby = 'node', timescaledb.compress_orderby = 'ts_ns');
SELECT add_compression_policy('ggml_events', {{compress_after_ns}}::BIGINT, if_not_exists => TRUE);
{{retention}}SELECT add_retention_policy('ggml_events', {{retention_ns}}::BIGINT, if_not_exists => TRUE);
)sql";

// 2: launches and GPU time per kernel and minute (the "top kernels" queries).
constexpr std::string_view kV2 = R"sql(
CREATE TABLE IF NOT EXISTS cuda_kernel_minutes (minute_ns BIGINT NOT NULL, node TEXT NOT NULL, pid BIGINT NOT NULL, kernel TEXT NOT NULL, launches BIGINT NOT NULL, total_ns BIGINT NOT NULL, PRIMARY KEY (minute_ns, node, pid, kernel));
INSERT INTO cuda_kernel_minutes SELECT ts_ns - ts_ns % 60000000000, node, pid, coalesce(kernel, ''), count(*), coalesce(sum(duration_ns), 0) FROM cuda_events WHERE op = 'launch' GROUP BY 1, 2, 3, 4 ON CONFLICT DO NOTHING;
)sql";

// 3: the event fields that had no column (path_truncated, exec's dirfd and faults, exits'
// signal, llama's op and handles, ggml's op, graph and nested calls).
constexpr std::string_view kV3 = R"sql(
ALTER TABLE exec_events ADD COLUMN IF NOT EXISTS dirfd BIGINT;
ALTER TABLE exec_events ADD COLUMN IF NOT EXISTS filename_truncated BIGINT;
ALTER TABLE exec_events ADD COLUMN IF NOT EXISTS argv_fault BIGINT;
ALTER TABLE exec_events ADD COLUMN IF NOT EXISTS filename_fault BIGINT;
ALTER TABLE exec_events ADD COLUMN IF NOT EXISTS signal BIGINT;
ALTER TABLE exec_events ADD COLUMN IF NOT EXISTS core_dumped BIGINT;
ALTER TABLE open_events ADD COLUMN IF NOT EXISTS path_truncated BIGINT;
ALTER TABLE open_events ADD COLUMN IF NOT EXISTS path_unresolved BIGINT;
ALTER TABLE llama_events ADD COLUMN IF NOT EXISTS op TEXT;
ALTER TABLE llama_events ADD COLUMN IF NOT EXISTS ctx BIGINT;
ALTER TABLE llama_events ADD COLUMN IF NOT EXISTS model BIGINT;
ALTER TABLE llama_events ADD COLUMN IF NOT EXISTS ok BIGINT;
ALTER TABLE llama_events ADD COLUMN IF NOT EXISTS n_ubatch BIGINT;
ALTER TABLE llama_events ADD COLUMN IF NOT EXISTS n_seq_max BIGINT;
ALTER TABLE ggml_events ADD COLUMN IF NOT EXISTS op TEXT;
ALTER TABLE ggml_events ADD COLUMN IF NOT EXISTS graph BIGINT;
ALTER TABLE ggml_events ADD COLUMN IF NOT EXISTS nested_calls BIGINT;
ALTER TABLE ggml_events ADD COLUMN IF NOT EXISTS ret BIGINT;
)sql";

// 4: btree indexes in the order the paged lists read (cuda/launches, host/processes, host/tcp:
// ORDER BY ts_ns, node bytewise, seq), so that a page is the first rows of an index range
// instead of the whole window sorted (BRIN cannot give an order).
constexpr std::string_view kV4 = R"sql(
CREATE INDEX IF NOT EXISTS cuda_events_ts_node_seq ON cuda_events (ts_ns, node COLLATE "C", seq);
CREATE INDEX IF NOT EXISTS exec_events_ts_node_seq ON exec_events (ts_ns, node COLLATE "C", seq);
CREATE INDEX IF NOT EXISTS net_events_ts_node_seq ON net_events (ts_ns, node COLLATE "C", seq);
)sql";

// 9: where a launch's kernel lives when its host stub named it (the stub's ELF file and its
// symbol's value there).
constexpr std::string_view kV9 = R"sql(
ALTER TABLE cuda_events ADD COLUMN IF NOT EXISTS kernel_file TEXT;
ALTER TABLE cuda_events ADD COLUMN IF NOT EXISTS kernel_offset BIGINT;
)sql";

// 11: GPU times from CUPTI (op gpu_kernel/gpu_memcpy): the queue delay and the correlation id.
constexpr std::string_view kV11 = R"sql(
ALTER TABLE cuda_events ADD COLUMN IF NOT EXISTS queue_ns BIGINT;
ALTER TABLE cuda_events ADD COLUMN IF NOT EXISTS correlation_id BIGINT;
)sql";

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

}  // namespace

std::vector<std::string> postgres_migrations(const PostgresMigrationParams& p) {
  std::string v1(p.timescale ? kV1Timescale : kV1Native);
  v1 = replace_all(v1, "{{partition_ns}}", std::to_string(p.partition_ns));
  v1 = replace_all(v1, "{{compress_after_ns}}", std::to_string(p.compress_after_ns));
  v1 = replace_all(v1, "{{retention_ns}}", std::to_string(p.retention_ns));
  v1 = replace_all(v1, "{{retention}}", p.retention_ns > 0 ? "" : "-- ");
  // 5: per-5-second-slot rollups written with each batch for the launches (the edges of
  // cuda_kernel_minutes), cuda/copies, cuda/syncs, host/syscalls, host/sched and llm/tokens,
  // filled from the rows already stored (store/rollup.h; SQLite's migration 4 too).
  // 6: memory in use (cuda/memory, llm/memory) kept with each batch: the allocations and frees
  // with their replay's levels and ends, and the level per slot, filled from the rows already
  // stored (store/rollup.h; SQLite's migration 5 too).
  // 7: host/opens' rollups merged per bucket of 5 s, 20 s, 1 min and 10 min (store/rollup.h),
  // filled from the rows already stored.
  // 8: llm/decode's rollups (a histogram of decode durations, the runs of each context's prompt
  // and generation decodes, graph computes per slot), filled from the rows already stored
  // (store/rollup.h; SQLite's migration 7 too).
  // 9: where a launch's kernel lives (kV9).
  // 10: llm/decode's requests (time to first token) kept with each batch, filled from the rows
  // already stored; the runs they were assembled from at read time dropped (store/rollup.h;
  // SQLite's migration 9 too).
  // 11: GPU times from CUPTI (kV11).
  return {v1,
          std::string(kV2),
          std::string(kV3),
          std::string(kV4),
          std::string(kSlotRollupsMigration),
          memory_migration(),
          std::string(kOpenRollupsMigrationPostgres),
          decode_rollups_migration(),
          std::string(kV9),
          requests_migration(),
          std::string(kV11)};
}

}  // namespace scope::store
