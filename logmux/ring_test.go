package logmux

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// newTestStream returns a stream as Copy makes it, for tests that hand it
// reads themselves, one process call per read.
func newTestStream(m *Mux, label string, pid int) *stream {
	s := &stream{m: m, label: label, pid: pid, quiet: m.quiet[procType(label)]}
	m.mu.Lock()
	s.on, s.off = m.labelColor(label)
	s.rid = m.ring.intern(label)
	m.mu.Unlock()
	return s
}

// showOpenLine does what a reader does once s's open line is due: the
// output shows it with a '\n' added.
func showOpenLine(s *stream) {
	m := s.m
	m.mu.Lock()
	m.room(s, hardLimit)
	s.endLine()
	m.unlockAppended(s)
}

// readAll reads f until io.EOF, failing after 30 s.
func readAll(t testing.TB, f *Feed) string {
	t.Helper()
	stop := make(chan struct{})
	timer := time.AfterFunc(30*time.Second, func() { close(stop) })
	defer timer.Stop()
	var out []byte
	for {
		b, err := f.Next(stop)
		out = append(out, b...)
		if err == io.EOF {
			return string(out)
		}
		if err != nil {
			t.Fatalf("Next: %v after %q", err, out)
		}
	}
}

// A step is one thing that happens to a Mux in a table test.
type step struct {
	label string // a child's read of data; "" with data == "": the event
	data  string
	show  bool // show label's open line (PartialDelay passed)
	event *Event
}

func read(label, data string) step { return step{label: label, data: data} }
func show(label string) step       { return step{label: label, show: true} }
func event(e Event) step           { return step{event: &e} }

// play runs the steps on m; streams are made as labels first appear and
// ended (EOF) at the end when end is set.
func play(m *Mux, steps []step, end bool) {
	streams := map[string]*stream{}
	var order []*stream
	get := func(label string) *stream {
		s := streams[label]
		if s == nil {
			s = newTestStream(m, label, 40+len(streams))
			streams[label] = s
			order = append(order, s)
		}
		return s
	}
	for _, st := range steps {
		switch {
		case st.event != nil:
			m.Event(*st.event)
		case st.show:
			showOpenLine(get(st.label))
		default:
			get(st.label).process([]byte(st.data), fixed())
		}
	}
	if end {
		for _, s := range order {
			s.end()
		}
	}
}

