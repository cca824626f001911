// `scope trace -- COMMAND`: the command, forked and held at a gate until the
// session has attached everything it will load, then exec'd. The child is in
// the target filter from before its exec (kTracedAfterExec: traced from the
// exec on), so none of its own instructions is missed and none of scope's
// launcher calls is counted as its own.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace scope::session {

class Command {
 public:
  // Forks a child that waits for go() and then execs `path` with `argv` (argv[0] included) in
  // scope's environment. `stdout_fd` >= 0 becomes its stdout.
  static Result<std::unique_ptr<Command>> fork_gated(const std::string& path,
                                                     const std::vector<std::string>& argv,
                                                     int stdout_fd = -1);
  ~Command();  // a child never let go, or still running, is killed and reaped
  Command(const Command&) = delete;
  Command& operator=(const Command&) = delete;

  pid_t pid() const { return pid_; }
  // Lets the child exec. An exec that fails is an error (not_found, or bad_input for a file it
  // cannot execute), and the child is reaped.
  Status go();
  // Its exit status (128 + the signal when killed by one) once it has ended; nullopt before.
  std::optional<int> exited();
  // Sends `sig`, continues it (it may be stopped) and waits for its end; its exit status.
  int terminate(int sig);

 private:
  Command() = default;
  pid_t pid_ = -1;
  int gate_fd_ = -1;  // write end: one byte lets the child go
  int err_fd_ = -1;   // read end: the child's exec errno, or EOF on success
  std::optional<int> status_;
};

}  // namespace scope::session
