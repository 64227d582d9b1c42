package logmux

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing the test after 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// startCopy runs Copy in the background; wait returns its error.
func startCopy(t *testing.T, m *Mux, label string, r *os.File) (wait func()) {
	done := make(chan error, 1)
	go func() { done <- m.Copy(label, 1, r) }()
	return func() {
		t.Helper()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Copy %s: %v", label, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("Copy %s did not return", label)
		}
	}
}

// TestPartialLine: a prompt without newline is shown while the child still
// runs, and the rest of the line follows under the same prefix.
func TestPartialLine(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", asJSON), func(t *testing.T) {
			var out syncBuffer
			m := New(&out, Options{JSON: asJSON, Now: fixed})
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			wait := startCopy(t, m, "web.1", r)
			w.Write([]byte("first\nPassword: "))
			wantPrompt := "web.1  | first\nweb.1  | Password: \n"
			if asJSON {
				wantPrompt = `"line":"Password: ","partial":true}` + "\n"
			}
			waitFor(t, "the prompt", func() bool { return strings.HasSuffix(out.String(), wantPrompt) })
			w.Write([]byte("secret\n"))
			w.Close()
			wait()
			m.Close()
			if asJSON {
				var got []string
				for _, l := range checkJSONLines(t, out.Bytes()) {
					got = append(got, fmt.Sprintf("%s/%v", l.Line, l.Partial))
				}
				if want := "first/false Password: /true secret/false"; strings.Join(got, " ") != want {
					t.Fatalf("got %q, want %q", got, want)
				}
				return
			}
			if got, want := out.String(), "web.1  | first\nweb.1  | Password: \nweb.1  | secret\n"; got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
}

// TestStreamedLineReleased: a text line longer than the buffering limit is
// streamed while the child writes it; when the child pauses, the line is
// ended so other children are not held up, and continues later.
func TestStreamedLineReleased(t *testing.T) {
	var out syncBuffer
	m := New(&out, Options{})
	ra, wa, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	rb, wb, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	waitA := startCopy(t, m, "a.1", ra)
	waitB := startCopy(t, m, "b.1", rb)
	long := bytes.Repeat([]byte("L"), 100<<10)
	wa.Write(long)
	wb.Write([]byte("b\n"))
	// The pipe holds 64 KiB, so the line arrives in two reads at least; on
	// a busy machine they may be more than PartialDelay apart, and the
	// line is then shown in pieces, b's line perhaps between them (or
	// first, when b's reader is quicker). Either way b's line is not held
	// up for good, and all of a's comes.
	waitFor(t, "b's line and all of a's", func() bool {
		s := "\n" + out.String()
		return strings.Contains(s, "\nb.1    | b\n") && strings.Count(s, "L") == len(long)
	})
	wa.Write([]byte("tail\n"))
	wa.Close()
	wb.Close()
	waitA()
	waitB()
	m.Close()
	var a strings.Builder
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "a.1    | "):
			a.WriteString(strings.TrimPrefix(l, "a.1    | "))
		case l != "b.1    | b":
			t.Fatalf("line %d: %.80q", i, l)
		}
	}
	if a.String() != string(long)+"tail" {
		t.Fatalf("a's lines hold %d bytes, want its %d and tail", a.Len(), len(long))
	}
}

// TestNotUTF8 sends every byte value: text mode passes them unchanged and
// JSON mode gives them back through line_b64.
func TestNotUTF8(t *testing.T) {
	var input []byte
	for i := range 256 {
		input = append(input, byte(i), byte(255-i), 'x')
		if i%16 == 15 {
			input = append(input, '\n')
		}
	}
	input = append(input, "\xe2\x82\n\xf0\x9f\x98\x80\n"...) // a cut euro sign, then an emoji
	t.Run("text", func(t *testing.T) {
		var out syncBuffer
		m := New(&out, Options{})
		copyAll(t, m, "web.1", 1, pipeFrom(t, input))
		m.Close()
		got := strings.ReplaceAll(out.String(), "web.1  | ", "")
		if got != string(input) {
			t.Fatalf("bytes changed:\ngot  %q\nwant %q", got, input)
		}
	})
	t.Run("json", func(t *testing.T) {
		var out syncBuffer
		m := New(&out, Options{JSON: true})
		copyAll(t, m, "web.1", 1, pipeFrom(t, input))
		m.Close()
		if got := joinJSON(t, out.Bytes()); !bytes.Equal(got, input) {
			t.Fatalf("bytes changed:\ngot  %q\nwant %q", got, input)
		}
	})
}