func TestLogs(t *testing.T) {
	started := Event{Proc: "web.1", Kind: "started", Pid: 42, Msg: "web.1 started with pid 42"}
	stopping := Event{Kind: "stopping", Signal: "SIGTERM", Msg: "sending SIGTERM to all processes"}
	line30 := strings.Repeat("x", 30)
	tests := []struct {
		name  string
		ring  int
		json  bool
		steps []step
		q     Query
		want  string
	}{
		{
			name:  "reassembled across reads",
			steps: []step{read("a.1", "hel"), read("a.1", "lo\nwor"), read("a.1", "ld\n")},
			q:     Query{Lines: 10},
			want:  "a.1    | hello\na.1    | world\n",
		},
		{
			name:  "the last lines",
			steps: []step{read("a.1", "1\n2\n3\n"), read("a.1", "4\n5\n")},
			q:     Query{Lines: 2},
			want:  "a.1    | 4\na.1    | 5\n",
		},
		{
			name:  "labels interleaved mid-line",
			steps: []step{read("a.1", "a-"), read("b.1", "b-"), read("a.1", "one\n"), read("b.1", "one\nb-two\n")},
			q:     Query{Lines: 10},
			want:  "a.1    | a-one\nb.1    | b-one\nb.1    | b-two\n",
		},
		{
			name:  "an open line is not shown until the output shows it",
			steps: []step{read("a.1", "done\nPassword: ")},
			q:     Query{Lines: 10},
			want:  "a.1    | done\n",
		},
		{
			name:  "an open line shown after PartialDelay, its rest a new line",
			steps: []step{read("a.1", "Password: "), show("a.1"), read("a.1", "secret\n")},
			q:     Query{Lines: 10},
			want:  "a.1    | Password: \na.1    | secret\n",
		},
		{
			name: "a line whose beginning was evicted is dropped",
			// 22+30 bytes, then 22+10: the first record leaves a 64-byte ring.
			ring:  64,
			steps: []step{read("a.1", line30), read("a.1", "tail\nnext\n")},
			q:     Query{Lines: 10},
			want:  "a.1    | next\n",
		},
		{
			name:  "evicted whole lines are gone, the rest kept",
			ring:  80,
			steps: []step{read("a.1", "old\n"), read("a.1", line30+"\n"), read("b.1", "new\n")},
			q:     Query{Lines: 10},
			want:  "a.1    | " + line30 + "\nb.1    | new\n",
		},
		{
			name:  "a read larger than the ring keeps its end, from a line start",
			ring:  40,
			steps: []step{read("a.1", "first line\n"+line30+"\nlast\n")},
			q:     Query{Lines: 10},
			want:  "a.1    | last\n",
		},
		{
			name:  "a type selects its instances and their events",
			steps: []step{event(stopping), read("web.1", "w1\n"), read("worker.1", "k1\n"), read("web.2", "w2\n"), event(started)},
			q:     Query{Targets: []string{"web"}, Lines: 10},
			want:  "web.1  | w1\nweb.2  | w2\nsystem | web.1 started with pid 42\n",
		},
		{
			name:  "an instance selects itself",
			steps: []step{read("web.1", "w1\n"), read("web.2", "w2\n"), event(started)},
			q:     Query{Targets: []string{"web.2"}, Lines: 10},
			want:  "web.2  | w2\n",
		},
		{
			name:  "no targets: everything, procman's lines too",
			steps: []step{event(stopping), read("web.1", "w1\n")},
			q:     Query{Lines: 10},
			want:  "system | sending SIGTERM to all processes\nweb.1  | w1\n",
		},
		{
			name:  "Lines counts after filtering",
			steps: []step{read("web.1", "w1\nw2\n"), read("worker.1", "k1\nk2\nk3\n")},
			q:     Query{Targets: []string{"web.1"}, Lines: 1},
			want:  "web.1  | w2\n",
		},
		{
			name:  "json",
			json:  true,
			steps: []step{read("a.1", "hel"), read("a.1", "lo\n\xffx\n"), event(started)},
			q:     Query{Lines: 2, JSON: true},
			want: `{"time":"2024-05-01T09:30:00.123456Z","proc":"a.1","pid":40,"stream":"output","line":"\ufffdx","line_b64":"/3g="}` + "\n" +
				`{"time":"2024-05-01T09:30:00.123456Z","proc":"web.1","pid":42,"stream":"system","event":"started","line":"web.1 started with pid 42"}` + "\n",
		},
		{
			name:  "colour",
			steps: []step{read("a.1", "x\n"), event(started)},
			q:     Query{Lines: 10, Color: true},
			want:  cyan + "a.1    |" + reset + " x\n" + bold + "system |" + unb + " web.1 started with pid 42\n",
		},
		{
			name:  "no ring",
			ring:  -1,
			steps: []step{read("a.1", "x\n")},
			q:     Query{Lines: 10},
			want:  "",
		},
		{
			name:  "no lines asked",
			steps: []step{read("a.1", "x\n")},
			q:     Query{},
			want:  "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(io.Discard, Options{RingSize: tt.ring, JSON: tt.json, Now: fixed})
			play(m, tt.steps, false)
			if got := readAll(t, m.Logs(tt.q)); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestLogsAsWritten: Logs shows exactly what the Mux wrote, in every format,
// for reads that split lines, partial lines, a streamed long line with an
// event behind it, and JSON lines cut at MaxJSONLine.
func TestLogsAsWritten(t *testing.T) {
	long := strings.Repeat("L", textStreamAt+10)
	huge := strings.Repeat("é", MaxJSONLine/2+10)
	steps := []step{
		event(Event{Kind: "starting", Msg: "starting"}),
		read("web.1", "hello\nwor"), read("worker.1", "a\tb \x1b[31mred\x1b[0m\n"),
		read("web.1", "ld\nPassword: "), show("web.1"), read("web.1", "secret\n\xff\xfe\n"),
		read("web.1", long[:100]), read("web.1", long[100:]),
		event(Event{Proc: "web.1", Kind: "exited", Pid: 40, Code: 1, Msg: "web.1 exited with code 1"}),
		read("web.1", "end of long\nnext\n"),
		read("worker.1", "last without newline"),
	}
	jsonSteps := append(steps[:len(steps):len(steps)], read("web.1", huge), read("web.1", huge), read("web.1", "\n"))
	for _, opts := range []Options{
		{},
		{Timestamps: true, TimeLayout: RFC3339Milli},
		{Color: true, Width: 10},
		{JSON: true},
	} {
		t.Run(fmt.Sprintf("%+v", opts), func(t *testing.T) {
			var out syncBuffer
			opts.Now = fixed
			opts.RingSize = 4 << 20
			m := New(&out, opts)
			if opts.JSON {
				play(m, jsonSteps, true)
			} else {
				play(m, steps, true)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			got := readAll(t, m.Logs(Query{Lines: 1 << 30, JSON: opts.JSON, Color: opts.Color}))
			if want := out.String(); got != want {
				t.Errorf("got  %.500q\nwant %.500q", got, want)
			}
		})
	}
}

// TestLogsAsWrittenByCopy: the same through real pipes and the reader of
// this build, with the real clock: several children, many reads.
func TestLogsAsWrittenByCopy(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", asJSON), func(t *testing.T) {
			var out syncBuffer
			m := New(&out, Options{JSON: asJSON, Timestamps: true, TimeLayout: RFC3339Milli, RingSize: 16 << 20})
			var wg sync.WaitGroup
			for i := range 3 {
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				go producer(w, i, 3000)
				wg.Go(func() { copyAll(t, m, fmt.Sprintf("p%d.1", i), 100+i, r) })
			}
			m.Event(Event{Kind: "note", Msg: "while they write"})
			wg.Wait()
			m.Close()
			got := readAll(t, m.Logs(Query{Lines: 1 << 30, JSON: asJSON}))
			if want := out.String(); got != want {
				t.Errorf("Logs differs from the output (%d and %d bytes)", len(got), len(want))
				gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
				for i := range min(len(gl), len(wl)) {
					if gl[i] != wl[i] {
						t.Logf("line %d:\ngot  %q\nwant %q", i, gl[i], wl[i])
						break
					}
				}
			}
		})
	}
}

// hookWriter runs hook during its first Write, while the Mux is writing.
type hookWriter struct {
	syncBuffer
	once sync.Once
	hook func()
}

func (w *hookWriter) Write(p []byte) (int, error) {
	w.once.Do(w.hook)
	return w.syncBuffer.Write(p)
}

// TestLogsOrderAcrossPause: a read whose lines fill the batch is written in
// two parts, and another child's line written in between is shown in
// between by Logs too.
func TestLogsOrderAcrossPause(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", asJSON), func(t *testing.T) {
			var m *Mux
			var b *stream
			w := &hookWriter{hook: func() { b.process([]byte("between\n"), fixed()) }}
			m = New(w, Options{JSON: asJSON, Now: fixed})
			a := newTestStream(m, "a.1", 1)
			b = newTestStream(m, "b.1", 2)
			a.process(bytes.Repeat([]byte(strings.Repeat("a", 99)+"\n"), 3000), fixed())
			m.Close()
			want := w.String()
			if i := strings.Index(want, "between"); i < 0 || i > len(want)*9/10 {
				t.Fatal("the other child's line was not written in between")
			}
			if got := readAll(t, m.Logs(Query{Lines: 1 << 30, JSON: asJSON})); got != want {
				t.Errorf("Logs differs from the output: between at %d, want %d", strings.Index(got, "between"), strings.Index(want, "between"))
			}
		})
	}
}

