#include "session/command.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/stop_signal.h"
#include "common/text.h"

namespace scope::session {

namespace {

int shell_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

// The child: waits for the go-ahead, then execs. As few calls as can be (they are not traced,
// but they run before the command). An exec failure goes back through `err_fd` (closed on a
// successful exec).
[[noreturn]] void run_child(int gate_fd, int err_fd, int stdout_fd, const std::string& path,
                            const std::vector<std::string>& argv) {
  if (stdout_fd >= 0 && stdout_fd != STDOUT_FILENO) dup2(stdout_fd, STDOUT_FILENO);
  restore_inherited_signals();
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  char go = 0;
  if (read(gate_fd, &go, 1) != 1) _exit(127);
  execv(path.c_str(), args.data());
  int err = errno;
  ssize_t ignored = write(err_fd, &err, sizeof(err));
  (void)ignored;
  _exit(127);
}

}  // namespace

Result<std::unique_ptr<Command>> Command::fork_gated(const std::string& path,
                                                     const std::vector<std::string>& argv,
                                                     int stdout_fd) {
  int gate[2], err[2];
  if (pipe2(gate, O_CLOEXEC) != 0) return make_error("pipe: " + errno_text(errno));
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(gate[0]);
    close(gate[1]);
    return make_error("pipe: " + errno_text(errno));
  }
  std::fflush(nullptr);
  std::unique_ptr<Command> c(new Command());
  c->pid_ = fork();
  if (c->pid_ < 0) return make_error("fork: " + errno_text(errno));
  if (c->pid_ == 0) {
    close(gate[1]);
    close(err[0]);
    run_child(gate[0], err[1], stdout_fd, path, argv);
  }
  close(gate[0]);
  close(err[1]);
  c->gate_fd_ = gate[1];
  c->err_fd_ = err[0];
  return c;
}

Command::~Command() {
  if (gate_fd_ >= 0) close(gate_fd_);
  if (err_fd_ >= 0) close(err_fd_);
  if (pid_ > 0 && !status_) {
    kill(pid_, SIGKILL);
    int st = 0;
    waitpid(pid_, &st, 0);
  }
}

Status Command::go() {
  char go = 1;
  bool sent = write(gate_fd_, &go, 1) == 1;
  close(gate_fd_);
  gate_fd_ = -1;
  if (!sent) return make_error("cannot start the command: " + errno_text(errno));
  int exec_errno = 0;
  ssize_t n = read(err_fd_, &exec_errno, sizeof exec_errno);
  close(err_fd_);
  err_fd_ = -1;
  if (n != static_cast<ssize_t>(sizeof exec_errno)) return Ok{};
  int st = 0;
  waitpid(pid_, &st, 0);
  status_ = exec_errno == ENOENT ? 127 : 126;
  return make_error(exec_errno == ENOENT ? Errc::kNotFound : Errc::kBadInput,
                    std::strerror(exec_errno));
}

std::optional<int> Command::exited() {
  if (status_ || pid_ <= 0) return status_;
  int st = 0;
  if (waitpid(pid_, &st, WNOHANG) == pid_) status_ = shell_status(st);
  return status_;
}

int Command::terminate(int sig) {
  if (exited()) return *status_;
  kill(pid_, sig);
  kill(pid_, SIGCONT);
  int st = 0;
  waitpid(pid_, &st, 0);
  status_ = shell_status(st);
  return *status_;
}

}  // namespace scope::session
