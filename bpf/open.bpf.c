// SPDX-License-Identifier: GPL-2.0
/* Placeholder until the open family lands. */
// clang-format off
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "scope_filter.bpf.h"
// clang-format on

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sched_process_exec")
int BPF_PROG_placeholder_open(void *ctx) { return 0; }
