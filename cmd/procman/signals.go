package main

import (
	"os"
	"os/signal"
	"syscall"
)

// handledSignals are every signal the supervisor acts on. Notify, never
// signal.Ignore: an ignored disposition (SIG_IGN) is inherited by children
// across exec, while a handled one is reset to the default. SIGPIPE is
// among them so that a closed stdout (procman start | head) becomes an
// EPIPE error the output stream reports, not a silent death.
var handledSignals = []os.Signal{
	syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGQUIT,
	syscall.SIGWINCH,
	syscall.SIGTSTP, syscall.SIGCONT, syscall.SIGTTIN, syscall.SIGTTOU,
	syscall.SIGPIPE,
}

// subscribe starts delivering handledSignals on the returned channel; call
// it before the first child starts, so that no signal is lost or takes its
// default action in between. The buffer covers a burst (a double Ctrl-C
// plus a few forwarded signals) while the supervisor is busy.
func subscribe() (ch <-chan os.Signal, stop func()) {
	c := make(chan os.Signal, 32)
	signal.Notify(c, handledSignals...)
	return c, func() { signal.Stop(c) }
}
