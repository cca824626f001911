#include "probe/ring_poller.h"

#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace scope::probe {

RingPoller::~RingPoller() {
  if (ring_) ring_buffer__free(ring_);
}

Status RingPoller::add(int map_fd, RecordFn fn, void* ctx) {
  if (!ring_) {
    ring_ = ring_buffer__new(map_fd, fn, ctx, nullptr);
    if (!ring_)
      return make_error(std::string("cannot open a ring buffer: ") + std::strerror(errno));
    return Ok{};
  }
  if (int err = ring_buffer__add(ring_, map_fd, fn, ctx))
    return make_error(std::string("cannot add a ring buffer: ") + std::strerror(-err));
  return Ok{};
}

int RingPoller::poll(int timeout_ms) {
  if (!ring_) {  // only aggregating families: nothing to wait on but time
    if (timeout_ms > 0) usleep(static_cast<useconds_t>(timeout_ms) * 1000);
    return 0;
  }
  int n = ring_buffer__poll(ring_, timeout_ms);
  if (n < 0) return n;
  int m = ring_buffer__consume(ring_);
  return m < 0 ? m : n + m;
}

int RingPoller::consume() { return ring_ ? ring_buffer__consume(ring_) : 0; }

}  // namespace scope::probe
