/* Opens and closes a file at a fixed rate: open_rate RATE SECONDS [PATH].
 * Prints the CPU seconds it used, so traced and untraced runs compare. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  double rate = argc > 1 ? atof(argv[1]) : 10000;
  double seconds = argc > 2 ? atof(argv[2]) : 3;
  const char* path = argc > 3 ? argv[3] : "/etc/hostname";
  long total = (long)(rate * seconds), done = 0;
  double start = now();
  while (done < total) {
    double due = start + done / rate;
    double t = now();
    if (t < due) {
      struct timespec d = {0, (long)((due - t) * 1e9)};
      nanosleep(&d, NULL);
    }
    int fd = open(path, O_RDONLY);
    if (fd >= 0) close(fd);
    ++done;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
               ru.ru_stime.tv_usec / 1e6;
  printf("opens %ld wall %.3f cpu %.3f\n", done, now() - start, cpu);
  return 0;
}
