// Redis Streams for the fleet: agents XADD encoded batches (field `b`) to one
// stream; servers read it through a consumer group and XACK an entry only
// after its batch is committed. Entries a dead consumer left pending are
// taken over with XAUTOCLAIM; trimming (XTRIM MINID) never goes past the
// group's oldest pending or undelivered entry. hiredis 0.14, synchronous: each
// user (the shipper thread, the ingest thread) owns its own client.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

struct redisContext;

namespace scope::transport {

struct RedisEndpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string user;
  std::string password;
  int db = 0;
  std::string text() const;  // host:port, for messages
};

// redis://[[user]:password@]host[:port][/db]
Result<RedisEndpoint> parse_redis_url(std::string_view url);

// A reply copied out of hiredis.
struct RedisValue {
  enum Type { kNil, kString, kInteger, kArray, kStatus, kError };
  Type type = kNil;
  std::string str;
  long long integer = 0;
  std::vector<RedisValue> elements;
};

class RedisClient {
 public:
  explicit RedisClient(RedisEndpoint endpoint, int timeout_ms = 5000);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // One command. Connects (or reconnects after a failure, with backoff from
  // 50 ms to 2 s between attempts) first; a connection error or an error reply
  // is an error. An error reply keeps the connection.
  Result<RedisValue> command(const std::vector<std::string_view>& args);
  // Several commands in one round trip; each reply (error replies included) in order.
  Result<std::vector<RedisValue>> pipeline(const std::vector<std::vector<std::string_view>>& cmds);
  // Connects now if not connected; false (and the reason) when it cannot.
  Status connect();
  bool connected() const { return ctx_ != nullptr; }
  void disconnect();
  const RedisEndpoint& endpoint() const { return endpoint_; }
  void set_timeout_ms(int ms);

 private:
  Status fail_connection(const std::string& why);
  RedisEndpoint endpoint_;
  int timeout_ms_;
  redisContext* ctx_ = nullptr;
  std::chrono::steady_clock::time_point next_attempt_{};
  int backoff_ms_ = 0;
  std::string last_error_;
};

struct StreamEntry {
  std::string id;    // "ms-seq"
  std::string data;  // field `b`
  bool has_data = false;
  std::string node;            // field `n`: the node that signed `b`
  std::string signature;       // field `s`: its Ed25519 signature over `b` (64 raw bytes)
  bool has_signature = false;  // both `n` and `s` present
  bool deleted = false;        // pending, but no longer in the stream (nothing to read)
  // Field `h` instead of `b`: a node's heartbeat (JSON, in `data`; signed like a batch).
  bool heartbeat = false;
  // Milliseconds since the epoch when the entry was added (from its id).
  int64_t added_ms() const;
};

// A node's control stream, beside the events stream: "<stream>:control:<node>". The server adds
// the node's probe plans to it; the node's agent reads it (and nothing else).
inline std::string control_stream_name(const std::string& events_stream, const std::string& node) {
  return events_stream + ":control:" + node;
}

// The signature of a batch's bytes (raw), made with the node's secret key.
using BatchSigner = std::function<std::string(std::string_view batch)>;

// XADD of encoded batches: field `b`, and with a signer `n` (the node) and `s` (the signature
// of `b`'s exact bytes).
class StreamProducer {
 public:
  StreamProducer(RedisClient& client, std::string stream)
      : client_(client), stream_(std::move(stream)) {}
  void set_signer(std::string node, BatchSigner signer) {
    node_ = std::move(node);
    signer_ = std::move(signer);
  }
  // The entry id.
  Result<std::string> add(std::string_view data);
  // Several entries in one round trip; stops at the first failure and returns
  // how many were added.
  Result<size_t> add_many(const std::vector<std::string_view>& data);

 private:
  RedisClient& client_;
  std::string stream_;
  std::string node_;
  BatchSigner signer_;
  std::string last_id_;
};

struct ConsumerOptions {
  std::string stream = "scope:events";
  std::string group = "scope-server";
  std::string
      consumer;  // stable across restarts (the host name): its own pending entries come back
  // `<stream>:dead` keeps about this many entries (XADD MAXLEN ~): a node that sends only bad
  // batches cannot fill Redis's memory.
  size_t dead_max_len = 10000;
};

class StreamConsumer {
 public:
  StreamConsumer(RedisClient& client, ConsumerOptions options)
      : client_(client), options_(std::move(options)) {}

  // XGROUP CREATE ... 0 MKSTREAM; an existing group is fine.
  Status ensure_group();
  // Entries delivered to this consumer earlier and not acknowledged (after a
  // crash of this same consumer), from `after` on.
  Result<std::vector<StreamEntry>> read_own_pending(size_t count, const std::string& after = "0");
  // New entries, waiting up to block_ms.
  Result<std::vector<StreamEntry>> read(size_t count, int block_ms);
  Status ack(const std::vector<std::string>& ids);
  // Entries pending on any consumer for at least min_idle_ms, now ours.
  // Scans the pending list from where the previous call stopped.
  Result<std::vector<StreamEntry>> autoclaim(int min_idle_ms, size_t count);
  // Removes entries before the oldest one the group still needs (pending, or
  // not yet delivered). Returns the number removed.
  Result<uint64_t> trim();
  // Copies an entry to `<stream>:dead` with the reason (the oldest dead entries beyond about
  // dead_max_len go), then acknowledges it. Data past `keep_bytes` is left out (fields `bytes`,
  // its whole size, and `truncated` say so).
  Status dead_letter(const StreamEntry& entry, const std::string& reason,
                     size_t keep_bytes = std::string::npos);
  const ConsumerOptions& options() const { return options_; }

 private:
  Result<std::vector<StreamEntry>> read_group(size_t count, int block_ms, const std::string& id);
  RedisClient& client_;
  ConsumerOptions options_;
  std::string claim_cursor_ = "0-0";
};

}  // namespace scope::transport
