//go:build linux && !procman_portable

package supervisor

import (
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hasSubreaper says that this build makes procman a child subreaper, so
// that orphans of its processes (a daemonising child) come back to it and
// are stopped and reaped with the rest.
const hasSubreaper = true

// setSubreaper sets or clears the process's child-subreaper flag and
// returns what it was.
func setSubreaper(on bool) (was bool, err error) {
	var cur int32
	if err := unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&cur)), 0, 0, 0); err != nil {
		return false, fmt.Errorf("read the subreaper flag: %w", err)
	}
	flag := uintptr(0)
	if on {
		flag = 1
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, flag, 0, 0, 0); err != nil {
		return cur != 0, fmt.Errorf("become a subreaper: %w", err)
	}
	return cur != 0, nil
}

// outputPipe returns a pipe for a child's output (not duplex: its stdin is
// another pipe), and a function to call once its read end is closed. The
// fork thread forks from a descriptor table of its own, so the second
// descriptor costs no fork here. Unlike os.Pipe's, its ends are blocking and
// outside the runtime's poller, where each of the child's writes would
// wake an idle runtime thread although logmux waits for the pipe in its
// own epoll set (with logmux's set also kept out of it, relayed throughput
// with four busy children rose by about a tenth). logmux makes its end
// non-blocking while it reads.
func outputPipe() (r, w *os.File, duplex bool, closed func(), err error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, false, nil, fmt.Errorf("pipe: %w", err)
	}
	r, w = os.NewFile(uintptr(fds[0]), "|0"), os.NewFile(uintptr(fds[1]), "|1")
	closed = func() {}
	if grownPipes.Add(1) <= maxGrownPipes && growChildPipe(fds[0]) {
		closed = func() { grownPipes.Add(-1) }
	} else {
		grownPipes.Add(-1)
	}
	return r, w, false, closed, nil
}

// Children's output pipes open at once that were grown to grownPipeSize:
// larger pipes let the log mux read more per read(2), about a tenth more
// relayed throughput with busy children. Pipe memory counts against the
// user's pipe-user-pages-soft (64 MiB by default), and once over it every
// new pipe gets only two pages, so only the first few children's pipes grow
// (4 MiB in all) and an app of a thousand children is not starved.
var grownPipes atomic.Int32

const (
	maxGrownPipes = 16
	grownPipeSize = 256 << 10
)

// growChildPipe asks for a grownPipeSize buffer on the pipe whose read end
// is fd and reports whether it got it; the kernel allocates pages only as
// data waits in the pipe.
func growChildPipe(fd int) bool {
	n, _ := unix.FcntlInt(uintptr(fd), unix.F_SETPIPE_SZ, grownPipeSize)
	return n >= grownPipeSize
}
