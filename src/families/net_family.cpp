// The net family: TCP connect / accept / close from sock:inet_sock_set_state
// and accept()'s return (bpf/net.bpf.c).
#include "families/net_family.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstring>
#include <vector>

#include "bpf/shared/syscall_dispatch.h"
#include "common/text.h"
#include "families/skeleton_family.h"
#include "net.skel.h"

namespace scope::families {
namespace net {

namespace {

bool v4_mapped(const uint8_t* a) {
  static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(a, prefix, 12) == 0;
}

}  // namespace

std::string op_name(uint8_t op) {
  switch (op) {
    case NET_OP_CONNECT:
      return "connect";
    case NET_OP_ACCEPT:
      return "accept";
    case NET_OP_CLOSE:
      return "close";
  }
  return "op#" + std::to_string(op);
}

std::string family_name(uint16_t family) {
  if (family == NET_AF_INET) return "ipv4";
  if (family == NET_AF_INET6) return "ipv6";
  return "af#" + std::to_string(family);
}

std::string format_addr(uint16_t family, const uint8_t* addr16) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == NET_AF_INET6 && !v4_mapped(addr16)) {
    if (!inet_ntop(AF_INET6, addr16, buf, sizeof buf)) return "?";
    return buf;
  }
  const uint8_t* v4 = family == NET_AF_INET6 ? addr16 + 12 : addr16;
  if (family != NET_AF_INET && family != NET_AF_INET6) return "?";
  return sfmt("%u.%u.%u.%u", v4[0], v4[1], v4[2], v4[3]);
}

std::string format_endpoint(uint16_t family, const uint8_t* addr16, uint16_t port) {
  std::string a = format_addr(family, addr16);
  if (a.find(':') != std::string::npos) return "[" + a + "]:" + std::to_string(port);
  return a + ":" + std::to_string(port);
}

std::optional<net_event> decode(const void* data, size_t size) {
  if (size < sizeof(net_event)) return std::nullopt;
  net_event e;
  std::memcpy(&e, data, sizeof e);
  return e;
}

event::EventRow row(const net_event& e, int64_t mono_to_unix_ns) {
  static const auto& s = *event::schema_for("net");
  static const size_t op = s.column("op"), family = s.column("family"), saddr = s.column("saddr"),
                      daddr = s.column("daddr"), sport = s.column("sport"),
                      dport = s.column("dport"), error = s.column("error"),
                      handshake_ns = s.column("handshake_ns"),
                      duration_ns = s.column("duration_ns"), rx_bytes = s.column("rx_bytes"),
                      tx_bytes = s.column("tx_bytes");
  auto r = event::make_row(s, static_cast<int64_t>(e.ts_ns) + mono_to_unix_ns, e.pid, e.tid,
                           fixed_string(e.comm, sizeof e.comm));
  r.values[op] = op_name(e.op);
  r.values[family] = family_name(e.family);
  r.values[saddr] = format_addr(e.family, e.saddr);
  r.values[daddr] = format_addr(e.family, e.daddr);
  r.values[sport] = int64_t{e.sport};
  r.values[dport] = int64_t{e.dport};
  if (e.op == NET_OP_CONNECT) {
    r.values[error] = int64_t{(e.flags & NET_F_FAILED) != 0};
    if (e.flags & NET_F_HAS_DURATION) r.values[handshake_ns] = static_cast<int64_t>(e.duration_ns);
  }
  if (e.op == NET_OP_CLOSE) {
    if (e.flags & NET_F_HAS_DURATION) r.values[duration_ns] = static_cast<int64_t>(e.duration_ns);
    if (e.flags & NET_F_HAS_BYTES) {
      r.values[rx_bytes] = static_cast<int64_t>(e.rx_bytes);
      r.values[tx_bytes] = static_cast<int64_t>(e.tx_bytes);
    }
  }
  return r;
}

std::string human_line(const net_event& e, uint64_t first_ts_ns) {
  double secs = (static_cast<double>(e.ts_ns) - static_cast<double>(first_ts_ns)) / 1e9;
  std::string who =
      sfmt("%s[%" PRIu32 "/%" PRIu32 "]", fixed_string(e.comm, 16).c_str(), e.pid, e.tid);
  std::string line = sfmt("%11.6f ", secs) + pad_right(who, 24) + " " +
                     pad_right(op_name(e.op), 8) + " " +
                     format_endpoint(e.family, e.saddr, e.sport) + " -> " +
                     format_endpoint(e.family, e.daddr, e.dport);
  if (e.op == NET_OP_CONNECT) {
    if (e.flags & NET_F_FAILED) line += " failed";
    if (e.flags & NET_F_HAS_DURATION) line += " handshake=" + duration_text(e.duration_ns);
  } else if (e.op == NET_OP_CLOSE) {
    if (e.flags & NET_F_HAS_DURATION) line += " duration=" + duration_text(e.duration_ns);
    if (e.flags & NET_F_HAS_BYTES)
      line += sfmt(" rx=%" PRIu64 " tx=%" PRIu64, static_cast<uint64_t>(e.rx_bytes),
                   static_cast<uint64_t>(e.tx_bytes));
  }
  return line;
}

void NetStats::add(const net_event& e) {
  switch (e.op) {
    case NET_OP_CONNECT: {
      bool failed = (e.flags & NET_F_FAILED) != 0;
      Totals& t = remote_[{format_addr(e.family, e.daddr), e.dport}];
      if (failed) {
        ++failed_connects_;
        ++t.failed;
      } else {
        ++connects_;
        ++t.count;
      }
      break;
    }
    case NET_OP_ACCEPT:
      ++accepts_;
      ++local_[{format_addr(e.family, e.saddr), e.sport}].count;
      break;
    case NET_OP_CLOSE:
      ++closes_;
      rx_bytes_ += e.rx_bytes;
      tx_bytes_ += e.tx_bytes;
      break;
  }
}

