#include "event/batch.h"

#include <zstd.h>

#include <cstring>
#include <limits>

namespace scope::event {

namespace {

constexpr char kMagic[4] = {'S', 'C', 'P', 'B'};
constexpr size_t kHeaderBytes = 12;
constexpr uint8_t kCodecZstd = 1;
enum : uint8_t { kTagNull = 0, kTagInt = 1, kTagText = 2 };

uint64_t zigzag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t unzigzag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_str(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s);
}

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

// Bounds-checked reading of the payload; every read fails instead of overrunning.
class Reader {
 public:
  Reader(std::string_view data, const BatchLimits& limits) : data_(data), limits_(limits) {}
  bool varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return false;
      auto b = static_cast<uint8_t>(data_[pos_++]);
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;  // more than 10 bytes
  }
  bool byte(uint8_t& b) {
    if (pos_ >= data_.size()) return false;
    b = static_cast<uint8_t>(data_[pos_++]);
    return true;
  }
  bool str(std::string& s) {
    uint64_t n = 0;
    if (!varint(n) || n > limits_.max_string_bytes || n > data_.size() - pos_) return false;
    s.assign(data_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == data_.size(); }
  size_t pos() const { return pos_; }

 private:
  std::string_view data_;
  const BatchLimits& limits_;
  size_t pos_ = 0;
};

}  // namespace

std::string encode_batch(const Batch& batch, int zstd_level) {
  std::string payload;
  payload.reserve(64 + batch.events.size() * 48);
  put_str(payload, batch.node);
  put_str(payload, batch.boot_id);
  put_varint(payload, batch.first_seq);
  put_varint(payload, batch.events.size());
  int64_t prev_ts = 0;
  for (const auto& e : batch.events) {
    payload.push_back(static_cast<char>(e.family));
    put_varint(payload, zigzag(static_cast<int64_t>(static_cast<uint64_t>(e.ts_ns) -
                                                    static_cast<uint64_t>(prev_ts))));
    prev_ts = e.ts_ns;
    put_varint(payload, e.pid);
    put_varint(payload, e.tid);
    put_str(payload, e.comm);
    put_varint(payload, e.values.size());
    for (const auto& v : e.values) {
      if (const auto* i = std::get_if<int64_t>(&v)) {
        payload.push_back(kTagInt);
        put_varint(payload, zigzag(*i));
      } else if (const auto* s = std::get_if<std::string>(&v)) {
        payload.push_back(kTagText);
        put_str(payload, *s);
      } else {
        payload.push_back(kTagNull);
      }
    }
  }

  std::string out(kMagic, 4);
  out.push_back(static_cast<char>(kBatchVersion));
  out.push_back(static_cast<char>(kCodecZstd));
  out.append(2, '\0');
  put_u32(out, static_cast<uint32_t>(payload.size()));
  size_t bound = ZSTD_compressBound(payload.size());
  out.resize(kHeaderBytes + bound);
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, zstd_level);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  size_t n = ZSTD_compress2(cctx, out.data() + kHeaderBytes, bound, payload.data(), payload.size());
  ZSTD_freeCCtx(cctx);
  out.resize(kHeaderBytes + (ZSTD_isError(n) ? 0 : n));
  return out;
}

