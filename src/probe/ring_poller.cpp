#include "probe/ring_poller.h"

#include <bpf/libbpf.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>

#include "common/text.h"

namespace scope::probe {

namespace {

Result<ring_buffer*> make_ring(const std::vector<RingPoller::Ring>& rings) {
  ring_buffer* rb = nullptr;
  for (const auto& r : rings) {
    if (!rb) {
      rb = ring_buffer__new(r.map_fd, r.fn, r.ctx, nullptr);
      if (!rb) return make_error("cannot open a ring buffer: " + errno_text(errno));
    } else if (int err = ring_buffer__add(rb, r.map_fd, r.fn, r.ctx)) {
      ring_buffer__free(rb);
      return make_error("cannot add a ring buffer: " + errno_text(err));
    }
  }
  return rb;
}

int add_counts(int a, int b) {
  if (a < 0) return a;
  if (b < 0) return b;
  return a + b;
}

}  // namespace

RingPoller::~RingPoller() {
  if (control_) ring_buffer__free(control_);
  if (data_) ring_buffer__free(data_);
}

Status RingPoller::set_control(const Ring& ring) {
  if (control_) ring_buffer__free(control_);
  control_ = nullptr;
  if (ring.map_fd < 0) return Ok{};
  auto rb = make_ring({ring});
  if (!rb) return make_error(rb.error());
  control_ = *rb;
  return Ok{};
}

Status RingPoller::set_data(const std::vector<Ring>& rings) {
  if (data_) ring_buffer__free(data_);
  data_ = nullptr;
  if (rings.empty()) return Ok{};
  auto rb = make_ring(rings);
  if (!rb) return make_error(rb.error());
  data_ = *rb;
  return Ok{};
}

int RingPoller::poll(int timeout_ms) {
  pollfd fds[2];
  nfds_t n = 0;
  for (ring_buffer* rb : {control_, data_})
    if (rb) fds[n++] = {ring_buffer__epoll_fd(rb), POLLIN, 0};
  if (n == 0) {  // only aggregating families: nothing to wait on but time
    if (timeout_ms > 0) usleep(static_cast<useconds_t>(timeout_ms) * 1000);
    return 0;
  }
  if (::poll(fds, n, timeout_ms) < 0 && errno != EINTR) return -errno;
  return consume_all();
}

int RingPoller::consume_data() { return data_ ? ring_buffer__consume(data_) : 0; }

int RingPoller::consume_all() {
  int n = control_ ? ring_buffer__consume(control_) : 0;
  return add_counts(n, consume_data());
}

}  // namespace scope::probe
