package logmux

import (
	"fmt"
	"os"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// OpenPTY returns a new pty pair whose output post-processing is off (OPOST
// cleared: the child's "\n" reaches the master as "\n", never "\r\n", and
// every byte passes unchanged) and whose window is cols x rows. The master
// is non-blocking and in the runtime poller, so Copy waits on it without a
// thread or a buffer. The child gets the slave as its controlling terminal
// (Setsid and Setctty); the caller closes its copy of the slave once the
// child has started, and closes the master after Copy returned.
func OpenPTY(cols, rows uint16) (master, slave *os.File, err error) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("logmux: open pty: %w", err)
	}
	defer func() {
		if err != nil {
			tty.Close()
		}
	}()
	fd := int(tty.Fd())
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		ptmx.Close()
		return nil, nil, fmt.Errorf("logmux: pty termios: %w", err)
	}
	t.Oflag &^= unix.OPOST
	if err = unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		ptmx.Close()
		return nil, nil, fmt.Errorf("logmux: pty termios: %w", err)
	}
	if err = pty.Setsize(tty, &pty.Winsize{Cols: cols, Rows: rows}); err != nil {
		ptmx.Close()
		return nil, nil, fmt.Errorf("logmux: pty size: %w", err)
	}
	// creack/pty used Fd() on the master, which left it blocking and out of
	// the poller; a non-blocking duplicate makes os.NewFile register it.
	mfd, err := unix.FcntlInt(ptmx.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	ptmx.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("logmux: pty: %w", err)
	}
	if err = unix.SetNonblock(mfd, true); err != nil {
		unix.Close(mfd)
		return nil, nil, fmt.Errorf("logmux: pty: %w", err)
	}
	return os.NewFile(uintptr(mfd), "/dev/ptmx"), tty, nil
}
