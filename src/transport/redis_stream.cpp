#include "transport/redis_stream.h"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "common/redact.h"

namespace scope::transport {

namespace {

RedisValue copy_reply(const redisReply* r) {
  RedisValue v;
  if (!r) return v;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      v.type = RedisValue::kString;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      v.type = RedisValue::kStatus;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      v.type = RedisValue::kError;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      v.type = RedisValue::kInteger;
      v.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      v.type = RedisValue::kArray;
      v.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) v.elements.push_back(copy_reply(r->element[i]));
      break;
    default:
      break;
  }
  return v;
}

timeval to_timeval(int ms) {
  timeval tv{};
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  return tv;
}

// [[id, [field, value, ...]], ...] → entries (a nil field list: deleted meanwhile).
std::vector<StreamEntry> parse_entries(const RedisValue& list) {
  std::vector<StreamEntry> out;
  for (const auto& e : list.elements) {
    if (e.type != RedisValue::kArray || e.elements.empty()) continue;
    StreamEntry entry;
    entry.id = e.elements[0].str;
    entry.deleted = e.elements.size() < 2 || e.elements[1].type != RedisValue::kArray;
    if (!entry.deleted) {
      const auto& fields = e.elements[1].elements;
      for (size_t i = 0; i + 1 < fields.size(); i += 2)
        if (fields[i].str == "b") {
          entry.data = fields[i + 1].str;
          entry.has_data = true;
        } else if (fields[i].str == "h") {
          entry.data = fields[i + 1].str;
          entry.heartbeat = true;
        } else if (fields[i].str == "n") {
          entry.node = fields[i + 1].str;
        } else if (fields[i].str == "s") {
          entry.signature = fields[i + 1].str;
          entry.has_signature = true;
        }
      entry.has_signature = entry.has_signature && !entry.node.empty();
    }
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace

// A URL as an error may show it: its password as ***, since errors end up in logs.
std::string shown(std::string_view url) {
  std::vector<std::string> words{std::string(url)};
  redact_argv(words);
  return words[0];
}

std::string RedisEndpoint::text() const { return host + ":" + std::to_string(port); }

Result<RedisEndpoint> parse_redis_url(std::string_view url) {
  RedisEndpoint ep;
  std::string_view rest = url;
  if (rest.rfind("redis://", 0) == 0)
    rest.remove_prefix(8);
  else
    return make_error("invalid Redis URL '" + shown(url) +
                      "': expected redis://[[user]:password@]host[:port][/db]");
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view cred = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    if (auto colon = cred.find(':'); colon != std::string_view::npos) {
      ep.user = std::string(cred.substr(0, colon));
      ep.password = std::string(cred.substr(colon + 1));
    } else {
      ep.password = std::string(cred);
    }
  }
  std::string_view hostport = rest;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty()) {
      auto [p, ec] = std::from_chars(db.data(), db.data() + db.size(), ep.db);
      if (ec != std::errc() || p != db.data() + db.size() || ep.db < 0)
        return make_error("invalid Redis URL '" + shown(url) + "': bad database number");
    }
  }
  if (hostport.empty()) return make_error("invalid Redis URL '" + shown(url) + "': no host");
  if (hostport.front() == '[') {  // [::1]:6379
    auto close = hostport.find(']');
    if (close == std::string_view::npos)
      return make_error("invalid Redis URL '" + shown(url) + "'");
    ep.host = std::string(hostport.substr(1, close - 1));
    hostport.remove_prefix(close + 1);
    if (!hostport.empty() && hostport.front() == ':')
      hostport.remove_prefix(1);
    else
      hostport = {};
  } else if (auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
    ep.host = std::string(hostport.substr(0, colon));
    hostport.remove_prefix(colon + 1);
  } else {
    ep.host = std::string(hostport);
    hostport = {};
  }
  if (!hostport.empty()) {
    auto [p, ec] = std::from_chars(hostport.data(), hostport.data() + hostport.size(), ep.port);
    if (ec != std::errc() || p != hostport.data() + hostport.size() || ep.port <= 0 ||
        ep.port > 65535)
      return make_error("invalid Redis URL '" + shown(url) + "': bad port");
  }
  if (ep.host.empty()) return make_error("invalid Redis URL '" + shown(url) + "': no host");
  return ep;
}

int64_t StreamEntry::added_ms() const {
  int64_t ms = 0;
  std::from_chars(id.data(), id.data() + id.size(), ms);
  return ms;
}

RedisClient::RedisClient(RedisEndpoint endpoint, int timeout_ms)
    : endpoint_(std::move(endpoint)), timeout_ms_(timeout_ms) {}

RedisClient::~RedisClient() { disconnect(); }

void RedisClient::disconnect() {
  if (ctx_) redisFree(ctx_);
  ctx_ = nullptr;
}

void RedisClient::set_timeout_ms(int ms) {
  timeout_ms_ = ms;
  if (ctx_) redisSetTimeout(ctx_, to_timeval(ms));
}

