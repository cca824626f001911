// Where a session's events go. Each command has one: LineSink prints them
// (`scope trace`: aligned lines or JSON, in their events' time order), RowSink
// hands their rows to a batcher (`scope up`'s store, `scope agent`'s stream).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "discover/process_info.h"
#include "event/row.h"
#include "families/family.h"
#include "session/line_reorder.h"

namespace scope::session {

// Whole lines to a file descriptor, in writes of at most PIPE_BUF bytes: a traced command may
// share it, and a line split across two writes could be torn by the command's own output.
class LineWriter {
 public:
  explicit LineWriter(int fd) : fd_(fd) {}
  ~LineWriter() { flush(); }
  void line(const std::string& text);
  void flush();

 private:
  int fd_;
  std::string pending_;
};

struct LineSinkOptions {
  bool json = false;   // one JSON object per event, else one aligned human line
  bool quiet = false;  // nothing per event (the summary counts them)
  // Lines are held this long and released in their events' time order: each family reads its
  // own ring buffer.
  uint64_t reorder_window_ns = 50'000'000;
  bool redact_args = true;  // the `cmdline` of JSON events (common/redact.h)
};

class LineSink final : public families::EventSink {
 public:
  LineSink(const LineSinkOptions& options, LineWriter& out) : options_(options), out_(out) {}
  // Where human lines count time from (the trace's start: the command's exec, or the attach).
  void set_start(uint64_t unix_ns) { start_ns_ = unix_ns; }
  uint64_t start() const { return start_ns_; }

  bool wants_events() const override { return !options_.quiet; }
  void add(const families::Event& e) override;
  // Lines older than the window, now; every line (the trace's end).
  void release();
  void release_all();

 private:
  LineSinkOptions options_;
  LineWriter& out_;
  uint64_t start_ns_ = 0;
  LineReorder reorder_{options_.reorder_window_ns};
  // JSON events of the host families carry who the process is (cmdline, cgroup, container);
  // cuda's, at launch rates, do not.
  discover::ProcessInfoCache processes_{std::chrono::milliseconds(1000), options_.redact_args};
};

class RowSink final : public families::EventSink {
 public:
  explicit RowSink(std::function<void(event::EventRow&&)> take) : take_(std::move(take)) {}
  bool wants_events() const override { return true; }
  void add(const families::Event& e) override { take_(e.row()); }

 private:
  std::function<void(event::EventRow&&)> take_;
};

}  // namespace scope::session
