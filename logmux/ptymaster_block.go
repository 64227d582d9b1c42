//go:build !linux && !freebsd

package logmux

import "os"

// prepareMaster returns the master as Copy should read it: as creack/pty
// opened it, blocking and outside the runtime's poller; Copy reads it on a
// thread of its own and times partial lines itself. macOS's kqueue does not handle a pty master:
// registered there, the master was reported readable while a read found
// nothing, and a reader spun at 100% CPU (golang/go#22099, creack/pty#52),
// which is why creack/pty opens it blocking on darwin on purpose (its
// deadline tests skip darwin). Other systems get the same choice, which
// works wherever read(2) does.
func prepareMaster(ptmx *os.File) (*os.File, error) { return ptmx, nil }
