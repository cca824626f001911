// The counters every stage of the event path reports at /metrics, with one
// set of names for `scope up`, `scope agent` and `scope server`.
#pragma once

#include <algorithm>
#include <cstdint>

#include "common/clock.h"
#include "event/batch.h"
#include "export/metrics.h"

namespace scope::metrics {

struct PipelineMetrics {
  explicit PipelineMetrics(metrics::Registry& r)
      : received(r.counter("scope_events_received_total",
                           "Events read from the probes (agent) or from batches (server)")),
        stored(r.counter("scope_events_stored_total", "Events committed to the store")),
        duplicates(r.counter("scope_events_duplicate_total",
                             "Events of batches already stored (redelivery), not written again")),
        dropped_kernel(r.counter("scope_events_dropped_total", "Events lost, by cause",
                                 {{"cause", "kernel"}})),
        dropped_queue(r.counter("scope_events_dropped_total", "Events lost, by cause",
                                {{"cause", "queue_full"}})),
        dropped_store(r.counter("scope_events_dropped_total", "Events lost, by cause",
                                {{"cause", "store_error"}})),
        dropped_bad(r.counter("scope_events_dropped_total", "Events lost, by cause",
                              {{"cause", "bad_event"}})),
        dropped_spool(r.counter("scope_events_dropped_total", "Events lost, by cause",
                                {{"cause", "spool_full"}})),
        dropped_sequence(r.counter("scope_events_dropped_total", "Events lost, by cause",
                                   {{"cause", "no_sequence"}})),
        spooled(r.counter("scope_events_spooled_total",
                          "Events written to the on-disk spool while the transport was down")),
        replayed(r.counter("scope_events_replayed_total", "Events replayed from the spool")),
        batches(r.counter("scope_batches_stored_total", "Batches committed to the store")),
        corrupt_batches(r.counter("scope_batches_corrupt_total",
                                  "Batches that could not be decoded (moved aside)")),
        queue_depth(r.gauge("scope_queue_batches", "Batches waiting in memory for the writer")),
        batch_latency(r.histogram("scope_batch_latency_seconds",
                                  "From a batch's newest event to its commit in the store")) {}

  // Observes a committed batch: its size and how old its newest event is.
  void committed(const event::Batch& b, uint64_t stored_events) {
    stored.add(stored_events);
    batches.add();
    int64_t newest = 0;
    for (const auto& e : b.events) newest = std::max(newest, e.ts_ns);
    int64_t now = unix_now_ns();
    if (newest > 0) batch_latency.observe(static_cast<double>(now - newest) / 1e9);
  }

  metrics::Counter& received;
  metrics::Counter& stored;
  metrics::Counter& duplicates;
  metrics::Counter& dropped_kernel;
  metrics::Counter& dropped_queue;
  metrics::Counter& dropped_store;
  metrics::Counter& dropped_bad;
  metrics::Counter& dropped_spool;
  metrics::Counter& dropped_sequence;  // no sequence number could be reserved (a full disk)
  metrics::Counter& spooled;
  metrics::Counter& replayed;
  metrics::Counter& batches;
  metrics::Counter& corrupt_batches;
  metrics::Gauge& queue_depth;
  metrics::Histogram& batch_latency;
};

}  // namespace scope::metrics
