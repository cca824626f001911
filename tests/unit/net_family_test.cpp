// The net family's decoding, formatting and aggregation (no privileges).
#include "families/net_family.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "common/text.h"

namespace scope::families::net {
namespace {

net_event v4_event(uint8_t op, const uint8_t (&s)[4], uint16_t sport, const uint8_t (&d)[4],
                   uint16_t dport) {
  net_event e{};
  e.pid = 77;
  e.tid = 78;
  std::strcpy(e.comm, "curl");
  e.ts_ns = 5'000'000'000;
  e.op = op;
  e.family = NET_AF_INET;
  std::memcpy(e.saddr, s, 4);
  std::memcpy(e.daddr, d, 4);
  e.sport = sport;
  e.dport = dport;
  return e;
}

TEST(NetFormat, Ipv4) {
  uint8_t a[16] = {127, 0, 0, 1};
  EXPECT_EQ(format_addr(NET_AF_INET, a), "127.0.0.1");
  uint8_t b[16] = {10, 20, 255, 0};
  EXPECT_EQ(format_addr(NET_AF_INET, b), "10.20.255.0");
  EXPECT_EQ(format_endpoint(NET_AF_INET, a, 8080), "127.0.0.1:8080");
}

TEST(NetFormat, Ipv6StandardNotation) {
  uint8_t lo[16] = {};
  lo[15] = 1;
  EXPECT_EQ(format_addr(NET_AF_INET6, lo), "::1");
  EXPECT_EQ(format_endpoint(NET_AF_INET6, lo, 443), "[::1]:443");
  uint8_t doc[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
  EXPECT_EQ(format_addr(NET_AF_INET6, doc), "2001:db8::1");
  uint8_t ll[16] = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55};
  EXPECT_EQ(format_addr(NET_AF_INET6, ll), "fe80::211:22ff:fe33:4455");
  uint8_t any[16] = {};
  EXPECT_EQ(format_addr(NET_AF_INET6, any), "::");
}

TEST(NetFormat, Ipv4MappedShownAsIpv4) {
  uint8_t m[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 9};
  EXPECT_EQ(format_addr(NET_AF_INET6, m), "192.168.1.9");
  EXPECT_EQ(format_endpoint(NET_AF_INET6, m, 80), "192.168.1.9:80");
  // Not mapped: ::fffe:... stays IPv6.
  uint8_t n[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe, 192, 168, 1, 9};
  EXPECT_EQ(format_addr(NET_AF_INET6, n), "::fffe:c0a8:109");
}

TEST(NetFormat, UnknownFamilyAndNames) {
  uint8_t a[16] = {1, 2, 3, 4};
  EXPECT_EQ(format_addr(1, a), "?");
  EXPECT_EQ(family_name(NET_AF_INET), "ipv4");
  EXPECT_EQ(family_name(NET_AF_INET6), "ipv6");
  EXPECT_EQ(family_name(1), "af#1");
  EXPECT_EQ(op_name(NET_OP_CONNECT), "connect");
  EXPECT_EQ(op_name(NET_OP_ACCEPT), "accept");
  EXPECT_EQ(op_name(NET_OP_CLOSE), "close");
  EXPECT_EQ(op_name(9), "op#9");
  EXPECT_EQ(duration_text(850), "850ns");
  EXPECT_EQ(duration_text(12'340), "12.3us");
  EXPECT_EQ(duration_text(4'560'000), "4.56ms");
  EXPECT_EQ(duration_text(1'234'000'000), "1.234s");
}

TEST(NetClassify, StateTransitions) {
  EXPECT_EQ(net_classify(NET_TCP_CLOSE, NET_TCP_SYN_SENT), NET_T_CONNECTING);
  EXPECT_EQ(net_classify(NET_TCP_SYN_SENT, NET_TCP_ESTABLISHED), NET_T_CONNECTED);
  EXPECT_EQ(net_classify(NET_TCP_SYN_RECV, NET_TCP_ESTABLISHED), NET_T_PASSIVE_OPEN);
  EXPECT_EQ(net_classify(NET_TCP_SYN_SENT, NET_TCP_CLOSE), NET_T_CLOSED);  // failed connect
  EXPECT_EQ(net_classify(NET_TCP_ESTABLISHED, NET_TCP_CLOSE), NET_T_CLOSED);
  EXPECT_EQ(net_classify(NET_TCP_FIN_WAIT2, NET_TCP_CLOSE), NET_T_CLOSED);
  EXPECT_EQ(net_classify(NET_TCP_LAST_ACK, NET_TCP_CLOSE), NET_T_CLOSED);
  EXPECT_EQ(net_classify(10 /* LISTEN */, NET_TCP_CLOSE), NET_T_CLOSED);
  EXPECT_EQ(net_classify(NET_TCP_CLOSE, 10 /* LISTEN */), NET_T_NONE);
  EXPECT_EQ(net_classify(10 /* LISTEN */, NET_TCP_SYN_RECV), NET_T_NONE);
  EXPECT_EQ(net_classify(NET_TCP_ESTABLISHED, NET_TCP_FIN_WAIT1), NET_T_NONE);
  EXPECT_EQ(net_classify(NET_TCP_ESTABLISHED, 8 /* CLOSE_WAIT */), NET_T_NONE);
  EXPECT_EQ(net_classify(NET_TCP_CLOSE, NET_TCP_CLOSE), NET_T_NONE);
}

TEST(NetPayload, ControlSequenceNumbersLeftOut) {
  // Active open, FIN acked on the way to TIME_WAIT: SYN + FIN.
  EXPECT_EQ(net_payload_tx(1002, 1, NET_TCP_FIN_WAIT2, 5, 9), 1000u);
  // Passive side, LAST_ACK -> CLOSE once its FIN was acked.
  EXPECT_EQ(net_payload_tx(301, 0, NET_TCP_LAST_ACK, 42, 42), 300u);
  // LAST_ACK -> CLOSE by a reset, FIN unacked.
  EXPECT_EQ(net_payload_tx(300, 0, NET_TCP_LAST_ACK, 41, 42), 300u);
  // Reset while established: nothing but the SYN.
  EXPECT_EQ(net_payload_tx(501, 1, NET_TCP_ESTABLISHED, 1, 1), 500u);
  // Never below zero.
  EXPECT_EQ(net_payload_tx(0, 1, NET_TCP_FIN_WAIT2, 0, 0), 0u);
  EXPECT_EQ(net_payload_rx(1001, 1), 1000u);
  EXPECT_EQ(net_payload_rx(1000, 0), 1000u);
  EXPECT_EQ(net_payload_rx(0, 1), 0u);
}

TEST(NetDecode, ShortRecordRejected) {
  net_event e{};
  EXPECT_FALSE(decode(&e, sizeof e - 1).has_value());
  e.op = NET_OP_CLOSE;
  auto d = decode(&e, sizeof e);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->op, NET_OP_CLOSE);
}

TEST(NetJson, CloseCarriesDurationAndBytes) {
  net_event e = v4_event(NET_OP_CLOSE, {127, 0, 0, 1}, 51234, {127, 0, 0, 1}, 8080);
  e.flags = NET_F_HAS_DURATION | NET_F_HAS_BYTES;
  e.duration_ns = 120'000;
  e.rx_bytes = 300;
  e.tx_bytes = 1000;
  auto j = event::row_json(row(e, 1'000));
  EXPECT_EQ(j["event"], "net");
  EXPECT_EQ(j["ts_ns"], 5'000'001'000);
  EXPECT_EQ(j["pid"], 77);
  EXPECT_EQ(j["tid"], 78);
  EXPECT_EQ(j["comm"], "curl");
  EXPECT_EQ(j["op"], "close");
  EXPECT_EQ(j["family"], "ipv4");
  EXPECT_EQ(j["saddr"], "127.0.0.1");
  EXPECT_EQ(j["daddr"], "127.0.0.1");
  EXPECT_EQ(j["sport"], 51234);
  EXPECT_EQ(j["dport"], 8080);
  EXPECT_EQ(j["duration_ns"], 120'000);
  EXPECT_EQ(j["rx_bytes"], 300);
  EXPECT_EQ(j["tx_bytes"], 1000);
  EXPECT_FALSE(j.contains("error"));
}

TEST(NetJson, ConnectAndAccept) {
  net_event c = v4_event(NET_OP_CONNECT, {10, 0, 0, 2}, 40000, {10, 0, 0, 9}, 443);
  c.flags = NET_F_FAILED | NET_F_HAS_DURATION;
  c.duration_ns = 3'000;
  auto j = event::row_json(row(c, 0));
  EXPECT_EQ(j["op"], "connect");
  EXPECT_EQ(j["error"], true);
  EXPECT_EQ(j["handshake_ns"], 3'000);
  EXPECT_FALSE(j.contains("duration_ns"));
  EXPECT_FALSE(j.contains("rx_bytes"));

  net_event a = v4_event(NET_OP_ACCEPT, {10, 0, 0, 9}, 443, {10, 0, 0, 2}, 40000);
  a.family = NET_AF_INET6;
  std::memset(a.saddr, 0, 16);
  a.saddr[15] = 1;
  auto k = event::row_json(row(a, 0));
  EXPECT_EQ(k["op"], "accept");
  EXPECT_EQ(k["family"], "ipv6");
  EXPECT_EQ(k["saddr"], "::1");
  EXPECT_FALSE(k.contains("error"));
  EXPECT_FALSE(k.contains("duration_ns"));
}

TEST(NetHuman, Lines) {
  net_event e = v4_event(NET_OP_CONNECT, {127, 0, 0, 1}, 51234, {127, 0, 0, 1}, 8080);
  e.flags = NET_F_HAS_DURATION;
  e.duration_ns = 250'000;
  EXPECT_EQ(human_line(e, e.ts_ns - 120'000'000),
            "   0.120000 curl[77/78]              connect  127.0.0.1:51234 -> 127.0.0.1:8080 "
            "handshake=250.0us");
  e.op = NET_OP_CLOSE;
  e.flags = NET_F_HAS_DURATION | NET_F_HAS_BYTES;
  e.duration_ns = 1'500'000;
  e.rx_bytes = 2;
  e.tx_bytes = 1000;
  EXPECT_EQ(human_line(e, e.ts_ns),
            "   0.000000 curl[77/78]              close    127.0.0.1:51234 -> 127.0.0.1:8080 "
            "duration=1.50ms rx=2 tx=1000");
  e.op = NET_OP_CONNECT;
  e.flags = NET_F_FAILED;
  EXPECT_EQ(human_line(e, e.ts_ns),
            "   0.000000 curl[77/78]              connect  127.0.0.1:51234 -> 127.0.0.1:8080 "
            "failed");
}

TEST(NetStatsTest, CountsAndTopRemotes) {
  NetStats s;
  for (int i = 0; i < 3; ++i)
    s.add(v4_event(NET_OP_CONNECT, {10, 0, 0, 1}, 1000, {10, 0, 0, 2}, 80));
  s.add(v4_event(NET_OP_CONNECT, {10, 0, 0, 1}, 1001, {10, 0, 0, 3}, 443));
  net_event failed = v4_event(NET_OP_CONNECT, {10, 0, 0, 1}, 0, {10, 0, 0, 2}, 80);
  failed.flags = NET_F_FAILED;
  s.add(failed);
  s.add(v4_event(NET_OP_ACCEPT, {10, 0, 0, 1}, 8080, {10, 0, 0, 7}, 5555));
  net_event c = v4_event(NET_OP_CLOSE, {10, 0, 0, 1}, 1000, {10, 0, 0, 2}, 80);
  c.rx_bytes = 10;
  c.tx_bytes = 20;
  s.add(c);
  s.add(c);
  EXPECT_EQ(s.connects(), 4u);
  EXPECT_EQ(s.failed_connects(), 1u);
  EXPECT_EQ(s.accepts(), 1u);
  EXPECT_EQ(s.closes(), 2u);

  auto j = s.json();
  EXPECT_EQ(j["connects"], 4);
  EXPECT_EQ(j["failed_connects"], 1);
  EXPECT_EQ(j["accepts"], 1);
  EXPECT_EQ(j["closes"], 2);
  EXPECT_EQ(j["rx_bytes"], 20);
  EXPECT_EQ(j["tx_bytes"], 40);
  ASSERT_EQ(j["by_remote"].size(), 2u);
  EXPECT_EQ(j["by_remote"][0]["daddr"], "10.0.0.2");
  EXPECT_EQ(j["by_remote"][0]["dport"], 80);
  EXPECT_EQ(j["by_remote"][0]["count"], 3);
  EXPECT_EQ(j["by_remote"][0]["failed"], 1);
  EXPECT_EQ(j["by_remote"][1]["daddr"], "10.0.0.3");
  EXPECT_EQ(j["by_remote"][1]["count"], 1);
  ASSERT_EQ(j["by_local"].size(), 1u);
  EXPECT_EQ(j["by_local"][0]["saddr"], "10.0.0.1");
  EXPECT_EQ(j["by_local"][0]["sport"], 8080);

  // Top N keeps the busiest.
  auto top1 = s.json(1);
  ASSERT_EQ(top1["by_remote"].size(), 1u);
  EXPECT_EQ(top1["by_remote"][0]["daddr"], "10.0.0.2");

  char buf[4096] = {};
  std::FILE* f = fmemopen(buf, sizeof buf - 1, "w");
  ASSERT_NE(f, nullptr);
  s.print(f);
  std::fclose(f);
  std::string text(buf);
  EXPECT_NE(text.find("TCP: 4 connects (1 failed), 1 accepts, 2 closes"), std::string::npos)
      << text;
  EXPECT_NE(text.find("         3        1  10.0.0.2:80"), std::string::npos) << text;
  EXPECT_NE(text.find("         1  10.0.0.1:8080"), std::string::npos) << text;
}

TEST(NetStatsTest, EmptyJson) {
  NetStats s;
  auto j = s.json();
  EXPECT_EQ(j["connects"], 0);
  EXPECT_TRUE(j["by_remote"].is_array());
  EXPECT_TRUE(j["by_remote"].empty());
}

}  // namespace
}  // namespace scope::families::net
