package logmux

import (
	"fmt"
	"os"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// OpenPTY returns a new pty pair whose output post-processing is off (OPOST
// cleared: the child's "\n" reaches the master as "\n", never "\r\n", and
// every byte passes unchanged) and whose window is cols x rows. On Linux
// and FreeBSD the master is non-blocking and in the runtime's poller, so
// Copy waits on it without a thread or a buffer; on macOS, whose kqueue
// does not handle ptys, it stays blocking and Copy reads it on a thread of
// its own. The child gets the slave as its controlling terminal (Setsid and
// Setctty); the caller closes its copy of the slave once the child has
// started, and closes the master after Copy returned.
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
	t, err := unix.IoctlGetTermios(fd, getTermios)
	if err != nil {
		ptmx.Close()
		return nil, nil, fmt.Errorf("logmux: pty termios: %w", err)
	}
	t.Oflag &^= unix.OPOST
	if err = unix.IoctlSetTermios(fd, setTermios, t); err != nil {
		ptmx.Close()
		return nil, nil, fmt.Errorf("logmux: pty termios: %w", err)
	}
	if err = pty.Setsize(tty, &pty.Winsize{Cols: cols, Rows: rows}); err != nil {
		ptmx.Close()
		return nil, nil, fmt.Errorf("logmux: pty size: %w", err)
	}
	if master, err = prepareMaster(ptmx); err != nil {
		return nil, nil, fmt.Errorf("logmux: pty: %w", err)
	}
	return master, tty, nil
}
