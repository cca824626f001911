// The net family's decoding, formatting and aggregation (bpf/shared/net.h
// records), as plain code the unit tests reach without privileges.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <tuple>

#include "bpf/shared/net.h"
#include "event/row.h"

namespace scope::families::net {

// "connect" | "accept" | "close" (or "op#N").
std::string op_name(uint8_t op);
// "ipv4" | "ipv6" (or "af#N").
std::string family_name(uint16_t family);
// An address in standard notation: dotted IPv4, RFC 5952 IPv6; an IPv4-mapped
// IPv6 address (::ffff:a.b.c.d) is shown as the IPv4 address.
std::string format_addr(uint16_t family, const uint8_t* addr16);
// "127.0.0.1:8080", "[::1]:8080".
std::string format_endpoint(uint16_t family, const uint8_t* addr16, uint16_t port);

// A ring-buffer record, or nothing when it is too short.
std::optional<net_event> decode(const void* data, size_t size);

// Its net_events row (DESIGN.md's `net` vocabulary); ts_ns made Unix time.
event::EventRow row(const net_event& e, int64_t mono_to_unix_ns);
// One aligned human line; `first_ts_ns` is the (monotonic) time shown as 0.
std::string human_line(const net_event& e, uint64_t first_ts_ns);

// Totals for the summary.
class NetStats {
 public:
  void add(const net_event& e);
  uint64_t connects() const { return connects_; }
  uint64_t failed_connects() const { return failed_connects_; }
  uint64_t accepts() const { return accepts_; }
  uint64_t closes() const { return closes_; }
  // {"connects","failed_connects","accepts","closes","rx_bytes","tx_bytes",
  //  "by_remote":[{daddr,dport,count}], "by_local":[{saddr,sport,count}]} (top `top_n`).
  nlohmann::json json(size_t top_n = 10) const;
  void print(std::FILE* out, size_t top_n = 10) const;

 private:
  using Endpoint = std::pair<std::string, uint16_t>;  // formatted address, port
  struct Totals {
    uint64_t count = 0;
    uint64_t failed = 0;
  };
  std::vector<std::pair<Endpoint, Totals>> top(const std::map<Endpoint, Totals>& m, size_t n) const;
  uint64_t connects_ = 0, failed_connects_ = 0, accepts_ = 0, closes_ = 0;
  uint64_t rx_bytes_ = 0, tx_bytes_ = 0;
  std::map<Endpoint, Totals> remote_;  // connects (successful and failed) by daddr:dport
  std::map<Endpoint, Totals> local_;   // accepts by saddr:sport
};

}  // namespace scope::families::net