// checkRing checks the ring's invariants: it holds whole records, no more
// than its size.
func checkRing(t testing.TB, m *Mux) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	r := &m.ring
	if len(r.buf) > max(r.size, 0) || r.used > len(r.buf) {
		t.Fatalf("ring of size %d has a %d-byte buffer with %d used", r.size, len(r.buf), r.used)
	}
	recs := r.snapshot()
	for len(recs) > 0 {
		n := int(binary.LittleEndian.Uint32(recs))
		if n < recHead || n > len(recs) {
			t.Fatalf("a record of %d bytes where %d remain", n, len(recs))
		}
		recs = recs[n:]
	}
}

// FuzzRing: whatever two children write, in whatever reads, with their
// open lines shown at whatever moments, and whatever the ring's size: the
// ring never holds more than its size, the lines Logs shows for each
// child are the end of what it wrote, from a line start, whole, and a
// follower from the start gets exactly the output.
func FuzzRing(f *testing.F) {
	f.Add([]byte("hello\nworld\n"), []byte{3, 0x85, 2}, uint16(64), false)
	f.Add([]byte("a\nbb\nccc\ndddd\neeeee\n"), []byte{1, 2, 3, 0x81, 0, 5}, uint16(30), true)
	f.Add([]byte("prompt> answer\nmore"), []byte{8, 0, 0x83, 0x80}, uint16(100), false)
	f.Add(bytes.Repeat([]byte("0123456789\n"), 50), []byte{100, 0x90, 7, 33, 0x7f}, uint16(200), true)
	f.Add([]byte("x"), []byte{}, uint16(0), false)
	f.Fuzz(func(t *testing.T, data, cuts []byte, size uint16, asJSON bool) {
		ringSize := int(size)
		if ringSize == 0 {
			ringSize = -1
		}
		var out syncBuffer
		m := New(&out, Options{RingSize: ringSize, JSON: asJSON, Now: fixed})
		follower := m.Logs(Query{Follow: true, JSON: asJSON})
		labels := []string{"a.1", "b.1"}
		streams := []*stream{newTestStream(m, "a.1", 1), newTestStream(m, "b.1", 2)}
		// What each child's lines are, as the output shows them: its bytes
		// with '\n' where an open line was shown.
		shown := make([][]byte, 2)
		for _, c := range cuts {
			i := int(c >> 7)
			n := int(c & 0x7f)
			if n == 0 {
				if s := streams[i]; s.ringOpen {
					shown[i] = append(shown[i], '\n')
				}
				showOpenLine(streams[i])
			} else {
				n = min(n, len(data))
				if n == 0 {
					break
				}
				streams[i].process(data[:n], fixed())
				shown[i] = append(shown[i], data[:n]...)
				data = data[n:]
			}
			checkRing(t, m)
		}
		if len(data) > 0 {
			streams[0].process(data, fixed())
			shown[0] = append(shown[0], data...)
			checkRing(t, m)
		}
		all := readAll(t, m.Logs(Query{Lines: 1 << 30, JSON: asJSON}))
		got := make([][]byte, 2)
		for _, line := range strings.SplitAfter(all, "\n") {
			if line == "" {
				continue
			}
			if asJSON {
				l := checkJSONLines(t, []byte(line))[0]
				i := strings.Index("a.1b.1", l.Proc) / 3
				got[i] = append(append(got[i], l.bytes(t)...), '\n')
				continue
			}
			label, text, ok := strings.Cut(line, "    | ")
			i := strings.Index("a.1b.1", label) / 3
			if !ok || len(label) != 3 || i < 0 {
				t.Fatalf("line without a prefix: %q", line)
			}
			got[i] = append(got[i], text...)
		}
		for i := range shown {
			whole := shown[i][:bytes.LastIndexByte(shown[i], '\n')+1]
			if !bytes.HasSuffix(whole, got[i]) {
				t.Fatalf("%s: shows %q, not the end of %q", labels[i], got[i], whole)
			}
			if k := len(whole) - len(got[i]); k > 0 && whole[k-1] != '\n' {
				t.Fatalf("%s: shows %q, from the middle of a line of %q", labels[i], got[i], whole)
			}
		}
		for _, n := range []int{1, 2, 5} {
			want := string(lastLines([]byte(all), n))
			if got := readAll(t, m.Logs(Query{Lines: n, JSON: asJSON})); got != want {
				t.Fatalf("Lines %d: got %q, want %q", n, got, want)
			}
		}
		for _, s := range streams {
			s.end()
		}
		m.Close()
		m.EndFeeds()
		if got, want := readAll(t, follower), out.String(); got != want {
			t.Fatalf("follower got %q, the output is %q", got, want)
		}
	})
}