std::vector<std::pair<NetStats::Endpoint, NetStats::Totals>> NetStats::top(
    const std::map<Endpoint, Totals>& m, size_t n) const {
  std::vector<std::pair<Endpoint, Totals>> v(m.begin(), m.end());
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.second.count + a.second.failed > b.second.count + b.second.failed;
  });
  if (v.size() > n) v.resize(n);
  return v;
}

nlohmann::json NetStats::json(size_t top_n) const {
  nlohmann::json remote = nlohmann::json::array(), local = nlohmann::json::array();
  for (const auto& [ep, t] : top(remote_, top_n))
    remote.push_back(
        {{"daddr", ep.first}, {"dport", ep.second}, {"count", t.count}, {"failed", t.failed}});
  for (const auto& [ep, t] : top(local_, top_n))
    local.push_back({{"saddr", ep.first}, {"sport", ep.second}, {"count", t.count}});
  return {{"connects", connects_}, {"failed_connects", failed_connects_},
          {"accepts", accepts_},   {"closes", closes_},
          {"rx_bytes", rx_bytes_}, {"tx_bytes", tx_bytes_},
          {"by_remote", remote},   {"by_local", local}};
}

void NetStats::print(std::FILE* out, size_t top_n) const {
  std::fprintf(out,
               "TCP: %" PRIu64 " connects (%" PRIu64 " failed), %" PRIu64 " accepts, %" PRIu64
               " closes, %" PRIu64 " bytes received, %" PRIu64 " bytes sent\n",
               connects_, failed_connects_, accepts_, closes_, rx_bytes_, tx_bytes_);
  auto table = [&](const char* title, const char* col, const std::map<Endpoint, Totals>& m,
                   bool with_failed) {
    if (m.empty()) return;
    std::fprintf(out, "\n%s\n", title);
    if (with_failed)
      std::fprintf(out, "  %10s %8s  %s\n", "COUNT", "FAILED", col);
    else
      std::fprintf(out, "  %10s  %s\n", "COUNT", col);
    for (const auto& [ep, t] : top(m, top_n)) {
      uint16_t fam = ep.first.find(':') != std::string::npos ? NET_AF_INET6 : NET_AF_INET;
      std::string where = fam == NET_AF_INET6 ? "[" + ep.first + "]:" + std::to_string(ep.second)
                                              : ep.first + ":" + std::to_string(ep.second);
      if (with_failed)
        std::fprintf(out, "  %10" PRIu64 " %8" PRIu64 "  %s\n", t.count, t.failed, where.c_str());
      else
        std::fprintf(out, "  %10" PRIu64 "  %s\n", t.count, where.c_str());
    }
    if (m.size() > top_n) std::fprintf(out, "  ... %zu more\n", m.size() - top_n);
  };
  table("Connections by remote endpoint", "REMOTE", remote_, true);
  table("Connections accepted by local endpoint", "LOCAL", local_, false);
}

}  // namespace net

namespace {

class NetFamily final : public SkeletonFamily<net_bpf> {
 public:
  NetFamily()
      : SkeletonFamily("net", {net_bpf__open, net_bpf__load, net_bpf__attach, net_bpf__destroy}) {}
  ~NetFamily() override { handlers_.clear(); }
  bool handles_syscalls() const override { return true; }

  Status start(const FamilyContext& ctx) override {
    if (auto st = require_syscall_tracepoints(ctx); !st) return st;
    auto st = load(ctx, [&](net_bpf* s) -> Status {
      auto& p = s->progs;
      probe::choose_syscall_programs(ctx.syscall_dispatch != nullptr,
                                     {p.net_accept_exit, p.net_accept4_exit}, {p.sd_accept_exit});
      return Ok{};
    });
    if (!st) return st;
    using Side = probe::SyscallDispatch::Side;
    auto& p = skel_->progs;
    return handlers_.install(ctx.syscall_dispatch,
                             {{Side::kExit, SYSCALL_DISPATCH_ACCEPT, p.sd_accept_exit},
                              {Side::kExit, SYSCALL_DISPATCH_ACCEPT4, p.sd_accept_exit}});
  }

  int handle_record(const void* data, size_t size) override {
    auto e = net::decode(data, size);
    if (!count(e)) return 0;
    stats_.add(*e);
    int64_t to_unix = ctx_.mono_to_unix_ns;
    families::emit(
        ctx_.sink, static_cast<uint64_t>(static_cast<int64_t>(e->ts_ns) + to_unix),
        [&] { return net::row(*e, to_unix); },
        [&](uint64_t start) {
          return net::human_line(*e, static_cast<uint64_t>(static_cast<int64_t>(start) - to_unix));
        });
    return 0;
  }

  void tick(int64_t /*now*/) override { read_drops(); }
  nlohmann::json summary_json() const override { return stats_.json(); }
  void print_summary(std::FILE* out) const override { stats_.print(out); }

 private:
  void release_links() override { handlers_.clear(); }

  probe::SyscallDispatch::Handlers handlers_;  // in the syscalls family's dispatch, if it runs
  net::NetStats stats_;
};

}  // namespace

std::unique_ptr<Family> make_net_family() { return std::make_unique<NetFamily>(); }

}  // namespace scope::families
