#include "common/stop_signal.h"

#include <signal.h>

#include <atomic>

namespace scope {

namespace {

std::atomic<int> g_stop_signal{0};
struct sigaction g_inherited_pipe {};
sigset_t g_inherited_mask;
bool g_saved = false;

void on_stop_signal(int sig) { g_stop_signal = sig; }

}  // namespace

void install_stop_signal_handlers() {
  if (!g_saved) {
    sigaction(SIGPIPE, nullptr, &g_inherited_pipe);
    sigprocmask(SIG_SETMASK, nullptr, &g_inherited_mask);
    g_saved = true;
  }
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

void restore_inherited_signals() {
  if (!g_saved) return;
  sigaction(SIGPIPE, &g_inherited_pipe, nullptr);
  sigprocmask(SIG_SETMASK, &g_inherited_mask, nullptr);
}

int stop_signal() { return g_stop_signal.load(); }

}  // namespace scope