func TestLastLines(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc\n", 3, "a\nb\nc\n"},
		{"a\nb\nc\n", 9, "a\nb\nc\n"},
		{"a\nb\nc\n", 0, ""},
		{"a\nb\nopen", 2, "b\nopen"},
		{"a\nb\nopen", 1, "open"},
		{"", 3, ""},
		{"\n\n", 1, "\n"},
	}
	for _, tt := range tests {
		if got := string(lastLines([]byte(tt.in), tt.n)); got != tt.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

// TestEventRecord: an event comes back from its record as it went in.
func TestEventRecord(t *testing.T) {
	for _, e := range []Event{
		{},
		{Proc: "web.1", Kind: "restart", Pid: 1 << 40, Code: -1, Signal: "SIGTERM", Msg: "é\n", Delay: 1500 * time.Millisecond, Port: 5000},
	} {
		got, ok := decodeEvent(appendEventRecord(nil, e))
		if !ok || got != e {
			t.Errorf("got %+v, %v; want %+v", got, ok, e)
		}
	}
	if _, ok := decodeEvent([]byte{0, 0, 0, 0, 9}); ok {
		t.Error("a truncated record decoded")
	}
}

// TestRingGrowsLazily: an idle Mux has no ring buffer; one line takes a
// small one; the ring never grows past its size.
func TestRingGrowsLazily(t *testing.T) {
	m := New(io.Discard, Options{})
	if m.ring.buf != nil {
		t.Fatal("a new Mux allocated its ring")
	}
	s := newTestStream(m, "web.1", 1)
	s.process([]byte("hello\n"), time.Now())
	if n := len(m.ring.buf); n != ringMin {
		t.Fatalf("one line: ring of %d bytes, want %d", n, ringMin)
	}
	chunk := bytes.Repeat([]byte("0123456789\n"), 3000)
	for range 200 {
		s.process(chunk, time.Now())
	}
	if n := len(m.ring.buf); n != DefaultRingSize {
		t.Fatalf("after 6 MB: ring of %d bytes, want %d", n, DefaultRingSize)
	}
	checkRing(t, m)
}

// TestRingNoAllocPerRead: once the ring has its size, keeping a read
// allocates nothing.
func TestRingNoAllocPerRead(t *testing.T) {
	m := New(io.Discard, Options{RingSize: 64 << 10})
	s := newTestStream(m, "web.1", 1)
	chunk := bytes.Repeat([]byte("0123456789"), 700)
	now := time.Now()
	keep := func() {
		m.mu.Lock()
		m.ring.output(s, chunk, now)
		m.mu.Unlock()
	}
	for range 20 {
		keep()
	}
	if n := testing.AllocsPerRun(1000, keep); n != 0 {
		t.Fatalf("%v allocations per read", n)
	}
}

// TestLogsAfterFailedWriter: the ring keeps output after the writer failed
// (procman start | head), for procman logs.
func TestLogsAfterFailedWriter(t *testing.T) {
	m := New(&failWriter{}, Options{})
	s := newTestStream(m, "web.1", 1)
	s.process([]byte("one\n"), time.Now())
	m.Close()
	s.process([]byte("two\nopen"), time.Now())
	s.end()
	if got, want := readAll(t, m.Logs(Query{Lines: 10})), "web.1  | one\nweb.1  | two\nweb.1  | open\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// BenchmarkRingProcess compares the Mux's work per read with the ring
// (1 MiB) and without it (RingSize -1): a pipe's worth of 100-byte lines
// formatted and written to io.Discard, no pipes or goroutines around it.
//
//	go test -run '^$' -bench 'Ring' -count 6 ./logmux/
func BenchmarkRingProcess(b *testing.B) {
	for _, asJSON := range []bool{false, true} {
		for _, ring := range []int{0, -1} {
			b.Run(fmt.Sprintf("json=%v/ring=%v", asJSON, ring == 0), func(b *testing.B) {
				m := New(io.Discard, Options{JSON: asJSON, Timestamps: true, RingSize: ring})
				s := newTestStream(m, "web.1", 1)
				b.SetBytes(int64(len(benchLines)))
				for b.Loop() {
					s.process(benchLines, time.Now())
				}
			})
		}
	}
}

// BenchmarkRing is BenchmarkRingProcess end to end, as BenchmarkCopy runs
// it: producers write 100-byte lines into real pipes, Copy reads and
// formats them to io.Discard. cpu-ms/MB (producers included) varies less
// than the time on a busy machine.
func BenchmarkRing(b *testing.B) {
	for _, asJSON := range []bool{false, true} {
		for _, producers := range []int{1, 4} {
			for _, ring := range []int{0, -1} {
				name := fmt.Sprintf("json=%v/producers=%d/ring=%v", asJSON, producers, ring == 0)
				b.Run(name, func(b *testing.B) { benchRing(b, producers, asJSON, ring) })
			}
		}
	}
}

func benchRing(b *testing.B, producers int, asJSON bool, ring int) {
	b.SetBytes(int64(len(benchLines)))
	m := New(io.Discard, Options{JSON: asJSON, Timestamps: true, RingSize: ring})
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	var wg sync.WaitGroup
	for p := range producers {
		n := b.N / producers
		if p == 0 {
			n += b.N % producers
		}
		r := pipeFrom(b, slices.Repeat([][]byte{benchLines}, n)...)
		wg.Go(func() { copyAll(b, m, fmt.Sprintf("p%d.1", p), 1, r) })
	}
	wg.Wait()
	m.Close()
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano()
	b.ReportMetric(float64(cpu)/1e6/(float64(b.N)*float64(len(benchLines))/1e6), "cpu-ms/MB")
}