Result<Batch> decode_batch(std::string_view bytes, const BatchLimits& limits) {
  if (bytes.size() > limits.max_encoded_bytes)
    return make_error("batch of " + std::to_string(bytes.size()) + " bytes is over the limit");
  if (bytes.size() < kHeaderBytes) return make_error("truncated batch header");
  if (std::memcmp(bytes.data(), kMagic, 4) != 0) return make_error("not a scope batch (bad magic)");
  auto version = static_cast<uint8_t>(bytes[4]);
  if (version != kBatchVersion)
    return make_error("unknown batch version " + std::to_string(version));
  if (static_cast<uint8_t>(bytes[5]) != kCodecZstd) return make_error("unknown batch codec");
  uint32_t payload_size = 0;
  for (int i = 0; i < 4; ++i)
    payload_size |= uint32_t(static_cast<uint8_t>(bytes[8 + i])) << (8 * i);
  if (payload_size > limits.max_payload_bytes) return make_error("batch payload over the limit");

  std::string_view frame = bytes.substr(kHeaderBytes);
  unsigned long long content = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN ||
      content != payload_size)
    return make_error("corrupt batch (compressed frame does not match its header)");
  std::string payload(payload_size, '\0');
  size_t n = ZSTD_decompress(payload.data(), payload.size(), frame.data(), frame.size());
  if (ZSTD_isError(n) || n != payload_size)
    return make_error(std::string("corrupt batch (") +
                      (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short payload") + ")");

  Reader r(payload, limits);
  Batch b;
  uint64_t count = 0;
  if (!r.str(b.node) || !r.str(b.boot_id) || !r.varint(b.first_seq) || !r.varint(count))
    return make_error("truncated batch header fields");
  if (b.node.empty()) return make_error("batch without a node name");
  if (count > limits.max_events) return make_error("batch holds too many events");
  // Each event takes at least 6 bytes: a count beyond that is a lie.
  if (count > payload.size() / 6) return make_error("batch event count exceeds its payload");
  if (count > 0 && b.first_seq > std::numeric_limits<uint64_t>::max() - count)
    return make_error("batch sequence numbers overflow");
  b.events.resize(count);
  const auto& all = schemas();
  uint64_t prev_ts = 0;
  for (uint64_t i = 0; i < count; ++i) {
    EventRow& e = b.events[i];
    uint64_t ts_delta = 0, pid = 0, tid = 0, nvalues = 0;
    if (!r.byte(e.family) || !r.varint(ts_delta) || !r.varint(pid) || !r.varint(tid) ||
        !r.str(e.comm) || !r.varint(nvalues))
      return make_error("truncated event " + std::to_string(i));
    if (e.family >= all.size())
      return make_error("event " + std::to_string(i) + " has an unknown family " +
                        std::to_string(e.family));
    // Columns are only appended: an agent older than this server sends fewer (the rest NULL).
    if (nvalues > all[e.family].columns.size())
      return make_error("event " + std::to_string(i) + " has " + std::to_string(nvalues) +
                        " values, its family " + std::string(all[e.family].family) + " has " +
                        std::to_string(all[e.family].columns.size()) +
                        " columns (an agent newer than this server?)");
    if (pid > UINT32_MAX || tid > UINT32_MAX)
      return make_error("event " + std::to_string(i) + " has an out-of-range pid/tid");
    prev_ts += static_cast<uint64_t>(unzigzag(ts_delta));
    e.ts_ns = static_cast<int64_t>(prev_ts);
    e.pid = static_cast<uint32_t>(pid);
    e.tid = static_cast<uint32_t>(tid);
    e.values.resize(all[e.family].columns.size());
    for (uint64_t k = 0; k < nvalues; ++k) {
      uint8_t tag = 0;
      if (!r.byte(tag)) return make_error("truncated event " + std::to_string(i));
      const ColumnType want = all[e.family].columns[k].type;
      if (tag == kTagNull) continue;
      if (tag == kTagInt && want == ColumnType::kInt) {
        uint64_t v = 0;
        if (!r.varint(v)) return make_error("truncated event " + std::to_string(i));
        e.values[k] = unzigzag(v);
      } else if (tag == kTagText && want == ColumnType::kText) {
        std::string s;
        if (!r.str(s)) return make_error("truncated event " + std::to_string(i));
        e.values[k] = std::move(s);
      } else {
        return make_error("event " + std::to_string(i) + " column " +
                          std::string(all[e.family].columns[k].name) + ": wrong value type");
      }
    }
  }
  if (!r.done()) return make_error("trailing bytes after the last event");
  return b;
}

}  // namespace scope::event
