#include "agent/sequence.h"

#include <charconv>

#include "common/data_dir.h"

namespace scope::agent {

Result<SequenceAllocator> SequenceAllocator::open(const std::string& path, uint64_t block) {
  SequenceAllocator a;
  a.path_ = path;
  a.block_ = block;
  a.reserved_ = 0;
  // Not followed if a symlink, refused if another user's: the data dir is trusted, not its past.
  auto text = read_private_file(path, FileAccess::kState, 4096);
  if (!text && text.code() != Errc::kNotFound) return text.failure();
  uint64_t saved = 0;
  if (text && std::from_chars(text->data(), text->data() + text->size(), saved).ec == std::errc{})
    a.reserved_ = saved;
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
  // A new file renamed over the old: a crash leaves one or the other.
  if (auto st = replace_file(path_, std::to_string(up_to) + "\n"); !st) return st;
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
