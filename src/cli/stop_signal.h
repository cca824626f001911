// SIGINT/SIGTERM/SIGHUP as a flag the long-running commands poll.
#pragma once

#include <signal.h>

#include <atomic>

namespace scope::cli {

inline std::atomic<int>& stop_signal() {
  static std::atomic<int> sig{0};
  return sig;
}

inline void install_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = [](int sig) { stop_signal() = sig; };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

}  // namespace scope::cli
