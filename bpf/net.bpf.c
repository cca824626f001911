// SPDX-License-Identifier: GPL-2.0
/* TCP connections: connect, accept and close, with addresses, ports, the
 * connection's duration and its bytes.
 *
 *   tp_btf/inet_sock_set_state   every TCP state change:
 *     CLOSE -> SYN_SENT          a traced process calls connect(): remember
 *                                who, keyed by the struct sock address;
 *     SYN_SENT -> ESTABLISHED    that connect succeeded: emit `connect`;
 *     SYN_SENT -> CLOSE          it failed: emit `connect` with NET_F_FAILED;
 *     SYN_RECV -> ESTABLISHED    a passive open: remember when (in `born`,
 *                                for every socket: softirq context cannot
 *                                tell who will accept it);
 *     * -> CLOSE                 a remembered socket ends: emit `close` with
 *                                its duration and tcp_sock's byte counters.
 *   tracepoint/syscalls/sys_exit_accept{,4}
 *                                a traced process accepted a TCP socket: the
 *                                fd is looked up in its file table; emit
 *                                `accept` and remember the socket.
 * The state changes of a connection happen in softirq context, where the
 * current task is anyone: the pid and comm reported are those of the process
 * that called connect() or accept(), saved in `conns`. */
// clang-format off
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpf/shared/net.h"
#include "scope_events.bpf.h"
#include "scope_filter.bpf.h"
#include "scope_syscall_dispatch.bpf.h"
// clang-format on

char LICENSE[] SEC("license") = "GPL";

/* Wake the reader only once this much is pending; it polls every 5 ms meanwhile. */
const volatile __u64 wakeup_bytes = 256 << 10;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 4 << 20);
} events SEC(".maps");

/* Traced sockets from connect()/accept() to their close. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, __u64); /* struct sock * */
  __type(value, struct net_conn);
} conns SEC(".maps");

/* When passively opened sockets were established, until accept() takes them
 * (every socket on the host: losing one only makes a duration start at accept). */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64); /* struct sock * */
  __type(value, __u64);
} born SEC(".maps");

SCOPE_DROPPED_COUNTERS(NET_DROP_COUNT)

