/* forking_demo CUDA_DEMO: forks a child that execs CUDA_DEMO --threads 1
 * --iterations 1 --no-leak, waits for it and exits with its exit status. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: forking_demo PATH_TO_CUDA_DEMO\n");
    return 2;
  }
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    return 1;
  }
  if (pid == 0) {
    char *args[] = {argv[1], "--threads", "1", "--iterations", "1", "--no-leak", NULL};
    execv(argv[1], args);
    perror("execv");
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) {
    perror("waitpid");
    return 1;
  }
  printf("child %d exited %d\n", (int)pid, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
