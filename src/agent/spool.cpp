#include "agent/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <vector>

#include "common/data_dir.h"

namespace scope::agent {

namespace {

constexpr uint32_t kMagic = 0x31525053;  // "SPR1"
constexpr size_t kHeader = 20;
constexpr uint64_t kMaxRecord = 256ull << 20;

std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    t[i] = c;
  }
  return t;
}

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

uint32_t load32(const unsigned char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t load64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

uint32_t record_crc(uint64_t events, std::string_view payload) {
  uint32_t c = crc32c(0, &events, sizeof events);
  return crc32c(c, payload.data(), payload.size());
}

bool read_exact(int fd, void* buf, size_t n, uint64_t off) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, static_cast<off_t>(off));
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
    off += static_cast<uint64_t>(r);
  }
  return true;
}

}  // namespace

uint32_t crc32c(uint32_t crc, const void* data, size_t n) {
  static const std::array<uint32_t, 256> table = make_table();
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

Result<std::unique_ptr<Spool>> Spool::open(const SpoolOptions& options) {
  if (options.dir.empty()) return make_error("spool: no directory");
  if (options.max_bytes < 4096) return make_error("spool: max size below 4 KiB");
  std::unique_ptr<Spool> s(new Spool(options));
  s->options_.segment_bytes =
      std::max<uint64_t>(1024, std::min(options.segment_bytes, options.max_bytes / 4));
  if (auto st = s->init(); !st) return make_error(st.error());
  return s;
}

Spool::~Spool() {
  if (write_fd_ >= 0) ::close(write_fd_);
}

std::string Spool::path_of(uint64_t number) const {
  char name[32];
  std::snprintf(name, sizeof name, "%012llu.seg", static_cast<unsigned long long>(number));
  return options_.dir + "/" + name;
}

void Spool::add_pending(int64_t batches, int64_t events, int64_t bytes) {
  pending_batches_ += static_cast<uint64_t>(batches);
  pending_events_ += static_cast<uint64_t>(events);
  bytes_ += static_cast<uint64_t>(bytes);
}

// Counts the valid records of a segment from `from` on; a torn or corrupt
// record ends the segment there (counted, and cut off so appends stay valid).
Status Spool::scan(Segment& seg, uint64_t from, bool truncate_tail) {
  std::string path = path_of(seg.number);
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return make_error(errno_text("spool: cannot read " + path));
  struct stat st {};
  fstat(fd, &st);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  uint64_t off = from;
  std::string payload;
  while (off < size) {
    unsigned char h[kHeader];
    bool ok = off + kHeader <= size && read_exact(fd, h, kHeader, off);
    uint32_t len = ok ? load32(h + 4) : 0;
    ok = ok && load32(h) == kMagic && len <= kMaxRecord && off + kHeader + len <= size;
    if (ok) {
      payload.resize(len);
      ok = read_exact(fd, payload.data(), len, off + kHeader) &&
           record_crc(load64(h + 8), payload) == load32(h + 16);
    }
    if (!ok) {
      ++corrupt_;
      spdlog::warn("scope: spool {}: damaged record at byte {} ({} bytes after it dropped)", path,
                   off, size - off);
      break;
    }
    seg.batches += 1;
    seg.events += load64(h + 8);
    off += kHeader + len;
  }
  ::close(fd);
  if (off < size && truncate_tail && ::truncate(path.c_str(), static_cast<off_t>(off)) != 0)
    return make_error(errno_text("spool: cannot truncate " + path));
  seg.bytes = off < size && truncate_tail ? off : size;
  return Ok{};
}

Status Spool::init() {
  // Created 0700, and refused when another user could have planted segments in it.
  if (auto st = ensure_private_dir(options_.dir, "spool dir"); !st) return st;
  uint64_t head_seg = 0, head_off = 0;
  {
    auto text = read_private_file(options_.dir + "/head", FileAccess::kState, 4096);
    if (!text && text.code() != Errc::kNotFound) return make_error("spool: " + text.error());
    std::istringstream in(text ? *text : std::string());
    if (!(in >> head_seg >> head_off)) head_seg = head_off = 0;
  }
  std::error_code ec;
  std::vector<uint64_t> numbers;
  for (const auto& e : std::filesystem::directory_iterator(options_.dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.size() == 16 && name.ends_with(".seg"))
      numbers.push_back(std::strtoull(name.c_str(), nullptr, 10));
  }
  std::sort(numbers.begin(), numbers.end());
  for (uint64_t n : numbers) {
    if (n < head_seg) {  // replayed before a restart
      ::unlink(path_of(n).c_str());
      continue;
    }
    Segment seg;
    seg.number = n;
    uint64_t from = n == head_seg ? head_off : 0;
    if (auto st = scan(seg, from, true); !st) return st;
    if (n == head_seg) {
      head_offset_ = std::min(head_off, seg.bytes);
    }
    if (segments_.empty() && n != head_seg) head_offset_ = 0;
    segments_.push_back(seg);
    add_pending(static_cast<int64_t>(seg.batches), static_cast<int64_t>(seg.events),
                static_cast<int64_t>(seg.bytes));
  }
  bool fresh = segments_.empty();
  if (fresh) {
    Segment seg;
    seg.number = std::max<uint64_t>(head_seg, 1);
    segments_.push_back(seg);
    head_offset_ = 0;
  }
  auto fd = open_segment(segments_.back().number, !fresh);
  if (!fd) return fd.failure();
  write_fd_ = *fd;
  if (pending_batches_ > 0)
    spdlog::warn("scope: spool {} holds {} batches ({} events) from an earlier run: replaying",
                 options_.dir, pending_batches_.load(), pending_events_.load());
  return save_head();
}

Status Spool::roll() {
  uint64_t next = segments_.back().number + 1;
  auto fd = open_segment(next, false);
  if (!fd) return fd.failure();
  if (write_fd_ >= 0) ::close(write_fd_);
  write_fd_ = *fd;
  Segment seg;
  seg.number = next;
  segments_.push_back(seg);
  return Ok{};
}

// Drops the oldest segment and whatever it still held (counted).
void Spool::drop_front() {
  Segment seg = segments_.front();
  if (seg.batches > 0) {
    dropped_batches_ += seg.batches;
    dropped_events_ += seg.events;
    spdlog::warn("scope: spool full ({} bytes): dropped its oldest {} batches ({} events)",
                 options_.max_bytes, seg.batches, seg.events);
  }
  add_pending(-static_cast<int64_t>(seg.batches), -static_cast<int64_t>(seg.events),
              -static_cast<int64_t>(seg.bytes));
  ::unlink(path_of(seg.number).c_str());
  bool was_active = segments_.size() == 1;
  segments_.pop_front();
  head_offset_ = 0;
  peeked_size_ = 0;
  if (was_active) {
    Segment next;
    next.number = seg.number + 1;
    segments_.push_back(next);
    if (write_fd_ >= 0) ::close(write_fd_);
    auto fd = open_segment(next.number, false);
    write_fd_ = fd ? *fd : -1;
  }
  (void)save_head();
}

Status Spool::append(std::string_view data, uint64_t events) {
  uint64_t size = kHeader + data.size();
  if (size > options_.max_bytes || data.size() > kMaxRecord) {
    ++dropped_batches_;
    dropped_events_ += events;
    spdlog::warn("scope: a batch of {} bytes does not fit the spool ({} bytes): dropped",
                 data.size(), options_.max_bytes);
    return Ok{};
  }
  while (bytes_ + size > options_.max_bytes && !segments_.empty()) drop_front();
  if (write_fd_ < 0) return make_error("spool: no segment open");
  if (segments_.back().bytes > 0 && segments_.back().bytes + size > options_.segment_bytes)
    if (auto st = roll(); !st) return st;
  unsigned char h[kHeader];
  uint32_t magic = kMagic, len = static_cast<uint32_t>(data.size());
  uint32_t crc = record_crc(events, data);
  std::memcpy(h, &magic, 4);
  std::memcpy(h + 4, &len, 4);
  std::memcpy(h + 8, &events, 8);
  std::memcpy(h + 16, &crc, 4);
  iovec iov[2] = {{h, kHeader}, {const_cast<char*>(data.data()), data.size()}};
  ssize_t n = ::writev(write_fd_, iov, 2);
  if (n != static_cast<ssize_t>(size)) {
    std::string err = errno_text("spool: cannot write");
    // Cut a partial record off so the segment stays readable.
    if (n > 0) (void)::ftruncate(write_fd_, static_cast<off_t>(segments_.back().bytes));
    return make_error(err);
  }
  if (options_.fsync && ::fdatasync(write_fd_) != 0) return make_error(errno_text("spool: fsync"));
  Segment& seg = segments_.back();
  seg.bytes += size;
  seg.batches += 1;
  seg.events += events;
  add_pending(1, static_cast<int64_t>(events), static_cast<int64_t>(size));
  ++appended_batches_;
  appended_events_ += events;
  return Ok{};
}

Result<std::optional<SpoolRecord>> Spool::peek() {
  while (pending_batches_ > 0 && !segments_.empty()) {
    Segment& seg = segments_.front();
    if (seg.batches == 0) {
      if (segments_.size() == 1) break;
      add_pending(0, 0, -static_cast<int64_t>(seg.bytes));
      ::unlink(path_of(seg.number).c_str());
      segments_.pop_front();
      head_offset_ = 0;
      continue;
    }
    std::string path = path_of(seg.number);
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return make_error(errno_text("spool: cannot read " + path));
    unsigned char h[kHeader];
    bool ok = read_exact(fd, h, kHeader, head_offset_) && load32(h) == kMagic &&
              load32(h + 4) <= kMaxRecord;
    SpoolRecord rec;
    if (ok) {
      rec.data.resize(load32(h + 4));
      rec.events = load64(h + 8);
      ok = read_exact(fd, rec.data.data(), rec.data.size(), head_offset_ + kHeader) &&
           record_crc(rec.events, rec.data) == load32(h + 16);
    }
    ::close(fd);
    if (!ok) {
      // Damaged since it was written: the rest of this segment is lost, and counted.
      ++corrupt_;
      dropped_batches_ += seg.batches;
      dropped_events_ += seg.events;
      spdlog::warn("scope: spool {}: damaged record at byte {}: {} batches ({} events) dropped",
                   path, head_offset_, seg.batches, seg.events);
      add_pending(-static_cast<int64_t>(seg.batches), -static_cast<int64_t>(seg.events), 0);
      seg.batches = seg.events = 0;
      head_offset_ = seg.bytes;
      continue;
    }
    peeked_size_ = kHeader + rec.data.size();
    peeked_events_ = rec.events;
    return std::optional<SpoolRecord>(std::move(rec));
  }
  return std::optional<SpoolRecord>();
}

Status Spool::pop() {
  if (peeked_size_ == 0 || segments_.empty()) return make_error("spool: pop without peek");
  Segment& seg = segments_.front();
  head_offset_ += peeked_size_;
  seg.batches -= 1;
  seg.events -= peeked_events_;
  add_pending(-1, -static_cast<int64_t>(peeked_events_), 0);
  ++replayed_batches_;
  replayed_events_ += peeked_events_;
  peeked_size_ = 0;
  if (seg.batches == 0) {
    // Fully replayed: remove it; the active segment starts over as a new file.
    add_pending(0, 0, -static_cast<int64_t>(seg.bytes));
    ::unlink(path_of(seg.number).c_str());
    bool was_active = segments_.size() == 1;
    uint64_t number = seg.number;
    segments_.pop_front();
    head_offset_ = 0;
    if (was_active) {
      Segment next;
      next.number = number + 1;
      segments_.push_back(next);
      if (write_fd_ >= 0) ::close(write_fd_);
      auto fd = open_segment(next.number, false);
      write_fd_ = fd ? *fd : -1;
      if (!fd) return fd.failure();
    }
  }
  return save_head();
}

// Not fsync'ed: losing it replays a few batches twice, which stores ignore.
Status Spool::save_head() {
  std::string text = std::to_string(segments_.empty() ? 0 : segments_.front().number) + " " +
                     std::to_string(head_offset_) + "\n";
  if (auto st = replace_file(options_.dir + "/head", text, false); !st)
    return make_error("spool: cannot save its head: " + st.error());
  return Ok{};
}

// Appends go to a segment scan() read (never through a symlink), or to a new file (O_EXCL).
Result<int> Spool::open_segment(uint64_t number, bool existing) {
  std::string path = path_of(number);
  if (!existing) {
    auto fd = create_private_file(path, O_APPEND);
    if (!fd) return make_error("spool: " + fd.error());
    return fd;
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return make_error(errno_text("spool: cannot open " + path));
  return fd;
}

SpoolStats Spool::stats() const {
  SpoolStats s;
  s.appended_batches = appended_batches_;
  s.appended_events = appended_events_;
  s.replayed_batches = replayed_batches_;
  s.replayed_events = replayed_events_;
  s.dropped_batches = dropped_batches_;
  s.dropped_events = dropped_events_;
  s.corrupt_records = corrupt_;
  s.pending_batches = pending_batches_;
  s.pending_events = pending_events_;
  s.bytes = bytes_;
  return s;
}

}  // namespace scope::agent
