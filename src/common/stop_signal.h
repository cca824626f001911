// SIGINT, SIGTERM and SIGHUP ask a long-running command to stop: the handler
// only records the signal; the command's loop looks at it. SIGPIPE is ignored
// (a closed stdout or socket is an error return, not a death).
#pragma once

namespace scope {

void install_stop_signal_handlers();
// In a forked child before exec (async-signal-safe): SIGPIPE's disposition and the signal mask as
// scope found them, so a traced command runs as it would have without scope (an ignored SIGPIPE
// would survive exec, and `yes | head -1` would behave differently).
void restore_inherited_signals();
// The signal that asked to stop, or 0.
int stop_signal();

}  // namespace scope
