//go:build !linux || procman_portable

package supervisor

import (
	"fmt"
	"os"
)

// hasSubreaper says that this build makes procman a child subreaper; the
// portable one does not, so an orphan of a process (a daemon that left
// its process group) is not procman's to stop.
const hasSubreaper = false

// setSubreaper does nothing where procman cannot be a subreaper.
func setSubreaper(bool) (was bool, err error) { return false, nil }

// outputPipe returns a pipe for a child's output, in the runtime's poller,
// and a function to call once its read end is closed.
func outputPipe() (r, w *os.File, closed func(), err error) {
	r, w, err = os.Pipe()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("pipe: %w", err)
	}
	return r, w, func() {}, nil
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
