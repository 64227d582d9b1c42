//go:build linux || freebsd

package logmux

import (
	"os"

	"golang.org/x/sys/unix"
)

// prepareMaster returns the master as Copy should read it: non-blocking and
// in the runtime's poller, so that Copy waits on it without a thread or a
// buffer. Linux's epoll and FreeBSD's kqueue handle ptys (FreeBSD's pts
// driver has a read filter, with EV_EOF once the slave side is closed).
// creack/pty used Fd() on the master, which left it blocking and out of the
// poller; a non-blocking duplicate makes os.NewFile register it. ptmx is
// closed.
func prepareMaster(ptmx *os.File) (*os.File, error) {
	mfd, err := unix.FcntlInt(ptmx.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	ptmx.Close()
	if err != nil {
		return nil, err
	}
	if err = unix.SetNonblock(mfd, true); err != nil {
		unix.Close(mfd)
		return nil, err
	}
	return os.NewFile(uintptr(mfd), "/dev/ptmx"), nil
}
