// SIGINT, SIGTERM and SIGHUP ask a long-running command to stop: the handler
// only records the signal; the command's loop looks at it. SIGPIPE is ignored
// (a closed stdout or socket is an error return, not a death).
#pragma once

namespace scope {

void install_stop_signal_handlers();
// The signal that asked to stop, or 0.
int stop_signal();

}  // namespace scope
