/* Context-switch ping-pong for the sched family's overhead (like `perf bench
 * sched pipe`): two processes pass one byte back and forth over two pipes.
 *   sched_pingpong [ROUND_TRIPS] [CPU]     (100000; CPU: pin both processes, -1 none)
 * Prints "ns_per_roundtrip N". Each round trip is two context switches when
 * both processes share one CPU. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 100000;
  int cpu = argc > 2 ? atoi(argv[2]) : 0;
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
      perror("sched_setaffinity");
      return 1;
    }
  }
  int ab[2], ba[2];
  if (pipe(ab) || pipe(ba)) return 1;
  char c = 0;
  pid_t child = fork();
  if (child < 0) return 1;
  if (child == 0) {
    for (long i = 0; i < n; i++)
      if (read(ab[0], &c, 1) != 1 || write(ba[1], &c, 1) != 1) _exit(1);
    _exit(0);
  }
  double t0 = now_ns();
  for (long i = 0; i < n; i++)
    if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1) return 1;
  double t1 = now_ns();
  int st = 0;
  waitpid(child, &st, 0);
  printf("ns_per_roundtrip %.0f\n", (t1 - t0) / n);
  return st != 0;
}
