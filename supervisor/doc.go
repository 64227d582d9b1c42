// Package supervisor owns the lifecycles of procman's child processes:
// starting each in its own process group, reaping every child (and, as a
// subreaper or PID 1, every orphan), forwarding signals, and the two-phase
// stop (SIGTERM, grace period, SIGKILL). All state changes happen in one
// owner goroutine. It never reads flags, os.Args or os.Environ, and writes
// output only through the logmux.Mux it is given.
//
// The portable implementation builds on every Unix; Linux accelerators
// (the fork thread, sock_diag readiness, the subreaper, grown pipes) sit
// in files built with linux && !procman_portable, behind the forker
// interface and the functions of host_portable.go.
package supervisor
