#include "export/metrics.h"

#include <cmath>

#include "common/text.h"

namespace scope::metrics {

void Histogram::observe(double seconds) {
  if (!(seconds >= 0)) seconds = 0;
  for (size_t i = 0; i < kBounds.size(); ++i)
    if (seconds <= kBounds[i]) buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(std::llround(seconds * 1e9)), std::memory_order_relaxed);
}

double Histogram::sum() const {
  return static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
}

std::string label_text(const std::map<std::string, std::string>& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    out += (first ? "" : ",") + k + "=\"";
    for (char c : v) {
      if (c == '\\' || c == '"')
        out += '\\', out += c;
      else if (c == '\n')
        out += "\\n";
      else
        out += c;
    }
    out += "\"";
    first = false;
  }
  return out + "}";
}

Registry::Family& Registry::family(const std::string& name, const std::string& type,
                                   const std::string& help) {
  auto& f = families_[name];
  if (f.type.empty()) {
    f.type = type;
    f.help = help;
  }
  return f;
}

Counter& Registry::counter(const std::string& name, const std::string& help,
                           const std::map<std::string, std::string>& labels) {
  std::lock_guard lock(mu_);
  auto& f = family(name, "counter", help);
  auto key = label_text(labels);
  auto it = f.index.find(key);
  if (it != f.index.end()) return f.counters[it->second];
  f.index[key] = f.counters.size();
  return f.counters.emplace_back();
}

Gauge& Registry::gauge(const std::string& name, const std::string& help,
                       const std::map<std::string, std::string>& labels) {
  std::lock_guard lock(mu_);
  auto& f = family(name, "gauge", help);
  auto key = label_text(labels);
  auto it = f.index.find(key);
  if (it != f.index.end()) return f.gauges[it->second];
  f.index[key] = f.gauges.size();
  return f.gauges.emplace_back();
}

Histogram& Registry::histogram(const std::string& name, const std::string& help) {
  std::lock_guard lock(mu_);
  auto& f = family(name, "histogram", help);
  if (f.histograms.empty()) {
    f.index[""] = 0;
    f.histograms.emplace_back();
  }
  return f.histograms.front();
}

std::string Registry::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + f.type + "\n";
    for (const auto& [labels, i] : f.index) {
      if (f.type == "counter") {
        out += name + labels + " " + std::to_string(f.counters[i].value()) + "\n";
      } else if (f.type == "gauge") {
        out += name + labels + " " + std::to_string(f.gauges[i].value()) + "\n";
      } else {
        const Histogram& h = f.histograms[i];
        for (size_t b = 0; b < Histogram::kBounds.size(); ++b)
          out += name + "_bucket{le=\"" + sfmt("%g", Histogram::kBounds[b]) + "\"} " +
                 std::to_string(h.bucket(b)) + "\n";
        out += name + "_bucket{le=\"+Inf\"} " + std::to_string(h.count()) + "\n";
        out += name + "_sum " + sfmt("%.9f", h.sum()) + "\n";
        out += name + "_count " + std::to_string(h.count()) + "\n";
      }
    }
  }
  return out;
}

}  // namespace scope::metrics
