/* The syscalls family benchmark's workload: N getppid() syscalls, timed.
 *   getppid_loop N    prints "ns_per_call X" (the thread's CPU time, user + system, per call)
 *                     and "wall_ns_per_call X" on stdout.
 * syscall(SYS_getppid): the cheapest real syscall (no vDSO, no caching). BPF programs on the
 * syscall tracepoints run in the calling thread, so their cost is in its CPU time; CPU time,
 * unlike wall time, leaves out the time the loop waited for a CPU on a busy machine. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 2000000;
  if (n <= 0) return 2;
  for (long i = 0; i < 10000; i++) syscall(SYS_getppid); /* warm up */
  double w0 = now_ns(CLOCK_MONOTONIC), c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
  for (long i = 0; i < n; i++) syscall(SYS_getppid);
  double c1 = now_ns(CLOCK_THREAD_CPUTIME_ID), w1 = now_ns(CLOCK_MONOTONIC);
  printf("ns_per_call %.2f\nwall_ns_per_call %.2f\n", (c1 - c0) / n, (w1 - w0) / n);
  return 0;
}
