//go:build linux && !procman_portable

package logmux

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestGrowPipe: a pipe writer's buffer is raised so that batches rarely
// wait for the reader; other writers are left alone.
func TestGrowPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	New(w, Options{})
	rc, err := w.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var size int
	rc.Control(func(fd uintptr) { size, err = unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0) })
	if err != nil {
		t.Fatal(err)
	}
	if size < pipeSize {
		// Unprivileged users over fs.pipe-user-pages-soft cannot grow pipes.
		t.Skipf("pipe buffer is %d bytes, not %d: over the user's pipe limits?", size, pipeSize)
	}
	New(&syncBuffer{}, Options{}) // not a file: nothing to do
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	New(f, Options{}) // a regular file: nothing to do, no error
}
