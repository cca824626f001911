// The net family against the real kernel: TCP connections over 127.0.0.1 and
// ::1 made by a traced python3, with exact ports, pids and byte counts.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "run_scope.h"

namespace scope::bpftest {
namespace {

// Connects to a listener of its own on 127.0.0.1 and on ::1, sends 1000 bytes
// and gets 300 back on each, closes both ends, then connects to a port with no
// listener; prints what the trace must show (on stderr: scope's stdout is
// busy with its own lines, and python may write a line's newline apart).
const char* kWorkload = R"PY(
import json, os, socket, sys, time
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0)
out = {"pid": os.getpid()}
for fam, host, key in ((socket.AF_INET, "127.0.0.1", "v4"), (socket.AF_INET6, "::1", "v6")):
    s = socket.socket(fam); s.bind((host, 0)); s.listen()
    port = s.getsockname()[1]
    c = socket.create_connection((host, port)); a, _ = s.accept()
    c.sendall(b"x" * 1000); got = b""
    while len(got) < 1000: got += a.recv(2000)
    a.sendall(b"y" * 300); got = b""
    while len(got) < 300: got += c.recv(500)
    out[key] = {"listen": port, "client": c.getsockname()[1]}
    c.close(); a.close(); s.close()
d = socket.socket(); d.bind(("127.0.0.1", 0)); dead = d.getsockname()[1]; d.close()
try:
    socket.create_connection(("127.0.0.1", dead))
except ConnectionRefusedError:
    out["refused"] = dead
print("netexpect " + json.dumps(out), file=sys.stderr, flush=True)
)PY";

// Makes connections over 127.0.0.1 until killed: traffic nobody traces.
const char* kNoise = R"PY(
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(128); p = s.getsockname()[1]
print("ready", flush=True)
while True:
    c = socket.create_connection(("127.0.0.1", p)); a, _ = s.accept(); c.sendall(b"n"); a.recv(1); c.close(); a.close()
)PY";

// The workload's `netexpect {...}` line, from its stderr.
nlohmann::json expectation(const std::string& err) {
  for (const auto& l : lines_of(err))
    if (l.rfind("netexpect ", 0) == 0) return nlohmann::json::parse(l.substr(10), nullptr, false);
  return nullptr;
}

std::vector<nlohmann::json> net_events(const Trace& t, const std::string& op) {
  std::vector<nlohmann::json> out;
  for (const auto& e : t.events)
    if (e.value("event", "") == "net" && e.value("op", "") == op) out.push_back(e);
  return out;
}

const nlohmann::json* find(const std::vector<nlohmann::json>& v, int sport, int dport) {
  for (const auto& e : v)
    if (e.value("sport", -1) == sport && e.value("dport", -1) == dport) return &e;
  return nullptr;
}

