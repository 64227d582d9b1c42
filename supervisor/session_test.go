package supervisor

import (
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"
)

// attach asks the supervisor under test to attach a session to target.
func (h *harness) attach(target string, force bool, cols, rows int) (*Session, error) {
	h.t.Helper()
	reply := make(chan Reply, 1)
	select {
	case h.reqs <- Request{Op: "attach", Targets: []string{target}, Force: force, Cols: cols, Rows: rows, Reply: reply}:
	case <-time.After(deadline):
		h.t.Fatal("the supervisor did not take the attach request")
	}
	r := <-reply
	if r.Err != nil {
		return nil, r.Err
	}
	return r.Session, nil
}

// sessionReader collects a session's output in the background until the
// session ends.
type sessionReader struct {
	out  *syncBuffer
	done chan error // the error Next ended with: io.EOF at the session's end
}

func readSession(ss *Session) *sessionReader {
	r := &sessionReader{out: &syncBuffer{}, done: make(chan error, 1)}
	go func() {
		for {
			b, err := ss.Next(nil)
			r.out.Write(b)
			if err != nil {
				r.done <- err
				return
			}
		}
	}()
	return r
}

func (r *sessionReader) waitFor(t *testing.T, s string) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !strings.Contains(r.out.String(), s) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %q from the session; have %q", s, r.out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *sessionReader) end(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		return err
	case <-time.After(deadline):
		t.Fatalf("the session did not end; have %q", r.out.String())
	}
	return nil
}

// A process that prompts and reads a line, on a pty and on a pipe: the
// session sees the prompt unprefixed, what it types arrives, the answer
// comes back, the stream has it too, and the process's exit ends the
// session with its status.
func TestAttachTypesIntoAPrompt(t *testing.T) {
	for _, pty := range []bool{true, false} {
		name := map[bool]string{true: "pty", false: "pipe"}[pty]
		t.Run(name, func(t *testing.T) {
			h := startWith(t, 5*time.Second, func(c *Config) {
				c.PTYFor = map[string]bool{"a": pty}
				c.Policy.CanDie = map[string]bool{"a": true}
			},
				`printf 'name? '; read line; echo "got $line"; exit 3`,
				`exec sleep 100`)
			h.waitOutput("name? ")
			ss, err := h.attach("a", false, 100, 30)
			if err != nil {
				t.Fatal(err)
			}
			r := readSession(ss)
			// Enter sends '\r': the pty's line discipline and, on a pipe,
			// the session make it the end of the line, and echo it.
			if err := ss.Input([]byte("hello\r")); err != nil {
				t.Fatal(err)
			}
			r.waitFor(t, "hello\n")
			r.waitFor(t, "got hello")
			if err := r.end(t); err != io.EOF {
				t.Fatalf("session ended with %v, want io.EOF", err)
			}
			e := ss.Ending()
			if !e.Exited || e.Status != 3 || e.Reason != "a.1 exited with code 3" {
				t.Errorf("ending: %+v", e)
			}
			h.waitOutput("a.1    | got hello")
			if strings.Contains(r.out.String(), "a.1    |") {
				t.Errorf("the session's output is prefixed: %q", r.out.String())
			}
			h.sigs <- syscall.SIGTERM
			h.wait()
		})
	}
}

// One client at a time: a second attach is refused and names --force;
// with force it takes over and the first session ends saying so; a client
// that closes its session detaches, the process runs on, and another
// client can attach; the pty's size follows the client and comes back.
func TestAttachOneClientAtATime(t *testing.T) {
	h := startWith(t, 5*time.Second, func(c *Config) {
		c.PTYFor = map[string]bool{"a": true}
		c.Cols, c.Rows = 80, 24
	},
		// It shows its window size after each line it reads. (Not on
		// SIGWINCH: a trap interrupts dash's read and ends the loop.)
		`while read line; do echo "said $line"; stty size; done`)
	h.waitOutput("a.1 started")
	first, err := h.attach("a.1", false, 120, 40)
	if err != nil {
		t.Fatal(err)
	}
	r1 := readSession(first)
	first.Input([]byte("one\r"))
	r1.waitFor(t, "said one")
	r1.waitFor(t, "40 120")

	if _, err := h.attach("a.1", false, 0, 0); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second attach: want an error naming --force, have %v", err)
	}
	second, err := h.attach("a", true, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := r1.end(t); err != io.EOF {
		t.Fatalf("first session ended with %v", err)
	}
	if e := first.Ending(); e.Exited || !strings.Contains(e.Reason, "another client attached") {
		t.Errorf("first session's ending: %+v", e)
	}
	if err := first.Input([]byte("x")); err == nil {
		t.Error("input to an ended session was taken")
	}
	r2 := readSession(second)
	second.Input([]byte("two\r"))
	r2.waitFor(t, "said two")

	// The client leaves: the process runs on, at procman's own size, and
	// another client can attach.
	second.Close()
	r2.end(t)
	var third *Session
	h.waitFor("the detach", func() bool {
		third, err = h.attach("a.1", false, 0, 0)
		return err == nil
	})
	r3 := readSession(third)
	third.Input([]byte("three\r"))
	r3.waitFor(t, "said three")
	r3.waitFor(t, "24 80")
	h.sigs <- syscall.SIGTERM
	h.wait()
}

// Attach refuses what it cannot attach to, in one clear line.
func TestAttachErrors(t *testing.T) {
	h := startWith(t, 5*time.Second, func(c *Config) {
		c.Processes = append(c.Processes, Process{Name: "a", Label: "a.2", Command: "exec sleep 100"})
		c.Policy.CanDie = map[string]bool{"b": true}
	}, `exec sleep 100`, `exit 0`)
	h.waitOutput("b.1 exited with code 0")
	for _, tc := range []struct{ target, want string }{
		{"a", "a has 2 instances"},
		{"b.1", "b.1 is not running: it exited with code 0"},
		{"nope", `no process "nope"`},
	} {
		if _, err := h.attach(tc.target, false, 0, 0); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("attach %s: want %q, have %v", tc.target, tc.want, err)
		}
	}
	h.sigs <- syscall.SIGTERM
	h.wait()
}

// When procman stops, an attached session ends with the process's exit,
// and a client that never reads does not hold the stop.
func TestAttachedSessionEndsWithTheStop(t *testing.T) {
	h := start(t, 5*time.Second, `echo up; exec sleep 100`)
	h.waitOutput("a.1    | up")
	ss, err := h.attach("a", false, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Nobody reads ss while procman stops.
	h.sigs <- syscall.SIGTERM
	if code := h.wait(); code != 143 {
		t.Errorf("exit status %d, want 143", code)
	}
	end := time.Now().Add(deadline)
	for {
		_, err := ss.Next(nil)
		if errors.Is(err, io.EOF) {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the session did not end after the stop")
		}
	}
	if e := ss.Ending(); !e.Exited || e.Status != 143 {
		t.Errorf("ending: %+v", e)
	}
}
