/* nocuda: no CUDA at all; sleeps 0.3 s and exits 0. */
#define _GNU_SOURCE
#include <time.h>

int main(void) {
  struct timespec ts = {0, 300 * 1000 * 1000};
  while (nanosleep(&ts, &ts) != 0) {
  }
  return 0;
}