// One connection's four events, both ends, exact.
void check_connection(const Trace& t, const nlohmann::json& ex, const std::string& key,
                      const std::string& addr, const std::string& family) {
  SCOPED_TRACE(key);
  int pid = ex["pid"];
  int listen = ex[key]["listen"], client = ex[key]["client"];
  auto connects = net_events(t, "connect"), accepts = net_events(t, "accept"),
       closes = net_events(t, "close");

  const auto* c = find(connects, client, listen);
  ASSERT_NE(c, nullptr) << t.describe();
  EXPECT_EQ((*c)["pid"], pid);
  EXPECT_EQ((*c)["tid"], pid);
  EXPECT_EQ((*c)["comm"], "python3");
  EXPECT_EQ((*c)["family"], family);
  EXPECT_EQ((*c)["saddr"], addr);
  EXPECT_EQ((*c)["daddr"], addr);
  EXPECT_EQ((*c)["error"], false);
  EXPECT_GT((*c)["handshake_ns"].get<int64_t>(), 0);

  const auto* a = find(accepts, listen, client);
  ASSERT_NE(a, nullptr) << t.describe();
  EXPECT_EQ((*a)["pid"], pid);
  EXPECT_EQ((*a)["comm"], "python3");
  EXPECT_EQ((*a)["family"], family);
  EXPECT_EQ((*a)["saddr"], addr);
  EXPECT_EQ((*a)["daddr"], addr);
  EXPECT_GE((*a)["ts_ns"].get<int64_t>(), (*c)["ts_ns"].get<int64_t>());

  // The connecting side sent 1000 and received 300; the accepted side the reverse.
  const auto* cc = find(closes, client, listen);
  ASSERT_NE(cc, nullptr) << t.describe();
  EXPECT_EQ((*cc)["pid"], pid);
  EXPECT_EQ((*cc)["family"], family);
  EXPECT_EQ((*cc)["daddr"], addr);
  EXPECT_GT((*cc)["duration_ns"].get<int64_t>(), 0);
  EXPECT_EQ((*cc)["tx_bytes"], 1000);
  EXPECT_EQ((*cc)["rx_bytes"], 300);
  EXPECT_GT((*cc)["ts_ns"].get<int64_t>(), (*c)["ts_ns"].get<int64_t>());
  // Its life runs from the connect's establishment to its close.
  EXPECT_EQ((*cc)["duration_ns"].get<int64_t>(),
            (*cc)["ts_ns"].get<int64_t>() - (*c)["ts_ns"].get<int64_t>());

  const auto* ac = find(closes, listen, client);
  ASSERT_NE(ac, nullptr) << t.describe();
  EXPECT_EQ((*ac)["pid"], pid);
  EXPECT_GT((*ac)["duration_ns"].get<int64_t>(), 0);
  EXPECT_EQ((*ac)["tx_bytes"], 300);
  EXPECT_EQ((*ac)["rx_bytes"], 1000);
}

// The net family alone (accepts on the syscalls:* tracepoints) and with the
// syscalls family (its accept handler tail-called from raw_syscalls).
class NetBpfProbes : public ::testing::TestWithParam<std::string> {};
INSTANTIATE_TEST_SUITE_P(AloneAndDispatched, NetBpfProbes, ::testing::Values("net", "net,syscalls"),
                         [](const auto& info) {
                           return info.param == "net" ? "Alone" : "UnderSyscalls";
                         });

TEST_P(NetBpfProbes, ConnectAcceptCloseOverIpv4AndIpv6) {
  SCOPE_BPF_REQUIRE();
  Trace t = trace({"--probes", GetParam(), "--json", "--", "python3", "-c", kWorkload}, 60);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  EXPECT_EQ(t.bad_json_lines, 0);
  nlohmann::json ex = expectation(t.run.err);
  ASSERT_TRUE(ex.is_object()) << t.run.err;
  ASSERT_TRUE(ex.contains("refused")) << t.run.err;

  check_connection(t, ex, "v4", "127.0.0.1", "ipv4");
  check_connection(t, ex, "v6", "::1", "ipv6");

  // The refused connect: one connect with error, no close.
  auto connects = net_events(t, "connect");
  int failed = 0;
  for (const auto& e : connects) {
    if (!e["error"].get<bool>()) continue;
    ++failed;
    EXPECT_EQ(e["daddr"], "127.0.0.1");
    EXPECT_EQ(e["dport"], ex["refused"]);
    EXPECT_EQ(e["pid"], ex["pid"]);
  }
  EXPECT_EQ(failed, 1) << t.describe();
  EXPECT_EQ(connects.size(), 3u);
  EXPECT_EQ(net_events(t, "accept").size(), 2u);
  EXPECT_EQ(net_events(t, "close").size(), 4u);

  const auto& net = t.summary.at("net");
  EXPECT_EQ(net["connects"], 2) << t.describe();
  EXPECT_EQ(net["failed_connects"], 1);
  EXPECT_EQ(net["accepts"], 2);
  EXPECT_EQ(net["closes"], 4);
  EXPECT_EQ(net["rx_bytes"], 2600);
  EXPECT_EQ(net["tx_bytes"], 2600);
  ASSERT_EQ(net["by_remote"].size(), 3u);
  bool saw_v6 = false;
  for (const auto& r : net["by_remote"]) {
    if (r["daddr"] == "::1") {
      saw_v6 = true;
      EXPECT_EQ(r["dport"], ex["v6"]["listen"]);
      EXPECT_EQ(r["count"], 1);
    }
  }
  EXPECT_TRUE(saw_v6) << net.dump();
  if (GetParam() == "net") {
    EXPECT_EQ(t.summary["events"], 9);
  }
  EXPECT_EQ(t.summary["dropped"], 0);
}

