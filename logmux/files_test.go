package logmux

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// outsidePoller returns a real pipe whose read end the runtime's poller
// does not wait for (os.NewFile of a blocking descriptor), as a supervisor
// that makes its own pipes hands them over.
func outsidePoller(t testing.TB) (r, w *os.File) {
	t.Helper()
	var p [2]int
	syscall.ForkLock.RLock()
	err := syscall.Pipe(p[:])
	if err == nil {
		syscall.CloseOnExec(p[0])
		syscall.CloseOnExec(p[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	r, w = os.NewFile(uintptr(p[0]), "|0"), os.NewFile(uintptr(p[1]), "|1")
	if r.SetReadDeadline(time.Time{}) == nil {
		t.Fatal("a pipe from a blocking descriptor is in the poller")
	}
	return r, w
}

// nonblocking reports whether f's descriptor has O_NONBLOCK.
func nonblocking(t testing.TB, f *os.File) bool {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fl int
	rc.Control(func(fd uintptr) { fl, err = unix.FcntlInt(fd, unix.F_GETFL, 0) })
	if err != nil {
		t.Fatal(err)
	}
	return fl&unix.O_NONBLOCK != 0
}

// TestPartialLineOutsidePoller: a prompt on a pipe that the runtime's
// poller does not wait for is shown while the child still runs, whether
// the descriptor is blocking or not, and Copy leaves its mode as it was.
func TestPartialLineOutsidePoller(t *testing.T) {
	for _, nonblock := range []bool{false, true} {
		t.Run(fmt.Sprintf("nonblocking=%v", nonblock), func(t *testing.T) {
			r, w := outsidePoller(t)
			defer r.Close()
			if nonblock {
				rc, _ := r.SyscallConn()
				rc.Control(func(fd uintptr) { unix.SetNonblock(int(fd), true) })
			}
			var out syncBuffer
			m := New(&out, Options{})
			wait := startCopy(t, m, "web.1", r)
			w.Write([]byte("first\nName? "))
			waitFor(t, "the prompt", func() bool { return out.String() == "web.1  | first\nweb.1  | Name? \n" })
			w.Write([]byte("Ann\n"))
			w.Close()
			wait()
			m.Close()
			if got, want := out.String(), "web.1  | first\nweb.1  | Name? \nweb.1  | Ann\n"; got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
			if got := nonblocking(t, r); got != nonblock {
				t.Fatalf("after Copy, O_NONBLOCK is %v, want %v as before", got, nonblock)
			}
		})
	}
}

// TestRegularFile: files that no poller waits for, a regular file and
// /dev/null, are read to EOF, the last line without newline included.
func TestRegularFile(t *testing.T) {
	var input []byte
	for i := range 20000 { // far more than one small read
		input = fmt.Appendf(input, "line %05d %s\n", i, strings.Repeat("x", 40))
	}
	input = append(input, "no newline"...)
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, input, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	m := New(&out, Options{})
	copyAll(t, m, "web.1", 1, f)
	m.Close()
	got := strings.ReplaceAll(out.String(), "web.1  | ", "")
	if want := string(input) + "\n"; got != want {
		t.Fatalf("got %d bytes, want %d", len(got), len(want))
	}

	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	out = syncBuffer{}
	m = New(&out, Options{})
	copyAll(t, m, "web.1", 1, null)
	m.Close()
	if got := out.String(); got != "" {
		t.Fatalf("%s gave %q", os.DevNull, got)
	}
}

// TestLongLinesHeld: while one child writes 1 MiB lines in 4 KiB pieces,
// four others write short lines through the same kind of pipe; every long
// line arrives whole, and every short line once, in order.
func TestLongLinesHeld(t *testing.T) {
	for _, kind := range []string{"os.Pipe", "outside the poller"} {
		t.Run(kind, func(t *testing.T) {
			pipe := func() (r, w *os.File) {
				if kind == "os.Pipe" {
					r, w, err := os.Pipe()
					if err != nil {
						t.Fatal(err)
					}
					return r, w
				}
				return outsidePoller(t)
			}
			const longs, shorts, writers = 3, 10000, 4
			big := make([]byte, 1<<20)
			for i := range big {
				big[i] = 'a' + byte(i%26)
			}
			var out syncBuffer
			m := New(&out, Options{})
			m.partial = time.Hour // the long writer is never silent for long
			var wg sync.WaitGroup
			r, w := pipe()
			go func() {
				defer w.Close()
				for range longs {
					for i := 0; i < len(big); i += 4096 {
						if _, err := w.Write(big[i : i+4096]); err != nil {
							return
						}
					}
					if _, err := w.Write([]byte("\nshort from big\n")); err != nil {
						return
					}
				}
			}()
			wg.Go(func() { copyAll(t, m, "big.1", 1, r) })
			for id := range writers {
				r, w := pipe()
				go producer(w, id, shorts)
				wg.Go(func() { copyAll(t, m, fmt.Sprintf("w%d.1", id), 2+id, r) })
			}
			wg.Wait()
			m.Close()
			next := make([]int, writers)
			var bigs, fromBig int
			for _, line := range strings.SplitAfter(out.String(), "\n") {
				switch {
				case line == "":
				case strings.HasPrefix(line, "big.1  | "):
					text := strings.TrimPrefix(line, "big.1  | ")
					switch {
					case text == "short from big\n":
						fromBig++
					case text == string(big)+"\n":
						bigs++
					default:
						t.Fatalf("line of big.1 damaged: %d bytes, starting %.40q", len(text), text)
					}
				default:
					var id, seq int
					if _, err := fmt.Sscanf(line, "w%d.1   | w%d %06d", &id, &id, &seq); err != nil || len(line) != len("w0.1   | w0 000000 ")+81 {
						t.Fatalf("short line damaged: %.100q", line)
					}
					if seq != next[id] {
						t.Fatalf("writer %d: line %d, want %d", id, seq, next[id])
					}
					next[id]++
				}
			}
			if bigs != longs || fromBig != longs {
				t.Fatalf("got %d long lines and %d short ones from big.1, want %d each", bigs, fromBig, longs)
			}
			for id, n := range next {
				if n != shorts {
					t.Errorf("writer %d: %d lines, want %d", id, n, shorts)
				}
			}
		})
	}
}

// TestIdleChildrenOutsidePoller: children on pipes that the runtime's
// poller does not wait for, idle after a line, cost far less than a large
// read buffer each. The portable reader waits in read(2) with a small
// buffer, on a thread per child (whose runtime state is most of the rest).
func TestIdleChildrenOutsidePoller(t *testing.T) {
	checkIdleChildren(t, 100, 16<<10, outsidePoller)
}

// TestSocketClosedWithInputUnread: a child whose stdin and output are one
// socket (the portable build's) exits without reading what was typed to
// it. The socket then ends in ECONNRESET instead of EOF: Copy still reads
// every line before it, and ends without an error.
func TestSocketClosedWithInputUnread(t *testing.T) {
	syscall.ForkLock.RLock()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err == nil {
		unix.CloseOnExec(fds[0])
		unix.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		t.Fatal(err)
	}
	ours, child := os.NewFile(uintptr(fds[0]), "procman"), os.NewFile(uintptr(fds[1]), "child")
	defer ours.Close()
	if _, err := ours.Write([]byte("typed, never read\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := child.Write([]byte("one\ntwo\nno newline")); err != nil {
		t.Fatal(err)
	}
	child.Close()
	var out syncBuffer
	m := New(&out, Options{Width: 6})
	m.partial = 0
	if err := m.Copy("web.1", 42, ours); err != nil {
		t.Errorf("Copy: %v, want nil", err)
	}
	m.Close()
	want := "web.1  | one\nweb.1  | two\nweb.1  | no newline\n"
	if out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}
