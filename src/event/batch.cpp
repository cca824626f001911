#include "event/batch.h"

#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <variant>

namespace scope::event {

namespace {

constexpr char kMagic[4] = {'S', 'C', 'P', 'B'};
constexpr size_t kHeaderBytes = 12;
constexpr uint8_t kCodecZstd = 1;
enum : uint8_t { kTagNull = 0, kTagInt = 1, kTagText = 2 };
// A zstd skippable frame: a magic in 0x184D2A50..5F, a u32 size, that many bytes.
constexpr uint32_t kSkippableMagic = 0x184D2A50;
constexpr size_t kSkippableHeaderBytes = 8;
// Decompressed in steps of this much; a zstd block is at most 128 KiB.
constexpr size_t kStepBytes = 128u << 10;
// zstd's window for a frame of at most 16 MiB: a frame asking for more is refused before
// zstd allocates it.
constexpr int kWindowLogMax = 24;

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

uint32_t get_u32(std::string_view in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t(static_cast<uint8_t>(in[i])) << (8 * i);
  return v;
}

size_t varint_bytes(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

struct DCtxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

// The error of a refused batch, its cause in `why`.
struct Refused {
  BatchRefusal cause;
  std::string message;
};

struct Payload {
  std::unique_ptr<char[]> data;
  size_t size = 0;
};

// The payload of `frame` (the bytes after the header, `total` the whole batch's size), in
// steps, never past min(claimed, limits); then nothing but one skippable frame may follow.
// The buffer grows with what the frame really produced, doubling, and at most to one byte
// past the most it may hold: its last copy touches no more than that most.
std::variant<Payload, Refused> decompress(std::string_view frame, size_t claimed, size_t total,
                                          const BatchLimits& limits) {
  auto refuse = [](BatchRefusal c, std::string m) { return Refused{c, std::move(m)}; };
  unsigned long long content = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (content == ZSTD_CONTENTSIZE_ERROR)
    return refuse(BatchRefusal::kUndecodable, "corrupt batch (not a zstd frame)");
  // A frame without its size is read in steps like any other; one that states a size must
  // state the header's.
  if (content != ZSTD_CONTENTSIZE_UNKNOWN && content != claimed)
    return refuse(BatchRefusal::kUndecodable,
                  "corrupt batch (compressed frame does not match its header)");
  std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx(ZSTD_createDCtx());
  if (!dctx || ZSTD_isError(ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, kWindowLogMax)))
    return refuse(BatchRefusal::kUndecodable, "cannot set up zstd");
  const size_t ratio_bound = limits.max_ratio * total;
  const size_t most = std::min({claimed, limits.max_payload_bytes, ratio_bound}) + 1;
  Payload out;
  size_t capacity = 0;
  ZSTD_inBuffer in{frame.data(), frame.size(), 0};
  while (true) {
    if (out.size == capacity) {
      size_t grown = capacity == 0         ? std::min(kStepBytes, most)
                     : capacity * 4 > most ? most
                                           : capacity * 2;
      auto bigger = std::make_unique_for_overwrite<char[]>(grown);
      if (out.size > 0) std::memcpy(bigger.get(), out.data.get(), out.size);
      out.data = std::move(bigger);
      capacity = grown;
    }
    ZSTD_outBuffer o{out.data.get() + out.size, capacity - out.size, 0};
    size_t consumed = in.pos;
    size_t ret = ZSTD_decompressStream(dctx.get(), &o, &in);
    out.size += o.pos;
    if (ZSTD_isError(ret)) {
      if (ZSTD_getErrorCode(ret) == ZSTD_error_frameParameter_windowTooLarge)
        return refuse(BatchRefusal::kTooLarge, "batch frame asks for a zstd window over 16 MiB");
      return refuse(BatchRefusal::kUndecodable,
                    std::string("corrupt batch (") + ZSTD_getErrorName(ret) + ")");
    }
    if (out.size > ratio_bound)
      return refuse(BatchRefusal::kRatio, "batch expands past " + std::to_string(out.size) +
                                              " bytes from " + std::to_string(total) + " (over " +
                                              std::to_string(limits.max_ratio) + ":1)");
    if (out.size > limits.max_payload_bytes)
      return refuse(
          BatchRefusal::kTooLarge,
          "batch expands past " + std::to_string(limits.max_payload_bytes) + " bytes decompressed");
    if (out.size > claimed)
      return refuse(BatchRefusal::kUndecodable, "corrupt batch (its frame holds more than the " +
                                                    std::to_string(claimed) +
                                                    " bytes its header says)");
    if (ret == 0) break;  // the frame is complete (and its checksum checked)
    if (o.pos < o.size && (in.pos == in.size || (o.pos == 0 && in.pos == consumed)))
      return refuse(BatchRefusal::kUndecodable, "corrupt batch (truncated frame)");
  }
  if (out.size != claimed)
    return refuse(BatchRefusal::kUndecodable, "corrupt batch (short payload)");
  std::string_view rest = frame.substr(in.pos);
  if (!rest.empty() &&
      (rest.size() < kSkippableHeaderBytes || (get_u32(rest) & 0xFFFFFFF0u) != kSkippableMagic ||
       get_u32(rest.substr(4)) != rest.size() - kSkippableHeaderBytes))
    return refuse(BatchRefusal::kUndecodable, "trailing bytes after the batch's frame");
  return out;
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
  // Repetitive events (a kernel launched in a loop) compress past kMaxBatchRatio:1: pad so
  // that a server takes the batch for what it is, not for a bomb.
  size_t least = payload.size() / kMaxBatchRatio + 1;
  if (out.size() < least) {
    size_t pad =
        least > out.size() + kSkippableHeaderBytes ? least - out.size() - kSkippableHeaderBytes : 0;
    put_u32(out, kSkippableMagic);
    put_u32(out, static_cast<uint32_t>(pad));
    out.append(pad, '\0');
  }
  return out;
}

size_t payload_bytes(const EventRow& e) {
  size_t n = 1 + 10 + varint_bytes(e.pid) + varint_bytes(e.tid) + varint_bytes(e.comm.size()) +
             e.comm.size() + varint_bytes(e.values.size());
  for (const auto& v : e.values) {
    if (const auto* s = std::get_if<std::string>(&v))
      n += 1 + varint_bytes(s->size()) + s->size();
    else
      n += 1 + 10;
  }
  return n;
}

const char* refusal_cause(BatchRefusal why) {
  switch (why) {
    case BatchRefusal::kUndecodable:
      return "undecodable";
    case BatchRefusal::kTooLarge:
      return "too_large";
    case BatchRefusal::kRatio:
      return "ratio";
    case BatchRefusal::kTooManyEvents:
      return "too_many_events";
    case BatchRefusal::kBadNode:
      return "bad_node";
  }
  return "undecodable";
}

bool valid_identity(std::string_view name) {
  if (name.empty() || name.size() > kMaxIdentityBytes) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

Result<Batch> decode_batch(std::string_view bytes, const BatchLimits& limits, BatchRefusal* why) {
  BatchRefusal ignored;
  BatchRefusal& cause = why ? *why : ignored;
  auto refuse = [&cause](BatchRefusal c, std::string message) -> Result<Batch> {
    cause = c;
    return make_error(std::move(message));
  };
  cause = BatchRefusal::kUndecodable;
  if (bytes.size() > limits.max_encoded_bytes)
    return refuse(BatchRefusal::kTooLarge,
                  "batch of " + std::to_string(bytes.size()) + " bytes is over the limit");
  if (bytes.size() < kHeaderBytes) return make_error("truncated batch header");
  if (std::memcmp(bytes.data(), kMagic, 4) != 0) return make_error("not a scope batch (bad magic)");
  auto version = static_cast<uint8_t>(bytes[4]);
  if (version != kBatchVersion)
    return make_error("unknown batch version " + std::to_string(version));
  if (static_cast<uint8_t>(bytes[5]) != kCodecZstd) return make_error("unknown batch codec");
  if (bytes[6] != 0 || bytes[7] != 0) return make_error("not a scope batch (reserved bytes set)");
  uint32_t payload_size = get_u32(bytes.substr(8));
  // What the header claims, refused before anything is decompressed.
  if (payload_size > limits.max_payload_bytes)
    return refuse(BatchRefusal::kTooLarge, "batch of " + std::to_string(payload_size) +
                                               " bytes decompressed is over the limit of " +
                                               std::to_string(limits.max_payload_bytes));
  if (payload_size > limits.max_ratio * bytes.size())
    return refuse(BatchRefusal::kRatio, "batch claims " + std::to_string(payload_size) +
                                            " bytes from " + std::to_string(bytes.size()) +
                                            " (over " + std::to_string(limits.max_ratio) + ":1)");

  auto inflated = decompress(bytes.substr(kHeaderBytes), payload_size, bytes.size(), limits);
  if (auto* r = std::get_if<Refused>(&inflated)) return refuse(r->cause, std::move(r->message));
  const Payload& inflated_payload = std::get<Payload>(inflated);
  std::string_view payload(inflated_payload.data.get(), inflated_payload.size);

  Reader r(payload, limits);
  Batch b;
  uint64_t count = 0;
  if (!r.str(b.node) || !r.str(b.boot_id) || !r.varint(b.first_seq) || !r.varint(count))
    return make_error("truncated batch header fields");
  if (!valid_identity(b.node))
    return refuse(BatchRefusal::kBadNode, "batch with a bad node name (" +
                                              std::to_string(b.node.size()) +
                                              " bytes; 1-64 of A-Z a-z 0-9 . _ - wanted)");
  if (!valid_identity(b.boot_id))
    return refuse(BatchRefusal::kBadNode, "batch from node " + b.node + " with a bad boot id (" +
                                              std::to_string(b.boot_id.size()) +
                                              " bytes; 1-64 of A-Z a-z 0-9 . _ - wanted)");
  if (count > limits.max_events)
    return refuse(BatchRefusal::kTooManyEvents, "batch holds " + std::to_string(count) +
                                                    " events, over the limit of " +
                                                    std::to_string(limits.max_events));
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