Status RedisClient::fail_connection(const std::string& why) {
  disconnect();
  backoff_ms_ = std::clamp(backoff_ms_ * 2, 50, 2000);
  next_attempt_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(backoff_ms_);
  last_error_ = "Redis at " + endpoint_.text() + ": " + why;
  return make_error(last_error_);
}

Status RedisClient::connect() {
  if (ctx_) return Ok{};
  if (std::chrono::steady_clock::now() < next_attempt_)
    return make_error(last_error_ + " (retrying)");
  redisContext* c = redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port,
                                            to_timeval(std::min(timeout_ms_, 2000)));
  if (!c || c->err) {
    std::string why = c ? c->errstr : "out of memory";
    if (c) redisFree(c);
    return fail_connection(why);
  }
  ctx_ = c;
  redisSetTimeout(ctx_, to_timeval(timeout_ms_));
  redisEnableKeepAlive(ctx_);
  auto setup = [&](const std::vector<std::string_view>& args) -> Status {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (auto a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (!r) return fail_connection(ctx_->errstr);
    RedisValue v = copy_reply(r);
    freeReplyObject(r);
    if (v.type == RedisValue::kError) {
      std::string why = v.str;
      Status st = fail_connection(why);
      backoff_ms_ = 2000;  // bad credentials do not heal by retrying fast
      return st;
    }
    return Ok{};
  };
  if (!endpoint_.password.empty()) {
    Status st = endpoint_.user.empty() ? setup({"AUTH", endpoint_.password})
                                       : setup({"AUTH", endpoint_.user, endpoint_.password});
    if (!st) return st;
  }
  if (endpoint_.db != 0)
    if (auto st = setup({"SELECT", std::to_string(endpoint_.db)}); !st) return st;
  if (backoff_ms_ > 0) spdlog::info("scope: connected to Redis at {}", endpoint_.text());
  backoff_ms_ = 0;
  return Ok{};
}

Result<RedisValue> RedisClient::command(const std::vector<std::string_view>& args) {
  auto r = pipeline({args});
  if (!r) return make_error(r.error());
  RedisValue v = std::move(r->front());
  if (v.type == RedisValue::kError) return make_error(v.str);
  return v;
}

Result<std::vector<RedisValue>> RedisClient::pipeline(
    const std::vector<std::vector<std::string_view>>& cmds) {
  if (auto st = connect(); !st) return make_error(st.error());
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& args : cmds) {
    argv.clear();
    lens.clear();
    for (auto a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()) !=
        REDIS_OK)
      return make_error(fail_connection(ctx_->errstr).error());
  }
  std::vector<RedisValue> out;
  out.reserve(cmds.size());
  for (size_t i = 0; i < cmds.size(); ++i) {
    void* reply = nullptr;
    if (redisGetReply(ctx_, &reply) != REDIS_OK || !reply)
      return make_error(
          fail_connection(ctx_->errstr[0] ? ctx_->errstr : "connection lost").error());
    out.push_back(copy_reply(static_cast<redisReply*>(reply)));
    freeReplyObject(reply);
  }
  return out;
}

Result<std::string> StreamProducer::add(std::string_view data) {
  auto r = add_many({data});
  if (!r) return make_error(r.error());
  // add_many returns the count; one entry: read its id back from a plain XADD reply.
  return last_id_;
}

Result<size_t> StreamProducer::add_many(const std::vector<std::string_view>& data) {
  std::vector<std::vector<std::string_view>> cmds;
  std::vector<std::string> signatures;  // owned here: the commands hold views
  cmds.reserve(data.size());
  if (signer_) {
    signatures.reserve(data.size());
    for (auto d : data) signatures.push_back(signer_(d));
  }
  for (size_t i = 0; i < data.size(); ++i) {
    if (signer_)
      cmds.push_back({"XADD", stream_, "*", "b", data[i], "n", node_, "s", signatures[i]});
    else
      cmds.push_back({"XADD", stream_, "*", "b", data[i]});
  }
  auto r = client_.pipeline(cmds);
  if (!r) return make_error(r.error());
  size_t added = 0;
  for (const auto& v : *r) {
    if (v.type == RedisValue::kError) {
      if (added == 0) return make_error(v.str);
      break;
    }
    last_id_ = v.str;
    ++added;
  }
  return added;
}

Status StreamConsumer::ensure_group() {
  auto r = client_.command({"XGROUP", "CREATE", options_.stream, options_.group, "0", "MKSTREAM"});
  if (!r && r.error().find("BUSYGROUP") == std::string::npos) return make_error(r.error());
  return Ok{};
}

