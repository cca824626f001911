// `scope trace --perfetto FILE`: the trace's events also written as a Perfetto trace, in their
// time order (held for a second: each family reads its own ring buffer), as they come.
#pragma once

#include <cstdio>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "common/result.h"
#include "discover/process_info.h"
#include "export/perfetto_events.h"
#include "export/perfetto_writer.h"
#include "families/family.h"

namespace scope::cli {

class PerfettoSink final : public families::EventSink {
 public:
  // Opens (creates or truncates) `path`; `inner` still gets every event.
  static Result<std::unique_ptr<PerfettoSink>> open(const std::string& path,
                                                    families::EventSink* inner, bool redact_args);
  ~PerfettoSink() override;

  bool wants_events() const override { return true; }
  void add(const families::Event& e) override;
  // Writes the events older than the newest by more than the window.
  void release();
  // Writes the rest and closes the file; an error when a write failed.
  Status finish();
  const perfetto::EventCounts& counts() const { return events_->counts(); }
  const perfetto::WriterStats& file() const { return writer_->stats(); }

 private:
  PerfettoSink(std::FILE* f, families::EventSink* inner, bool redact_args);
  struct Later {
    bool operator()(const event::EventRow& a, const event::EventRow& b) const {
      return a.ts_ns > b.ts_ns;
    }
  };
  void write_until(int64_t ts);

  std::FILE* file_;
  families::EventSink* inner_;
  discover::ProcessInfoCache processes_;
  std::unique_ptr<perfetto::TraceWriter> writer_;
  std::unique_ptr<perfetto::EventTranslator> events_;
  std::priority_queue<event::EventRow, std::vector<event::EventRow>, Later> held_;
  int64_t newest_ = 0;
};

}  // namespace scope::cli