// joinJSON rebuilds a child's bytes from its JSON lines, per the package rule.
func joinJSON(t testing.TB, out []byte) []byte {
	var got []byte
	for _, l := range checkJSONLines(t, out) {
		if l.LineB64 != "" && !strings.Contains(l.Line, "\ufffd") {
			t.Fatalf("line_b64 on a line without U+FFFD: %+v", l)
		}
		got = append(got, l.bytes(t)...)
		if !l.Partial {
			got = append(got, '\n')
		}
	}
	return got
}

// TestJSONHugeLine: a line longer than MaxJSONLine becomes consecutive
// partial objects, cut between runes.
func TestJSONHugeLine(t *testing.T) {
	input := append([]byte("x"), bytes.Repeat([]byte("é"), MaxJSONLine+1000)...)
	input = append(input, '\n')
	var out syncBuffer
	m := New(&out, Options{JSON: true})
	m.partial = 10 * time.Second
	copyAll(t, m, "web.1", 1, pipeFrom(t, input))
	m.Close()
	lines := checkJSONLines(t, out.Bytes())
	if len(lines) != 3 || !lines[0].Partial || !lines[1].Partial || lines[2].Partial {
		t.Fatalf("got %d objects, want partial, partial, whole", len(lines))
	}
	for _, l := range lines {
		if l.LineB64 != "" || len(l.Line) > MaxJSONLine {
			t.Fatalf("fragment of %d bytes cut inside a rune or too long", len(l.Line))
		}
	}
	if got := joinJSON(t, out.Bytes()); !bytes.Equal(got, input) {
		t.Fatal("bytes changed")
	}
}

// stallWriter blocks every Write until released.
type stallWriter struct {
	entered chan struct{}
	once    sync.Once
	release chan struct{}
	mu      sync.Mutex
	out     bytes.Buffer
}

func (w *stallWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.entered) })
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.Write(p)
}

// TestBackpressure: while the writer is stalled, a child writing 64 MiB is
// blocked on its pipe after a bounded amount, the Mux's memory stays
// bounded, Event does not block, and once the writer resumes every byte
// arrives.
func TestBackpressure(t *testing.T) {
	for _, tc := range []struct {
		name string
		line []byte
	}{
		{"short lines", []byte(strings.Repeat("y", 99) + "\n")},
		{"one endless line", []byte(strings.Repeat("z", 100))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const total = 64 << 20
			chunk := bytes.Repeat(tc.line, (1<<20)/len(tc.line))
			w := &stallWriter{entered: make(chan struct{}), release: make(chan struct{})}
			m := New(w, Options{})
			m.partial = time.Hour
			r, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)

			wait := startCopy(t, m, "web.1", r)
			stalled := make(chan int, 1)
			var written atomic.Int64
			go func() {
				defer pw.Close()
				reported := false
				for written.Load() < total {
					if !reported {
						pw.SetWriteDeadline(time.Now().Add(time.Second))
					}
					n, err := pw.Write(chunk)
					written.Add(int64(n))
					if errors.Is(err, os.ErrDeadlineExceeded) {
						stalled <- int(written.Load())
						reported = true
						pw.SetWriteDeadline(time.Time{})
						continue
					}
					if err != nil {
						t.Errorf("producer: %v", err)
						return
					}
				}
			}()
			<-w.entered
			var accepted int
			select {
			case accepted = <-stalled:
			case <-time.After(30 * time.Second):
				t.Fatal("the producer never blocked")
			}
			runtime.GC()
			var during runtime.MemStats
			runtime.ReadMemStats(&during)
			t.Logf("stalled after taking %d bytes; heap grew %d bytes", accepted, int64(during.HeapAlloc)-int64(before.HeapAlloc))
			if accepted > 8<<20 {
				t.Errorf("the Mux took %d bytes from a child while its writer was stalled", accepted)
			}
			if grown := int64(during.HeapAlloc) - int64(before.HeapAlloc); grown > 16<<20 {
				t.Errorf("heap grew by %d bytes while stalled", grown)
			}
			evented := make(chan struct{})
			go func() {
				m.Event(Event{Kind: "stopping", Msg: "stopping"})
				close(evented)
			}()
			select {
			case <-evented:
			case <-time.After(30 * time.Second):
				t.Fatal("Event blocked on a stalled writer")
			}
			close(w.release)
			wait()
			m.Close()
			w.mu.Lock()
			got := w.out.String()
			w.mu.Unlock()
			body := strings.ReplaceAll(got, "system | stopping\n", "")
			body = strings.ReplaceAll(body, "web.1  | ", "")
			body = strings.ReplaceAll(body, "\n", "")
			// tc.line has at most one newline, at its end.
			wantBytes := int(written.Load()) - strings.Count(string(tc.line), "\n")*int(written.Load())/len(tc.line)
			if len(body) != wantBytes {
				t.Errorf("got %d bytes of text, want %d", len(body), wantBytes)
			}
			if strings.Count(got, "system | stopping\n") != 1 {
				t.Error("event missing")
			}
		})
	}
}