Result<std::vector<StreamEntry>> StreamConsumer::read_group(size_t count, int block_ms,
                                                            const std::string& id) {
  std::string n = std::to_string(count);
  std::string block = std::to_string(block_ms);
  std::vector<std::string_view> args = {"XREADGROUP",      "GROUP", options_.group,
                                        options_.consumer, "COUNT", n};
  if (block_ms >= 0) {
    args.push_back("BLOCK");
    args.push_back(block);
  }
  args.push_back("STREAMS");
  args.push_back(options_.stream);
  args.push_back(id);
  auto r = client_.command(args);
  if (!r) {
    // The stream or group vanished (a Redis restarted without its AOF): recreate, read again.
    if (r.error().find("NOGROUP") != std::string::npos) {
      if (auto st = ensure_group(); !st) return make_error(st.error());
      return std::vector<StreamEntry>{};
    }
    return make_error(r.error());
  }
  if (r->type != RedisValue::kArray || r->elements.empty()) return std::vector<StreamEntry>{};
  const auto& stream = r->elements[0];
  if (stream.elements.size() < 2) return std::vector<StreamEntry>{};
  return parse_entries(stream.elements[1]);
}

Result<std::vector<StreamEntry>> StreamConsumer::read_own_pending(size_t count,
                                                                  const std::string& after) {
  return read_group(count, -1, after);
}

Result<std::vector<StreamEntry>> StreamConsumer::read(size_t count, int block_ms) {
  return read_group(count, block_ms, ">");
}

Status StreamConsumer::ack(const std::vector<std::string>& ids) {
  if (ids.empty()) return Ok{};
  std::vector<std::string_view> args = {"XACK", options_.stream, options_.group};
  for (const auto& id : ids) args.push_back(id);
  auto r = client_.command(args);
  if (!r) return make_error(r.error());
  return Ok{};
}

Result<std::vector<StreamEntry>> StreamConsumer::autoclaim(int min_idle_ms, size_t count) {
  std::string idle = std::to_string(min_idle_ms);
  std::string n = std::to_string(count);
  auto r = client_.command({"XAUTOCLAIM", options_.stream, options_.group, options_.consumer, idle,
                            claim_cursor_, "COUNT", n});
  if (!r) {
    if (r.error().find("NOGROUP") != std::string::npos) {
      if (auto st = ensure_group(); !st) return make_error(st.error());
      return std::vector<StreamEntry>{};
    }
    return make_error(r.error());
  }
  if (r->type != RedisValue::kArray || r->elements.size() < 2) return std::vector<StreamEntry>{};
  claim_cursor_ = r->elements[0].str.empty() ? "0-0" : r->elements[0].str;
  auto entries = parse_entries(r->elements[1]);
  // Redis 7: ids of pending entries that were deleted from the stream; they carry no data.
  if (r->elements.size() > 2)
    for (const auto& id : r->elements[2].elements) {
      StreamEntry e;
      e.id = id.str;
      e.deleted = true;
      entries.push_back(std::move(e));
    }
  return entries;
}

Result<uint64_t> StreamConsumer::trim() {
  auto pending = client_.command({"XPENDING", options_.stream, options_.group});
  if (!pending) return make_error(pending.error());
  std::string min_id;
  if (pending->elements.size() >= 2 && pending->elements[0].integer > 0)
    min_id = pending->elements[1].str;
  if (min_id.empty()) {
    // Nothing pending: everything up to the last delivered entry is acknowledged.
    auto groups = client_.command({"XINFO", "GROUPS", options_.stream});
    if (!groups) return make_error(groups.error());
    for (const auto& g : groups->elements) {
      std::string name, last;
      for (size_t i = 0; i + 1 < g.elements.size(); i += 2) {
        if (g.elements[i].str == "name") name = g.elements[i + 1].str;
        if (g.elements[i].str == "last-delivered-id") last = g.elements[i + 1].str;
      }
      if (name == options_.group) min_id = last;
    }
  }
  if (min_id.empty() || min_id == "0-0") return uint64_t{0};
  // Other groups on the same stream are not ours to trim for; scope uses one.
  auto r = client_.command({"XTRIM", options_.stream, "MINID", min_id});
  if (!r) return make_error(r.error());
  return static_cast<uint64_t>(r->integer);
}

Status StreamConsumer::dead_letter(const StreamEntry& entry, const std::string& reason,
                                   size_t keep_bytes) {
  std::string dead = options_.stream + ":dead";
  std::string max_len = std::to_string(options_.dead_max_len);
  std::vector<std::string_view> add = {
      "XADD",  dead,     "MAXLEN", "~",
      max_len, "*",      "b",      std::string_view(entry.data).substr(0, keep_bytes),
      "id",    entry.id, "error",  reason};
  std::string bytes = std::to_string(entry.data.size());
  if (entry.data.size() > keep_bytes) {
    add.insert(add.end(), {"bytes", bytes, "truncated", "1"});
  }
  if (!entry.node.empty()) {
    add.push_back("n");
    add.push_back(entry.node);
  }
  auto r = client_.pipeline({add, {"XACK", options_.stream, options_.group, entry.id}});
  if (!r) return make_error(r.error());
  for (const auto& v : *r)
    if (v.type == RedisValue::kError) return make_error(v.str);
  return Ok{};
}

}  // namespace scope::transport
