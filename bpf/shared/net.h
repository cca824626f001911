/* Records shared by bpf/net.bpf.c and src/families/net_family.cpp. Fixed-width
 * fields only; sizes are static_assert'ed on both sides. Included from BPF C
 * (vmlinux.h types) and C++. */
#ifndef SCOPE_BPF_SHARED_NET_H
#define SCOPE_BPF_SHARED_NET_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Operations, as named in DESIGN.md's `net` vocabulary. */
enum net_op {
  NET_OP_CONNECT = 1, /* SYN_SENT -> ESTABLISHED (or -> CLOSE: a failed connect) */
  NET_OP_ACCEPT = 2,  /* accept()/accept4() returned a TCP socket */
  NET_OP_CLOSE = 3,   /* a connect()ed or accept()ed socket reached TCP_CLOSE */
};

enum net_flags {
  NET_F_FAILED = 1 << 0,      /* connect: the socket went SYN_SENT -> CLOSE */
  NET_F_HAS_BYTES = 1 << 1,   /* close: rx_bytes / tx_bytes are valid */
  NET_F_HAS_DURATION = 1 << 2 /* duration_ns is valid */
};

/* The kernel's TCP states (include/net/tcp_states.h) this family looks at. */
#define NET_TCP_ESTABLISHED 1
#define NET_TCP_SYN_SENT 2
#define NET_TCP_SYN_RECV 3
#define NET_TCP_FIN_WAIT1 4
#define NET_TCP_FIN_WAIT2 5
#define NET_TCP_TIME_WAIT 6
#define NET_TCP_CLOSE 7
#define NET_TCP_LAST_ACK 9
#define NET_TCP_CLOSING 11
#define NET_IPPROTO_TCP 6

/* What a TCP state change means to this family. */
enum net_transition {
  NET_T_NONE = 0,
  NET_T_CONNECTING = 1,   /* CLOSE -> SYN_SENT: connect() called (current task = the caller) */
  NET_T_CONNECTED = 2,    /* SYN_SENT -> ESTABLISHED: the handshake completed */
  NET_T_PASSIVE_OPEN = 3, /* SYN_RECV -> ESTABLISHED: a connection waits for accept() */
  NET_T_CLOSED = 4,       /* anything else -> CLOSE: the end (a failed connect from SYN_SENT) */
};

static inline int net_classify(int oldstate, int newstate) {
  if (oldstate == NET_TCP_CLOSE && newstate == NET_TCP_SYN_SENT) return NET_T_CONNECTING;
  if (oldstate == NET_TCP_SYN_SENT && newstate == NET_TCP_ESTABLISHED) return NET_T_CONNECTED;
  if (oldstate == NET_TCP_SYN_RECV && newstate == NET_TCP_ESTABLISHED) return NET_T_PASSIVE_OPEN;
  if (oldstate != NET_TCP_CLOSE && newstate == NET_TCP_CLOSE) return NET_T_CLOSED;
  return NET_T_NONE;
}

/* Payload bytes sent and acknowledged, from tcp_sock.bytes_acked, which also
 * counts one sequence number for the SYN of an active open and one for our
 * FIN once acknowledged. The FIN is queued once the socket left ESTABLISHED
 * for FIN_WAIT1/CLOSING/LAST_ACK, and acknowledged when snd_una reached
 * write_seq (the kernel's own test); in FIN_WAIT2 and TIME_WAIT it was. */
static inline __u64 net_payload_tx(__u64 bytes_acked, int active_open, int oldstate, __u32 snd_una,
                                   __u32 write_seq) {
  __u64 ctl = active_open ? 1 : 0;
  if (oldstate == NET_TCP_FIN_WAIT2 || oldstate == NET_TCP_TIME_WAIT)
    ctl += 1;
  else if ((oldstate == NET_TCP_FIN_WAIT1 || oldstate == NET_TCP_CLOSING ||
            oldstate == NET_TCP_LAST_ACK) &&
           snd_una == write_seq)
    ctl += 1;
  return bytes_acked > ctl ? bytes_acked - ctl : 0;
}

/* Payload bytes received, from tcp_sock.bytes_received, which also counts
 * the peer's FIN (SOCK_DONE set: the peer closed its side). */
static inline __u64 net_payload_rx(__u64 bytes_received, int fin_received) {
  __u64 ctl = fin_received ? 1 : 0;
  return bytes_received > ctl ? bytes_received - ctl : 0;
}

/* Address families (the kernel's AF_* values). */
#define NET_AF_INET 2
#define NET_AF_INET6 10

/* One connect, accept or close. ts_ns is CLOCK_MONOTONIC (bpf_ktime_get_ns).
 * duration_ns: connect, the handshake (SYN_SENT -> ESTABLISHED or CLOSE);
 * close, the connection's life since it was established. */
struct net_event {
  __u32 pid;
  __u32 tid;
  char comm[16];
  __u64 ts_ns;
  __u64 duration_ns;
  __u64 rx_bytes; /* tcp_sock.bytes_received */
  __u64 tx_bytes; /* tcp_sock.bytes_acked */
  __u8 saddr[16]; /* local; IPv4: the first 4 bytes, network order */
  __u8 daddr[16]; /* remote */
  __u16 sport;    /* local port, host order */
  __u16 dport;    /* remote port, host order */
  __u16 family;   /* NET_AF_INET / NET_AF_INET6 */
  __u8 op;        /* enum net_op */
  __u8 flags;     /* enum net_flags */
};

/* A traced socket between its open and its close, keyed by the struct sock address. */
struct net_conn {
  __u32 pid;
  __u32 tid;
  char comm[16];
  __u64 start_ns; /* SYN_SENT time until established, then the established time */
  __u8 op;        /* NET_OP_CONNECT or NET_OP_ACCEPT */
  __u8 established;
  __u16 reserved;
  __u32 reserved2;
};

/* Indexes of the per-CPU `dropped` counters. */
enum net_drop {
  NET_DROP_RINGBUF = 0, /* an event found the ring buffer full */
  NET_DROP_CONNS = 1,   /* a traced socket found `conns` full: its later events are lost */
  NET_DROP_COUNT = 2,
};

#ifdef __cplusplus
static_assert(sizeof(struct net_event) == 96, "net_event layout changed");
static_assert(sizeof(struct net_conn) == 40, "net_conn layout changed");
#else
_Static_assert(sizeof(struct net_event) == 96, "net_event layout changed");
_Static_assert(sizeof(struct net_conn) == 40, "net_conn layout changed");
#endif

#endif
