//go:build aix || solaris

package logmux

import "golang.org/x/sys/unix"

// The ioctl(2) requests that get and set a terminal's termios.
const (
	getTermios = unix.TCGETS
	setTermios = unix.TCSETS
)
