#include "agent/sequence.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "common/text.h"

namespace scope::agent {

Result<SequenceAllocator> SequenceAllocator::open(const std::string& path, uint64_t block) {
  SequenceAllocator a;
  a.path_ = path;
  a.block_ = block;
  a.reserved_ = 0;
  std::ifstream in(path);
  uint64_t saved = 0;
  if (in && (in >> saved)) a.reserved_ = saved;
  a.next_ = a.reserved_;
  if (auto st = a.reserve(a.next_ + block); !st) return make_error(st.error());
  return a;
}

SequenceAllocator SequenceAllocator::in_memory(uint64_t first) {
  SequenceAllocator a;
  a.next_ = first;
  return a;
}

SequenceAllocator::SequenceAllocator(SequenceAllocator&& o) noexcept
    : path_(std::move(o.path_)), block_(o.block_), next_(o.next_), reserved_(o.reserved_) {}

Status SequenceAllocator::reserve(uint64_t up_to) {
  // Write a new file and rename it over the old: a crash leaves one or the other.
  std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error("cannot write " + tmp + ": " + std::strerror(errno));
  std::string text = std::to_string(up_to) + "\n";
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path_.c_str()) != 0)
    return make_error("cannot save " + path_ + ": " + std::strerror(ok ? errno : err));
  reserved_ = up_to;
  return Ok{};
}

Result<uint64_t> SequenceAllocator::take(uint64_t n) {
  std::lock_guard lock(mu_);
  if (next_ + n > reserved_) {
    if (auto st = reserve(next_ + n + block_); !st) return make_error(st.error());
  }
  uint64_t first = next_;
  next_ += n;
  return first;
}

}  // namespace scope::agent
