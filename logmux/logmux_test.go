package logmux

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fixed is the clock of the table tests.
func fixed() time.Time { return time.Date(2024, 5, 1, 9, 30, 0, 123456000, time.UTC) }

// syncBuffer is a writer the test can read while the Mux writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// pipeFrom returns the read end of a real pipe that a goroutine fills with
// the chunks, writing each with one write(2), and then closes.
func pipeFrom(t testing.TB, chunks ...[]byte) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer w.Close()
		for _, c := range chunks {
			if _, err := w.Write(c); err != nil {
				return
			}
		}
	}()
	return r
}

// copyAll runs Copy on r to completion with a deadline.
func copyAll(t testing.TB, m *Mux, label string, pid int, r *os.File) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- m.Copy(label, pid, r) }()
	select {
	case err := <-done:
		r.Close()
		if err != nil {
			t.Fatalf("Copy: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Copy did not return within 30s")
	}
}

const (
	cyan  = "\x1b[36m"
	reset = "\x1b[0m"
	bold  = "\x1b[1m"
	unb   = "\x1b[22m"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		input string
		want  string
	}{
		{"plain", Options{}, "hello\n", "web.1  | hello\n"},
		{"timestamp", Options{Timestamps: true}, "hello\n", "09:30:00 web.1  | hello\n"},
		{"rfc3339", Options{Timestamps: true, TimeLayout: RFC3339Milli}, "hi\n", "2024-05-01T09:30:00.123Z web.1  | hi\n"},
		{"width", Options{Width: 10}, "a\n", "web.1      | a\n"},
		{"width below minimum", Options{Width: 2}, "a\n", "web.1  | a\n"},
		{"colour", Options{Color: true, Timestamps: true}, "a\n", cyan + "09:30:00 web.1  |" + reset + " a\n"},
		{"colour leaves child bytes", Options{Color: true}, "\x1b[31mred\x1b[0m\n", cyan + "web.1  |" + reset + " \x1b[31mred\x1b[0m\n"},
		{"several lines", Options{}, "a\nb\nc\n", "web.1  | a\nweb.1  | b\nweb.1  | c\n"},
		{"no final newline", Options{}, "a\nb", "web.1  | a\nweb.1  | b\n"},
		{"only partial", Options{}, "prompt> ", "web.1  | prompt> \n"},
		{"empty lines", Options{}, "\n\n", "web.1  | \nweb.1  | \n"},
		{"crlf kept", Options{}, "a\r\n", "web.1  | a\r\n"},
		{"not utf-8", Options{}, "\xff\xfe ok \xc3\n", "web.1  | \xff\xfe ok \xc3\n"},
		{"empty input", Options{}, "", ""},
		{"quiet", Options{Quiet: []string{"web"}}, "a\nb", ""},
		{"quiet other type", Options{Quiet: []string{"worker"}}, "a\n", "web.1  | a\n"},
		{"json", Options{JSON: true}, "hello\n",
			`{"time":"2024-05-01T09:30:00.123456Z","proc":"web.1","pid":42,"stream":"output","line":"hello"}` + "\n"},
		{"json ignores timestamps and colour", Options{JSON: true, Color: true, Timestamps: true}, "x\n",
			`{"time":"2024-05-01T09:30:00.123456Z","proc":"web.1","pid":42,"stream":"output","line":"x"}` + "\n"},
		{"json escapes", Options{JSON: true}, "a\"b\\c\td\x01\x1b[0m\r\n",
			`{"time":"2024-05-01T09:30:00.123456Z","proc":"web.1","pid":42,"stream":"output","line":"a\"b\\c\td\u0001\u001b[0m\r"}` + "\n"},
		{"json utf-8", Options{JSON: true}, "é→😀\n",
			`{"time":"2024-05-01T09:30:00.123456Z","proc":"web.1","pid":42,"stream":"output","line":"é→😀"}` + "\n"},
		{"json not utf-8", Options{JSON: true}, "\xffok\n",
			`{"time":"2024-05-01T09:30:00.123456Z","proc":"web.1","pid":42,"stream":"output","line":"\ufffdok","line_b64":"/29r"}` + "\n"},
		{"json partial", Options{JSON: true}, "a\nb",
			`{"time":"2024-05-01T09:30:00.123456Z","proc":"web.1","pid":42,"stream":"output","line":"a"}` + "\n" +
				`{"time":"2024-05-01T09:30:00.123456Z","proc":"web.1","pid":42,"stream":"output","line":"b","partial":true}` + "\n"},
		{"json empty line", Options{JSON: true}, "\n",
			`{"time":"2024-05-01T09:30:00.123456Z","proc":"web.1","pid":42,"stream":"output","line":""}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out syncBuffer
			tt.opts.Now = fixed
			m := New(&out, tt.opts)
			copyAll(t, m, "web.1", 42, pipeFrom(t, []byte(tt.input)))
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			if tt.opts.JSON {
				checkJSONLines(t, out.Bytes())
			}
		})
	}
}

func TestEvent(t *testing.T) {
	started := Event{Proc: "web.1", Kind: "started", Pid: 42, Msg: "web.1 started with pid 42"}
	exited := Event{Proc: "web.1", Kind: "exited", Pid: 42, Code: 3, Msg: "web.1 exited with code 3"}
	killed := Event{Proc: "web.1", Kind: "exited", Pid: 42, Signal: "SIGKILL", Msg: "web.1 killed by SIGKILL"}
	stopping := Event{Kind: "stopping", Signal: "SIGTERM", Msg: "sending SIGTERM to all processes"}
	tests := []struct {
		name string
		opts Options
		e    Event
		want string
	}{
		{"text", Options{Timestamps: true}, started, "09:30:00 system | web.1 started with pid 42\n"},
		{"text wide", Options{Width: 8}, started, "system   | web.1 started with pid 42\n"},
		{"text colour", Options{Color: true}, started, bold + "system |" + unb + " web.1 started with pid 42\n"},
		{"text no msg", Options{}, Event{Proc: "web.1", Kind: "started"}, "system | web.1 started\n"},
		{"json started", Options{JSON: true}, started,
			`{"time":"2024-05-01T09:30:00.123456Z","proc":"web.1","pid":42,"stream":"system","event":"started","line":"web.1 started with pid 42"}` + "\n"},
		{"json exited", Options{JSON: true}, exited,
			`{"time":"2024-05-01T09:30:00.123456Z","proc":"web.1","pid":42,"stream":"system","event":"exited","code":3,"line":"web.1 exited with code 3"}` + "\n"},
		{"json killed", Options{JSON: true}, killed,
			`{"time":"2024-05-01T09:30:00.123456Z","proc":"web.1","pid":42,"stream":"system","event":"exited","signal":"SIGKILL","line":"web.1 killed by SIGKILL"}` + "\n"},
		{"json procman", Options{JSON: true}, stopping,
			`{"time":"2024-05-01T09:30:00.123456Z","proc":"system","stream":"system","event":"stopping","signal":"SIGTERM","line":"sending SIGTERM to all processes"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out syncBuffer
			tt.opts.Now = fixed
			m := New(&out, tt.opts)
			m.Event(tt.e)
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			if tt.opts.JSON {
				checkJSONLines(t, out.Bytes())
			}
		})
	}
}

