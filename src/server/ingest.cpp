#include "server/ingest.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "auth/crypto.h"
#include "common/clock.h"
#include "common/host.h"
#include "event/batch.h"

namespace scope::server {
namespace {

// A heartbeat is a few hundred bytes; a larger `h` is not parsed at all.
constexpr size_t kMaxHeartbeatEntryBytes = 16 << 10;

constexpr const char* kRejectedHelp =
    "Stream entries refused at ingest and moved to the dead-letter stream, by cause: not signed "
    "by an enrolled node, over the limits, a bad node name, undecodable";

const char* cause_of(int why) {
  static const char* names[] = {
      "ok", "unsigned", "unknown_node", "bad_signature", "node_mismatch", "stopped"};
  return names[why];
}

}  // namespace

Ingest::Ingest(IngestOptions options, store::Store& store, metrics::Registry& r)
    : options_(std::move(options)),
      store_(store),
      redis_(options_.redis, std::max(5000, options_.block_ms + 3000)),
      consumer_(redis_, {options_.stream, options_.group,
                         options_.consumer.empty() ? host_name() : options_.consumer,
                         options_.dead_max_len}),
      pm_(r),
      m_dup_batches_(r.counter("scope_batches_duplicate_total", "Batches the store already had")),
      m_claimed_(r.counter("scope_entries_claimed_total",
                           "Entries taken over from a consumer that stopped (XAUTOCLAIM)")),
      m_trimmed_(r.counter("scope_entries_trimmed_total", "Acknowledged entries trimmed")),
      m_store_errors_(r.counter("scope_store_errors_total", "Failed store writes (retried)")),
      m_write_seconds_(r.histogram("scope_batch_write_seconds", "Store write time per batch")) {
  for (int why = static_cast<int>(Auth::kUnsigned); why <= static_cast<int>(Auth::kNodeMismatch);
       ++why)
    m_unauthenticated_[static_cast<size_t>(why)] =
        &r.counter("scope_ingest_rejected_total", kRejectedHelp, {{"cause", cause_of(why)}});
  for (auto why : event::kAllRefusals)
    m_refused_[static_cast<size_t>(why)] = &r.counter("scope_ingest_rejected_total", kRejectedHelp,
                                                      {{"cause", event::refusal_cause(why)}});
}

Ingest::~Ingest() { stop(); }

void Ingest::start() {
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void Ingest::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

IngestStats Ingest::stats() const {
  IngestStats s;
  s.batches = batches_;
  s.events_received = received_;
  s.events_stored = stored_;
  s.duplicate_batches = dup_batches_;
  s.duplicate_events = dup_events_;
  s.corrupt_batches = corrupt_;
  s.rejected_batches = rejected_batches_;
  s.rejected_events = rejected_events_;
  s.claimed = claimed_;
  s.trimmed = trimmed_;
  for (size_t i = 0; i < s.refused.size(); ++i) s.refused[i] = refused_[i];
  s.unauthenticated = unauthenticated_;
  s.heartbeats = heartbeats_;
  s.heartbeats_refused = heartbeats_refused_;
  return s;
}

std::optional<std::optional<std::string>> Ingest::node_key(
    const std::string& node, std::chrono::steady_clock::time_point read_at, bool stale) {
  auto backoff = std::chrono::milliseconds(100);
  while (!stopping_) {
    auto key = options_.node_key(node, read_at, stale);
    if (key) return *key;
    spdlog::warn("scope: cannot look up the key of node '{}' ({}); retrying in {} ms", node,
                 key.error(), backoff.count());
    sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
  return std::nullopt;
}

Ingest::Auth Ingest::authenticate(const transport::StreamEntry& e,
                                  std::chrono::steady_clock::time_point read_at) {
  if (!e.has_signature) return Auth::kUnsigned;
  auto key = node_key(e.node, read_at);
  if (!key) return Auth::kStopped;
  if (!*key) return Auth::kUnknownNode;
  if (auth::verify_detached(**key, e.data, e.signature)) return Auth::kOk;
  // A node deleted and enrolled again has a new key the cache may not have yet.
  auto fresh = node_key(e.node, read_at, true);
  if (!fresh) return Auth::kStopped;
  if (!*fresh) return Auth::kUnknownNode;
  if (**fresh != **key && auth::verify_detached(**fresh, e.data, e.signature)) return Auth::kOk;
  return Auth::kBadSignature;
}

void Ingest::refuse(const transport::StreamEntry& e, Auth why, const std::string& node) {
  m_unauthenticated_[static_cast<size_t>(why)]->add();
  uint64_t n = ++unauthenticated_;
  // Logged at 1, 2, 4, 8, ... refusals: a flood of forgeries does not flood the log.
  if ((n & (n - 1)) == 0)
    spdlog::warn(
        "scope: stream entry {} refused ({}, node '{}'): moved to {}:dead ({} refused "
        "so far)",
        e.id, cause_of(static_cast<int>(why)), node, options_.stream, n);
  dead_letter(e, std::string("auth: ") + cause_of(static_cast<int>(why)));
}

void Ingest::dead_letter(const transport::StreamEntry& e, const std::string& reason) {
  while (!stopping_ && !consumer_.dead_letter(e, reason, options_.dead_keep_bytes))
    sleep_for(std::chrono::milliseconds(500));
}

void Ingest::sleep_for(std::chrono::milliseconds d) {
  auto until = std::chrono::steady_clock::now() + d;
  while (!stopping_ && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

bool Ingest::flush_acks() {
  if (unacked_.empty()) return true;
  if (auto st = consumer_.ack(unacked_); !st) return false;
  unacked_.clear();
  return true;
}

// Writes one batch, retrying while the store is unreachable. true: settled
// (stored, duplicate, or dead-lettered); false: stop() interrupted it.
bool Ingest::store_batch(const transport::StreamEntry& entry, event::Batch&& batch) {
  int rejections = 0;
  auto backoff = std::chrono::milliseconds(100);
  while (!stopping_) {
    auto start = std::chrono::steady_clock::now();
    auto w = store_.write(batch);
    if (w) {
      double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      m_write_seconds_.observe(took);
      if (w->duplicate) {
        ++dup_batches_;
        dup_events_ += batch.events.size();
        m_dup_batches_.add();
        pm_.duplicates.add(batch.events.size());
      } else {
        stored_ += w->stored;
        pm_.committed(batch, w->stored);
        if (options_.on_committed) options_.on_committed(std::move(batch));
      }
      return true;
    }
    m_store_errors_.add();
    // Is it the store or the batch? A store that answers a trivial query is up.
    store::QueryOptions probe;
    probe.max_rows = 1;
    probe.timeout_ms = 2000;
    bool store_up = store_.query("SELECT 1", probe).ok();
    if (store_up && ++rejections >= options_.store_attempts) {
      spdlog::error(
          "scope: batch {} ({} events from {}) rejected by the store: {}; moved to {}:dead",
          entry.id, batch.events.size(), batch.node, w.error(), options_.stream);
      dead_letter(entry, "store: " + w.error());
      ++rejected_batches_;
      rejected_events_ += batch.events.size();
      pm_.dropped_store.add(batch.events.size());
      return !stopping_;
    }
    if (!store_up)
      spdlog::warn("scope: store unavailable ({}); retrying in {} ms", w.error(), backoff.count());
    sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
  return false;
}

void Ingest::take_heartbeat(const transport::StreamEntry& e) {
  int64_t now = unix_now_ns();
  auto refused = [&](const std::string& why) {
    uint64_t n = ++heartbeats_refused_;
    if ((n & (n - 1)) == 0)
      spdlog::warn("scope: heartbeat {} of node '{}' not taken: {} ({} so far)", e.id, e.node, why,
                   n);
  };
  if (!options_.on_heartbeat) return;
  auto hb =
      nlohmann::json::parse(e.data.size() <= kMaxHeartbeatEntryBytes ? e.data : "", nullptr, false);
  int64_t ts = hb.is_object() ? hb.value("ts_ns", int64_t{0}) : 0;
  int64_t skew = ts - e.added_ms() * 1'000'000;
  int64_t max_skew = std::chrono::nanoseconds(options_.heartbeat_max_skew).count();
  if (ts <= 0 || skew > max_skew || skew < -max_skew)
    return refused("its ts_ns is missing or too far from its stream entry's time (a replay?)");
  if (auto st = options_.on_heartbeat(e.node, now, e.data); !st) return refused(st.error());
  ++heartbeats_;
}

bool Ingest::handle(std::vector<transport::StreamEntry>&& entries,
                    std::chrono::steady_clock::time_point read_at) {
  for (auto& e : entries) {
    if (stopping_) return false;
    if (e.deleted) {  // deleted from the stream while pending: nothing to store
      unacked_.push_back(e.id);
      continue;
    }
    bool authenticated = false;
    if (options_.node_key) {
      Auth a = authenticate(e, read_at);
      if (a == Auth::kStopped) return false;
      if (a != Auth::kOk && !(a == Auth::kUnsigned && options_.allow_unsigned)) {
        refuse(e, a, e.node);
        continue;
      }
      authenticated = a == Auth::kOk;
    }
    if (e.heartbeat) {
      // --allow-unsigned-batches: an unsigned heartbeat still may not speak for a node that signs.
      if (!authenticated && options_.node_key) {
        auto key = node_key(e.node, read_at);
        if (!key) return false;
        if (*key || !event::valid_identity(e.node)) {
          refuse(e, Auth::kUnsigned, e.node);
          continue;
        }
      }
      take_heartbeat(e);
      unacked_.push_back(e.id);
      continue;
    }
    auto why = event::BatchRefusal::kUndecodable;
    auto batch = e.has_data ? event::decode_batch(e.data, options_.limits, &why)
                            : Result<event::Batch>(make_error("no field 'b' in the entry"));
    if (!batch) {
      // Refused once and for all: a retry would read the same bytes.
      const char* cause = event::refusal_cause(why);
      ++corrupt_;
      ++refused_[static_cast<size_t>(why)];
      pm_.corrupt_batches.add();
      m_refused_[static_cast<size_t>(why)]->add();
      spdlog::error("scope: stream entry {} refused ({}: {}): moved to {}:dead", e.id, cause,
                    batch.error(), options_.stream);
      dead_letter(e, std::string(cause) + ": " + batch.error());
      continue;
    }
    if (options_.node_key) {
      if (authenticated && batch->node != e.node) {
        refuse(e, Auth::kNodeMismatch, batch->node);
        continue;
      }
      // --allow-unsigned-batches: still no unsigned batch in the name of a node that signs.
      if (!authenticated) {
        auto key = node_key(batch->node, read_at);
        if (!key) return false;
        if (*key) {
          refuse(e, Auth::kUnsigned, batch->node);
          continue;
        }
      }
    }
    ++batches_;
    received_ += batch->events.size();
    pm_.received.add(batch->events.size());
    if (!store_batch(e, std::move(*batch))) return false;
    unacked_.push_back(e.id);
  }
  // One XACK per read round; a failed one is retried before the next read.
  flush_acks();
  return true;
}

void Ingest::run() {
  while (!stopping_) {
    auto st = consumer_.ensure_group();
    if (st) break;
    spdlog::warn("scope: cannot reach the stream: {}; retrying", st.error());
    sleep_for(std::chrono::milliseconds(1000));
  }
  // Entries this consumer read before a crash and never acknowledged.
  bool own_pending = true;
  // Assigned from a named string: GCC 12 -O2 warns (-Wrestrict) on `after = "0"`.
  const std::string kFromStart = "0";
  std::string after = kFromStart;
  auto last_claim = std::chrono::steady_clock::now() - options_.claim_every;
  auto last_trim = std::chrono::steady_clock::now();
  while (!stopping_) {
    if (!flush_acks()) {
      sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    auto now = std::chrono::steady_clock::now();
    if (own_pending) {
      auto mine = consumer_.read_own_pending(options_.read_count, after);
      if (!mine) {
        sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      if (mine->empty()) {
        own_pending = false;
        continue;
      }
      after = mine->back().id;
      spdlog::info("scope: {} entries left pending by an earlier run of this consumer",
                   mine->size());
      handle(std::move(*mine), std::chrono::steady_clock::now());
      continue;
    }
    if (now - last_claim >= options_.claim_every) {
      last_claim = now;
      auto claimed = consumer_.autoclaim(options_.claim_idle_ms, options_.read_count);
      if (claimed && !claimed->empty()) {
        claimed_ += claimed->size();
        m_claimed_.add(claimed->size());
        spdlog::info("scope: took over {} entries left pending by another consumer",
                     claimed->size());
        last_claim = now - options_.claim_every;  // more may wait: claim again next round
        handle(std::move(*claimed), std::chrono::steady_clock::now());
        continue;
      }
    }
    if (now - last_trim >= options_.trim_every) {
      last_trim = now;
      if (auto t = consumer_.trim(); t && *t > 0) {
        trimmed_ += *t;
        m_trimmed_.add(*t);
      }
    }
    auto entries = consumer_.read(options_.read_count, options_.block_ms);
    if (!entries) {
      spdlog::warn("scope: reading the stream failed: {}; retrying", entries.error());
      sleep_for(std::chrono::milliseconds(500));
      // After a Redis restart, entries delivered before it are ours again to read.
      own_pending = true;
      after = kFromStart;
      continue;
    }
    handle(std::move(*entries), std::chrono::steady_clock::now());
  }
  flush_acks();
}

}  // namespace scope::server
