// A store's events (either store) as a Perfetto trace, read in pages and merged in time order:
// the memory a trace of any size takes is a page per table and what perfetto_events.h keeps.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "common/result.h"
#include "export/perfetto_events.h"
#include "export/perfetto_writer.h"
#include "store/store.h"

namespace scope::perfetto {

struct ExportOptions {
  int64_t from_ns = 0;  // [from, to), Unix ns
  int64_t to_ns = INT64_MAX;
  std::string node;  // "" : the store's only node (an error when it holds several)
  std::optional<uint32_t> pid;
  size_t page_rows = 4096;
};

struct ExportSummary {
  std::string node;
  EventCounts events;
  WriterStats file;
};
nlohmann::json summary_json(const ExportSummary& s);

// Writes the trace to `sink` (TraceWriter's); errors: kBadInput for a window or node that is not
// right (several nodes and none chosen), the store's own errors, kUnavailable when the sink
// refused the bytes.
Result<ExportSummary> export_trace(store::Store& store, const ExportOptions& options,
                                   const TraceWriter::Sink& sink);

}  // namespace scope::perfetto
