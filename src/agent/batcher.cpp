#include "agent/batcher.h"

#include <spdlog/spdlog.h>

namespace scope::agent {

Batcher::Batcher(BatcherOptions options, SequenceAllocator& seq, Sink sink)
    : options_(std::move(options)), seq_(seq), sink_(std::move(sink)) {}

void Batcher::add(event::EventRow&& row) {
  if (open_.events.empty()) {
    opened_at_ = std::chrono::steady_clock::now();
    open_.events.reserve(options_.max_events);
  }
  open_bytes_ += event::payload_bytes(row);
  open_.events.push_back(std::move(row));
  if (open_.events.size() >= options_.max_events || open_bytes_ >= options_.max_payload_bytes)
    flush();
}

void Batcher::tick() {
  if (!open_.events.empty() && std::chrono::steady_clock::now() - opened_at_ >= options_.max_delay)
    flush();
}

void Batcher::flush() {
  if (open_.events.empty()) return;
  open_bytes_ = 0;
  auto first = seq_.take(open_.events.size());
  if (!first) {
    lost_ += open_.events.size();
    spdlog::error("scope: {} events lost: {}", open_.events.size(), first.error());
    open_.events.clear();
    return;
  }
  open_.node = options_.node;
  open_.boot_id = options_.boot_id;
  open_.first_seq = *first;
  ++batches_;
  events_ += open_.events.size();
  sink_(std::move(open_));
  open_ = event::Batch{};
}

}  // namespace scope::agent