/* Addresses and ports of `sk`. */
static __always_inline void fill_addrs(struct net_event *ev, const struct sock *sk) {
  __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  ev->family = family;
  if (family == NET_AF_INET6) {
    BPF_CORE_READ_INTO(&ev->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
    BPF_CORE_READ_INTO(&ev->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
  } else {
    __be32 s = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
    __be32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);
    __builtin_memcpy(ev->saddr, &s, 4);
    __builtin_memcpy(ev->daddr, &d, 4);
  }
  /* inet_sport, not skc_num: the port is released (skc_num = 0) before the
   * state becomes CLOSE; inet_sport keeps it (as the tracepoint reports it). */
  ev->sport = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
  ev->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
}

static __always_inline struct net_event *reserve(void) {
  struct net_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
  if (!ev) {
    count_drop(NET_DROP_RINGBUF);
    return 0;
  }
  __builtin_memset(ev, 0, sizeof(*ev));
  return ev;
}

/* An event on behalf of the process saved in `c`. */
static __always_inline void emit_for(const struct net_conn *c, const struct sock *sk, __u8 op,
                                     __u8 flags, __u64 now, __u64 duration, int oldstate) {
  struct net_event *ev = reserve();
  if (!ev) return;
  ev->pid = c->pid;
  ev->tid = c->tid;
  __builtin_memcpy(ev->comm, c->comm, sizeof(ev->comm));
  ev->ts_ns = now;
  ev->duration_ns = duration;
  ev->op = op;
  ev->flags = flags;
  if (op == NET_OP_CLOSE) {
    const struct tcp_sock *tp = (const struct tcp_sock *)sk;
    unsigned long sk_flags = BPF_CORE_READ(sk, __sk_common.skc_flags);
    int fin_received = (sk_flags >> bpf_core_enum_value(enum sock_flags, SOCK_DONE)) & 1;
    ev->rx_bytes = net_payload_rx(BPF_CORE_READ(tp, bytes_received), fin_received);
    ev->tx_bytes = net_payload_tx(BPF_CORE_READ(tp, bytes_acked), c->op == NET_OP_CONNECT, oldstate,
                                  BPF_CORE_READ(tp, snd_una), BPF_CORE_READ(tp, write_seq));
    ev->flags |= NET_F_HAS_BYTES;
  }
  fill_addrs(ev, sk);
  bpf_ringbuf_submit(ev, SCOPE_SUBMIT_FLAGS(&events, wakeup_bytes));
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(net_set_state, const struct sock *sk, const int oldstate, const int newstate) {
  if (BPF_CORE_READ(sk, sk_protocol) != NET_IPPROTO_TCP) return 0;
  int t = net_classify(oldstate, newstate);
  if (t == NET_T_NONE) return 0;
  __u64 key = (__u64)sk;
  __u64 now = bpf_ktime_get_ns();

  if (t == NET_T_CONNECTING) {
    /* connect(): the current task is the caller. */
    __u64 id = bpf_get_current_pid_tgid();
    if (!is_traced(id >> 32)) return 0;
    struct net_conn c = {};
    c.pid = id >> 32;
    c.tid = (__u32)id;
    bpf_get_current_comm(c.comm, sizeof(c.comm));
    c.start_ns = now;
    c.op = NET_OP_CONNECT;
    if (bpf_map_update_elem(&conns, &key, &c, BPF_ANY)) count_drop(NET_DROP_CONNS);
    return 0;
  }
  if (t == NET_T_PASSIVE_OPEN) {
    bpf_map_update_elem(&born, &key, &now, BPF_ANY);
    return 0;
  }
  if (t == NET_T_CLOSED) bpf_map_delete_elem(&born, &key);

  struct net_conn *c = bpf_map_lookup_elem(&conns, &key);
  if (!c) return 0;
  if (t == NET_T_CONNECTED) {
    emit_for(c, sk, NET_OP_CONNECT, NET_F_HAS_DURATION, now, now - c->start_ns, oldstate);
    c->start_ns = now;
    c->established = 1;
    return 0;
  }
  /* NET_T_CLOSED */
  if (c->established)
    emit_for(c, sk, NET_OP_CLOSE, NET_F_HAS_DURATION, now, now - c->start_ns, oldstate);
  else if (c->op == NET_OP_CONNECT)
    emit_for(c, sk, NET_OP_CONNECT, NET_F_FAILED | NET_F_HAS_DURATION, now, now - c->start_ns,
             oldstate);
  bpf_map_delete_elem(&conns, &key);
  return 0;
}

/* accept()/accept4() returned `fd`: if it is a TCP socket, report it. */
static __always_inline int on_accept_exit(long fd) {
  if (fd < 0) return 0;
  __u64 id = bpf_get_current_pid_tgid();
  if (!is_traced(id >> 32)) return 0;
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
  if (!fdt || (unsigned long)fd >= BPF_CORE_READ(fdt, max_fds)) return 0;
  struct file **fds = BPF_CORE_READ(fdt, fd);
  struct file *file = 0;
  bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
  if (!file) return 0;
  struct socket *sock = BPF_CORE_READ(file, private_data);
  if (!sock || BPF_CORE_READ(sock, file) != file) return 0; /* not a socket */
  struct sock *sk = BPF_CORE_READ(sock, sk);
  if (!sk || BPF_CORE_READ(sk, sk_protocol) != NET_IPPROTO_TCP) return 0;

  __u64 key = (__u64)sk;
  __u64 now = bpf_ktime_get_ns();
  struct net_conn c = {};
  c.pid = id >> 32;
  c.tid = (__u32)id;
  bpf_get_current_comm(c.comm, sizeof(c.comm));
  c.op = NET_OP_ACCEPT;
  c.established = 1;
  __u64 *t = bpf_map_lookup_elem(&born, &key);
  c.start_ns = t ? *t : now;
  if (t) bpf_map_delete_elem(&born, &key);
  emit_for(&c, sk, NET_OP_ACCEPT, 0, now, 0, 0);
  /* Already closed (reset before accept): no close will follow. */
  if (BPF_CORE_READ(sk, __sk_common.skc_state) == NET_TCP_CLOSE) return 0;
  if (bpf_map_update_elem(&conns, &key, &c, BPF_ANY)) count_drop(NET_DROP_CONNS);
  return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int net_accept_exit(struct trace_event_raw_sys_exit *ctx) { return on_accept_exit(ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_accept4")
int net_accept4_exit(struct trace_event_raw_sys_exit *ctx) { return on_accept_exit(ctx->ret); }

/* accept and accept4 as a handler of the syscalls family's dispatch
 * (userspace loads it or the two above). */
SEC("tp_btf/sys_exit")
int BPF_PROG(sd_accept_exit, struct pt_regs *regs, long ret) {
  if (dispatched_compat()) return 0;
  return on_accept_exit(ret);
}