// jsonLine is what a log shipper reads from one output line.
type jsonLine struct {
	Time    string `json:"time"`
	Proc    string `json:"proc"`
	Pid     int    `json:"pid"`
	Stream  string `json:"stream"`
	Event   string `json:"event"`
	Line    string `json:"line"`
	LineB64 string `json:"line_b64"`
	Partial bool   `json:"partial"`
	Code    *int   `json:"code"`
	Signal  string `json:"signal"`
}

// bytes returns the child's exact bytes of the line, per the package rule.
func (l jsonLine) bytes(t testing.TB) []byte {
	if l.LineB64 == "" {
		return []byte(l.Line)
	}
	b, err := base64.StdEncoding.DecodeString(l.LineB64)
	if err != nil {
		t.Fatalf("line_b64: %v", err)
	}
	return b
}

// checkJSONLines parses every output line with encoding/json.
func checkJSONLines(t testing.TB, out []byte) []jsonLine {
	t.Helper()
	var lines []jsonLine
	for _, raw := range bytes.SplitAfter(out, []byte("\n")) {
		if len(raw) == 0 {
			continue
		}
		if raw[len(raw)-1] != '\n' {
			t.Fatalf("output does not end in a newline: %q", raw)
		}
		var l jsonLine
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("invalid JSON line %q: %v", raw, err)
		}
		if _, err := time.Parse(time.RFC3339Nano, l.Time); err != nil {
			t.Fatalf("time %q: %v", l.Time, err)
		}
		lines = append(lines, l)
	}
	return lines
}

// producer writes n numbered lines of about 100 bytes through a 4 KiB
// bufio.Writer, so pipe writes end in the middle of lines.
func producer(w io.WriteCloser, id, n int) {
	defer w.Close()
	bw := bufio.NewWriterSize(w, 4096)
	pad := strings.Repeat("x", 80)
	for i := range n {
		fmt.Fprintf(bw, "w%d %06d %s\n", id, i, pad)
	}
	bw.Flush()
}

func TestConcurrentWritersText(t *testing.T) { testConcurrentWriters(t, false) }
func TestConcurrentWritersJSON(t *testing.T) { testConcurrentWriters(t, true) }

