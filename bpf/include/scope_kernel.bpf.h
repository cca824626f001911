/* Kernel memory read by plain loads (faults read as zero, as for BTF pointers
 * in tp_btf programs) instead of one helper call per field: the verifier turns
 * the cast itself into a register move. `ptr` may be a pointer or a kernel
 * address kept as a number. Needs Linux 6.2 (bpf_rdonly_cast). */
#ifndef SCOPE_KERNEL_BPF_H
#define SCOPE_KERNEL_BPF_H

#include <bpf/bpf_core_read.h>

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define KERNEL(type, ptr) ((type *)bpf_rdonly_cast((void *)(ptr), bpf_core_type_id_kernel(type)))

#endif
