package control

import (
	"bufio"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These tests rely on Linux's answer to a connect when the listen backlog
// is full: EAGAIN. macOS and FreeBSD refuse it (ECONNREFUSED), as they do
// on a socket that nothing listens on.

// fullListener listens at path with the smallest backlog and fills it, as
// a procman too busy to accept would; it accepts only if the test does.
func fullListener(t *testing.T, path string) (fd int) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Shutdown(fd, unix.SHUT_RDWR) // wakes an accept: closing does not
		unix.Close(fd)
	})
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	for n := 0; ; n++ {
		c, err := connect(path)
		if errors.Is(err, syscall.EAGAIN) {
			return fd
		}
		if err != nil || n > 100 {
			t.Fatalf("filling the backlog: %d connections, then %v", n, err)
		}
		t.Cleanup(func() { unix.Close(c) })
	}
}

// A full backlog means a live procman: Listen leaves it alone, and a
// client waits for room until its deadline, then says why it failed.
func TestFullBacklog(t *testing.T) {
	path := sockPath(t)
	fullListener(t, path)
	var inUse *InUseError
	if _, err := Listen(path); !errors.As(err, &inUse) {
		t.Errorf("Listen: want an *InUseError, have %v", err)
	}
	const timeout = 300 * time.Millisecond
	start := time.Now()
	_, err := Call(path, Request{V: 1, Op: "ps"}, timeout)
	if took := time.Since(start); took < timeout {
		t.Errorf("Call gave up after %v, before its deadline", took)
	}
	if want := "control socket " + path + ": connect: resource temporarily unavailable"; err == nil || err.Error() != want {
		t.Errorf("want %q, have %v", want, err)
	}
	if !errors.Is(err, syscall.EAGAIN) || errors.Is(err, ErrNotRunning) {
		t.Errorf("want an error wrapping EAGAIN, have %#v", err)
	}
}

// A client that finds the backlog full is answered once the server makes
// room.
func TestCallWaitsForRoom(t *testing.T) {
	path := sockPath(t)
	ln := fullListener(t, path)
	type result struct {
		resp Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := Call(path, Request{V: 1, Op: "ps"}, deadline)
		done <- result{resp, err}
	}()
	// Make room by taking the filler off the queue, then answer the
	// client. It most likely found the queue full before; either way,
	// it must get its answer.
	go func() {
		for i := 0; ; i++ {
			nfd, _, err := unix.Accept(ln)
			if err != nil {
				return
			}
			c := os.NewFile(uintptr(nfd), "conn")
			if i == 0 {
				c.Close()
				continue
			}
			c.SetDeadline(time.Now().Add(deadline))
			bufio.NewReader(c).ReadBytes('\n')
			io.WriteString(c, `{"v":1,"ok":true,"instances":[{"label":"web.1","state":"running"}]}`+"\n")
			c.Close()
			return
		}
	}()
	select {
	case r := <-done:
		if r.err != nil || len(r.resp.Instances) != 1 || r.resp.Instances[0].Label != "web.1" {
			t.Errorf("Call: %+v, %v", r.resp, r.err)
		}
	case <-time.After(2 * deadline):
		t.Fatal("Call did not return")
	}
}