// testConcurrentWriters: 4 children x 50,000 lines through real pipes; every
// line arrives whole, unmixed, once, in its writer's order.
func testConcurrentWriters(t *testing.T, asJSON bool) {
	const writers, lines = 4, 50000
	var out syncBuffer
	m := New(&out, Options{JSON: asJSON, Timestamps: true})
	m.partial = 10 * time.Second // no partial lines on a slow machine
	var wg sync.WaitGroup
	for id := range writers {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go producer(w, id, lines)
		wg.Go(func() { copyAll(t, m, fmt.Sprintf("w%d.1", id), 100+id, r) })
	}
	wg.Wait()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 80)
	next := make([]int, writers)
	check := func(proc string, text string) {
		var id, seq int
		var rest string
		if _, err := fmt.Sscanf(text, "w%d %06d %s", &id, &seq, &rest); err != nil || rest != pad {
			t.Fatalf("corrupt line %q", text)
		}
		if want := fmt.Sprintf("w%d.1", id); proc != want {
			t.Fatalf("line %q under %q", text, proc)
		}
		if seq != next[id] {
			t.Fatalf("writer %d: got line %d, want %d", id, seq, next[id])
		}
		next[id]++
	}
	if asJSON {
		for _, l := range checkJSONLines(t, out.Bytes()) {
			if l.Partial || l.LineB64 != "" || l.Stream != "output" {
				t.Fatalf("unexpected %+v", l)
			}
			check(l.Proc, l.Line)
		}
	} else {
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			// "09:30:00 w1.1   | w1 000001 xxx"
			ts, rest, _ := strings.Cut(sc.Text(), " ")
			proc, text, ok := strings.Cut(rest, " | ")
			if len(ts) != 8 || !ok {
				t.Fatalf("bad line %q", sc.Text())
			}
			check(strings.TrimSpace(proc), text)
		}
	}
	for id, n := range next {
		if n != lines {
			t.Errorf("writer %d: %d lines arrived, want %d", id, n, lines)
		}
	}
}

// TestLongLine: a 1 MiB line written in 4 KiB pieces while another child
// writes short lines arrives whole, in one output line.
func TestLongLine(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", asJSON), func(t *testing.T) {
			big := make([]byte, 1<<20)
			for i := range big {
				big[i] = 'a' + byte(i%26)
			}
			var chunks [][]byte
			for i := 0; i < len(big); i += 4096 {
				chunks = append(chunks, big[i:i+4096])
			}
			chunks = append(chunks, []byte("\nafter\n"))
			var out syncBuffer
			m := New(&out, Options{JSON: asJSON})
			m.partial = 10 * time.Second
			var wg sync.WaitGroup
			wg.Go(func() { copyAll(t, m, "big.1", 1, pipeFrom(t, chunks...)) })
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			go producer(w, 7, 20000)
			wg.Go(func() { copyAll(t, m, "w7.1", 2, r) })
			wg.Wait()
			m.Close()
			var bigs, shorts int
			if asJSON {
				for _, l := range checkJSONLines(t, out.Bytes()) {
					switch {
					case l.Proc == "w7.1":
						shorts++
					case len(l.Line) > 1000:
						if l.Line != string(big) || l.Partial {
							t.Fatalf("long line damaged: len %d partial %v", len(l.Line), l.Partial)
						}
						bigs++
					}
				}
			} else {
				for _, line := range strings.SplitAfter(out.String(), "\n") {
					switch {
					case strings.HasPrefix(line, "w7.1   | w7 "):
						if len(line) != len("w7.1   | w7 000000 ")+81 {
							t.Fatalf("short line damaged: %q", line)
						}
						shorts++
					case len(line) > 1000:
						if line != "big.1  | "+string(big)+"\n" {
							t.Fatalf("long line damaged: len %d", len(line))
						}
						bigs++
					}
				}
			}
			if bigs != 1 || shorts != 20000 {
				t.Fatalf("got %d long and %d short lines, want 1 and 20000", bigs, shorts)
			}
		})
	}
}

// failWriter fails every write after the first n with EPIPE.
type failWriter struct {
	mu     sync.Mutex
	n      int
	writes int
	out    bytes.Buffer
}

func (w *failWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	if w.writes > w.n {
		return 0, syscall.EPIPE
	}
	return w.out.Write(p)
}

// TestBroken: after the writer fails, Broken is closed, Copy drains its
// child to EOF without blocking it, and Close reports the error.
func TestBroken(t *testing.T) {
	w := &failWriter{n: 1}
	m := New(w, Options{})
	m.Event(Event{Kind: "started", Msg: "first"})
	r, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go producer(pw, 1, 200000) // 18 MB, far more than any buffer
	copyAll(t, m, "w1.1", 1, r)
	select {
	case <-m.Broken():
	default:
		t.Fatal("Broken not closed after a failed write")
	}
	m.Event(Event{Kind: "exited", Msg: "after"})
	if err := m.Close(); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Close: got %v, want EPIPE", err)
	}
	if got := w.out.String(); !strings.HasPrefix(got, "system | first\n") {
		t.Fatalf("first write %q", got)
	}
}
