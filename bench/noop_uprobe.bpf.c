// SPDX-License-Identifier: GPL-2.0
/* The floor of uprobe overhead: a program that does nothing. Every uprobe pays the trap into the
 * kernel, the instruction single-step/emulation and the BPF dispatch; this measures just that. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("uprobe")
int noop(void *ctx) { return 0; }
