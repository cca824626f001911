// scope's own counters, served as Prometheus text at /metrics by `scope up`,
// `scope agent` and `scope server`. No client library: counters, gauges and
// one histogram kind, lock-free to update, rendered on demand.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace scope::metrics {

class Counter {
 public:
  void add(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void set(int64_t v) { v_.store(v, std::memory_order_relaxed); }
  void add(int64_t n) { v_.fetch_add(n, std::memory_order_relaxed); }
  int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// Seconds, with fixed buckets from 100 µs to 60 s.
class Histogram {
 public:
  static constexpr std::array<double, 12> kBounds = {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05,
                                                     0.1,    0.5,    1,     5,     10,   60};
  void observe(double seconds);
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const;
  uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<uint64_t>, kBounds.size()> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_ns_{0};
};

// Owns the metrics; a metric is created once and updated without locks.
// Names follow Prometheus conventions (scope_events_stored_total).
class Registry {
 public:
  // `labels` like {"cause", "ring_full"}; the same name with other labels is one family.
  Counter& counter(const std::string& name, const std::string& help,
                   const std::map<std::string, std::string>& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help,
               const std::map<std::string, std::string>& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help);
  // The text exposition format, version 0.0.4.
  std::string render() const;

 private:
  struct Family {
    std::string type;  // counter | gauge | histogram
    std::string help;
    // label text ("{cause=\"x\"}") → metric; deque: stable addresses
    std::map<std::string, size_t> index;
    std::deque<Counter> counters;
    std::deque<Gauge> gauges;
    std::deque<Histogram> histograms;
  };
  Family& family(const std::string& name, const std::string& type, const std::string& help);
  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

// `{a="x",b="y"}` with values escaped, or "" for no labels.
std::string label_text(const std::map<std::string, std::string>& labels);

}  // namespace scope::metrics
