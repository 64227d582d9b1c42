//go:build !linux || procman_portable

package supervisor

import (
	"os"
	"syscall"
)

// hasSubreaper says that this build makes procman a child subreaper; the
// portable one does not, so an orphan of a process (a daemon that left
// its process group) is not procman's to stop.
const hasSubreaper = false

// setSubreaper does nothing where procman cannot be a subreaper.
func setSubreaper(bool) (was bool, err error) { return false, nil }

// outputPipe returns a child's output and input: a connected pair of Unix
// stream sockets, procman's end r in the runtime's poller and the child's
// end w, which is its stdin as well as its stdout and stderr (duplex), and a
// function to call once r is closed. One socket instead of two pipes keeps
// procman at one descriptor per running child: here every fork copies
// procman's whole descriptor table, and a second descriptor per running
// child made starting 100 children about 15% slower.
func outputPipe() (r, w *os.File, duplex bool, closed func(), err error) {
	syscall.ForkLock.RLock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, false, nil, os.NewSyscallError("socketpair", err)
	}
	if err := syscall.SetNonblock(fds[0], true); err != nil {
		syscall.Close(fds[0])
		syscall.Close(fds[1])
		return nil, nil, false, nil, os.NewSyscallError("fcntl", err)
	}
	sizeSocketBuffers(fds[0], fds[1])
	// A non-blocking descriptor goes into the poller; the child's
	// blocking one does not.
	return os.NewFile(uintptr(fds[0]), "|0"), os.NewFile(uintptr(fds[1]), "|1"), true, func() {}, nil
}

// strays lists the processes that no group signal reaches: without a
// subreaper and a /proc to read, procman knows none (as PID 1 it signals
// every process with kill(-1) instead; see ownProc).
func strays(self int, all bool, groups map[int]bool) []int { return nil }

// ownProc says whether /proc shows procman's own pid namespace; the
// portable implementation does not read /proc.
func ownProc() bool { return false }

// listeningPorts cannot read the kernel's listening sockets here: known
// is false, and readiness comes from dialLoopback.
func listeningPorts() (ports listeners, known bool) { return nil, false }
