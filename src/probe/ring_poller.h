// Polls the ring buffers of several probe families through one libbpf
// ring_buffer (one epoll set), each map with its own callback.
#pragma once

#include <cstddef>

#include "common/result.h"

struct ring_buffer;

namespace scope::probe {

class RingPoller {
 public:
  using RecordFn = int (*)(void* ctx, void* data, size_t size);
  RingPoller() = default;
  ~RingPoller();
  RingPoller(const RingPoller&) = delete;
  RingPoller& operator=(const RingPoller&) = delete;

  Status add(int map_fd, RecordFn fn, void* ctx);
  bool empty() const { return ring_ == nullptr; }
  int poll(int timeout_ms);  // waits, then drains what is below the wakeup threshold too
  int consume();

 private:
  ring_buffer* ring_ = nullptr;
};

}  // namespace scope::probe
