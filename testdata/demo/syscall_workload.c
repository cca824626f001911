// A deterministic workload for comparing scope with `strace -f`: exact
// getppid calls, failing opens (absolute and relative), a creat, fork+exec of
// string literals (execl, and execveat relative to a directory fd), a vfork,
// and threads writing. Every run makes the same syscalls.
//
//   syscall_workload [--orphan SECONDS]
//     --orphan: also leave a child behind that exits SECONDS after the
//               workload itself (to test following orphans).
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define GETPPIDS 1234
#define FAILED_OPENS 7
#define THREADS 4
#define WRITES_PER_THREAD 100

extern char** environ;

static int devnull = -1;

static void* writer(void* arg) {
  (void)arg;
  for (int i = 0; i < WRITES_PER_THREAD; i++)
    if (write(devnull, "x", 1) != 1) break;
  return NULL;
}

static void wait_child(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
}

int main(int argc, char** argv) {
  double orphan_s = argc == 3 && strcmp(argv[1], "--orphan") == 0 ? atof(argv[2]) : 0;
  for (int i = 0; i < GETPPIDS; i++) syscall(SYS_getppid);
  for (int i = 0; i < FAILED_OPENS; i++) open("/nonexistent/scope-workload", O_RDONLY);
  openat(AT_FDCWD, "scope-workload-relative-missing", O_RDONLY);

  char dir[] = "/tmp/scope-workload-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  char created[64];
  snprintf(created, sizeof created, "%s/created", dir);
  int fd = creat(created, 0600);
  if (fd >= 0) close(fd);
  unlink(created);
  rmdir(dir);

  // A child that execs string literals right after fork (their pages are not mapped in it yet).
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/echo", "echo", "x", (char*)NULL);
    _exit(127);
  }
  wait_child(pid);
  pid = fork();
  if (pid == 0) {
    int bin = open("/bin", O_PATH | O_DIRECTORY);
    char* const args[] = {"true", NULL};
    syscall(SYS_execveat, bin, "true", args, environ, 0);
    _exit(127);
  }
  wait_child(pid);
  pid = vfork();
  if (pid == 0) _exit(0);
  wait_child(pid);

  devnull = open("/dev/null", O_WRONLY);
  pthread_t threads[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&threads[i], NULL, writer, NULL);
  for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
  close(devnull);

  if (orphan_s > 0 && fork() == 0) {
    close(1);  // as a daemon does: whoever reads the workload's output does not wait for it
    close(2);
    usleep((useconds_t)(orphan_s * 1e6));
    execl("/bin/true", "true", (char*)NULL);
    _exit(127);
  }
  return 0;
}
