// Polls the ring buffers of a session: the process watch's ("control", read first, whose
// callback may drain the others so that what a process did before its exec or exit is handled
// first) and the families' ("data"), each map with its own callback. libbpf 1.1 cannot remove a
// ring from a ring_buffer: the data rings are replaced as a set when families start or stop.
#pragma once

#include <cstddef>
#include <vector>

#include "common/result.h"

struct ring_buffer;

namespace scope::probe {

class RingPoller {
 public:
  using RecordFn = int (*)(void* ctx, void* data, size_t size);
  struct Ring {
    int map_fd;
    RecordFn fn;
    void* ctx;
  };
  RingPoller() = default;
  ~RingPoller();
  RingPoller(const RingPoller&) = delete;
  RingPoller& operator=(const RingPoller&) = delete;

  // The control ring, or none (-1).
  Status set_control(const Ring& ring);
  // The data rings, replacing those set before (their unread records stay in the kernel's rings
  // and are read by the next poll when a ring is set again).
  Status set_data(const std::vector<Ring>& rings);

  // Waits up to timeout_ms for either side, then reads the control ring and every data ring
  // (records below their wakeup threshold too). Returns records read, or -errno.
  int poll(int timeout_ms);
  // Reads the data rings without waiting (from a control callback, and on the way out).
  int consume_data();
  // Reads everything without waiting.
  int consume_all();

 private:
  ring_buffer* control_ = nullptr;
  ring_buffer* data_ = nullptr;
};

}  // namespace scope::probe