TEST(NetBpf, OnlyTheTracedProcess) {
  SCOPE_BPF_REQUIRE();
  Process noise;
  ASSERT_TRUE(noise.start({"/usr/bin/env", "python3", "-c", kNoise}));
  ASSERT_TRUE(noise.wait_for_output("ready", 20)) << noise.err();
  // The traced workload starts after 0.3 s of someone else's connections.
  Trace t = trace({"--probes", "net", "--json", "--", "python3", "-c", kWorkload, "0.3"}, 60);
  noise.signal(SIGKILL);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  nlohmann::json ex = expectation(t.run.err);
  ASSERT_TRUE(ex.is_object()) << t.run.err;
  for (const auto& e : t.events) EXPECT_EQ(e["pid"], ex["pid"]) << e.dump();
  EXPECT_EQ(t.events.size(), 9u) << t.describe();
  EXPECT_EQ(t.summary.at("net")["accepts"], 2);
}

// net events carry Unix times like every family's, so their lines interleave with the execs'
// in time order (each family reads its own ring buffer; the lines are put back in order).
TEST(NetBpf, LinesInTimeOrderWithOtherFamilies) {
  SCOPE_BPF_REQUIRE();
  // Each python closes its last socket and execs /bin/true at once: a net event and a later
  // exec read in the same poll, the exec's ring first.
  std::string script = "for i in 1 2 3; do python3 -c '" + std::string(kWorkload) +
                       "\nos.execv(\"/bin/true\", [\"true\"])' 2>/dev/null; done";
  Trace t = trace({"--probes", "exec,net", "--json", "--", "/bin/sh", "-c", script}, 90);
  ASSERT_EQ(t.run.status, 0) << t.describe();
  uint64_t last = 0;
  int nets = 0, execs = 0, out_of_order = 0;
  for (const auto& e : t.events) {
    ASSERT_TRUE(e.at("ts_ns").is_number_integer()) << e.dump();
    uint64_t ts = e.at("ts_ns").get<uint64_t>();
    if (ts < last) ++out_of_order;
    last = std::max(last, ts);
    nets += e.value("event", "") == "net";
    execs += e.value("event", "") == "exec";
  }
  EXPECT_GE(nets, 3 * 8) << t.describe();
  EXPECT_GE(execs, 6) << t.describe();
  EXPECT_EQ(out_of_order, 0) << t.describe();
}

TEST(NetBpf, HumanLines) {
  SCOPE_BPF_REQUIRE();
  RunResult r = run_scope({"--probes", "net", "--", "python3", "-c", kWorkload}, 60);
  ASSERT_EQ(r.status, 0) << r.err;
  nlohmann::json ex = expectation(r.err);
  ASSERT_TRUE(ex.is_object()) << r.err;
  std::string who = "python3[" + std::to_string(ex["pid"].get<int>()) + "/";
  std::string v4 = " connect  127.0.0.1:" + std::to_string(ex["v4"]["client"].get<int>()) +
                   " -> 127.0.0.1:" + std::to_string(ex["v4"]["listen"].get<int>()) + " handshake=";
  std::string v6 = " close    [::1]:" + std::to_string(ex["v6"]["client"].get<int>()) +
                   " -> [::1]:" + std::to_string(ex["v6"]["listen"].get<int>()) + " duration=";
  EXPECT_NE(r.out.find(v4), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(v6), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rx=300 tx=1000"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(who), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("TCP: 2 connects (1 failed), 2 accepts, 4 closes"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("Connections by remote endpoint"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace scope::bpftest