// TestIdleChildrenHoldNoBuffers: 500 idle children cost far less than a read
// buffer each: a buffer held while waiting would be 64 KiB per child.
func TestIdleChildrenHoldNoBuffers(t *testing.T) {
	checkIdleChildren(t, 500, 8<<10, func(t testing.TB) (r, w *os.File) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		return r, w
	})
}

// checkIdleChildren starts n children's Copy on pipes from pipe, each
// written one line and then left idle, and checks that the heap grows by
// less than perChild bytes for each, then that every line arrives once the
// pipes close.
func checkIdleChildren(t *testing.T, n, perChild int, pipe func(testing.TB) (r, w *os.File)) {
	t.Helper()
	var out syncBuffer
	m := New(&out, Options{})
	var writers []*os.File
	var waits []func()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range n {
		r, w := pipe(t)
		defer r.Close()
		writers = append(writers, w)
		w.Write([]byte("hello\n"))
		waits = append(waits, startCopy(t, m, fmt.Sprintf("p.%d", i), r))
	}
	waitFor(t, "every line", func() bool { return strings.Count(out.String(), "hello\n") == n })
	waitFor(t, fmt.Sprintf("the heap to hold less than %d KiB per idle child", perChild>>10), func() bool {
		var during runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&during)
		grown := int64(during.HeapInuse) - int64(before.HeapInuse)
		stacks := int64(during.StackInuse) - int64(before.StackInuse)
		t.Logf("for %d idle children: heap in use grew by %d bytes, stacks by %d", n, grown, stacks)
		return grown < int64(n*perChild)
	})
	for _, w := range writers {
		w.Close()
	}
	for _, wait := range waits {
		wait()
	}
	if got := strings.Count(out.String(), "\n"); got != n {
		t.Fatalf("%d lines, want %d", got, n)
	}
}

// TestPTY: a child on the slave sees a terminal; its colour escapes arrive
// unchanged, its "\n" is not turned into "\r\n", the window size is set,
// and EIO at the end counts as EOF.
func TestPTY(t *testing.T) {
	master, slave, err := OpenPTY(132, 43)
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	cmd := exec.Command("/bin/sh", "-c", `test -t 1 && printf '\033[31mred\033[0m\n' && stty size && printf 'a\tb\n'`)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var out syncBuffer
	m := New(&out, Options{})
	copyAll(t, m, "web.1", cmd.Process.Pid, master)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v (output %q)", err, out.String())
	}
	m.Close()
	want := "web.1  | \x1b[31mred\x1b[0m\nweb.1  | 43 132\nweb.1  | a\tb\n"
	if got := out.String(); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestPTYPartialLine: a prompt on a pty is shown while the child still
// runs. The master is in the runtime's poller where the system's poller
// handles ptys, and blocking elsewhere (macOS).
func TestPTYPartialLine(t *testing.T) {
	master, slave, err := OpenPTY(80, 24)
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	wantPolled := runtime.GOOS == "linux" || runtime.GOOS == "freebsd"
	if polled := master.SetReadDeadline(time.Time{}) == nil; polled != wantPolled {
		t.Fatalf("master in the poller: %v, want %v", polled, wantPolled)
	}
	var out syncBuffer
	m := New(&out, Options{})
	wait := startCopy(t, m, "web.1", master)
	slave.Write([]byte("prompt> "))
	waitFor(t, "the prompt", func() bool { return out.String() == "web.1  | prompt> \n" })
	slave.Write([]byte("yes\n"))
	slave.Close()
	wait()
	m.Close()
	if got, want := out.String(), "web.1  | prompt> \nweb.1  | yes\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
