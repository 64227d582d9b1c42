package logmux

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// readUntil reads f until what it returned satisfies done, failing after
// 30 s or at io.EOF.
func readUntil(t testing.TB, f *Feed, what string, done func(got string) bool) string {
	t.Helper()
	stop := make(chan struct{})
	timer := time.AfterFunc(30*time.Second, func() { close(stop) })
	defer timer.Stop()
	var got []byte
	for !done(string(got)) {
		b, err := f.Next(stop)
		got = append(got, b...)
		if err != nil {
			t.Fatalf("waiting for %s: %v after %q", what, err, got)
		}
	}
	return string(got)
}

// within runs fn, failing if it has not returned after 30 s.
func within(t testing.TB, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not return", what)
	}
}

// phasedProducer writes n numbered lines as producer does: the first half,
// then it tells half and waits for resume; the next 40%, then it waits for
// tail; the last 10%.
func phasedProducer(w io.WriteCloser, id, n int, half *sync.WaitGroup, resume, tail <-chan struct{}) {
	defer w.Close()
	bw := bufio.NewWriterSize(w, 4096)
	pad := strings.Repeat("x", 80)
	for i := range n {
		switch i {
		case n / 2:
			bw.Flush()
			half.Done()
			<-resume
		case n - n/10:
			bw.Flush()
			<-tail
		}
		fmt.Fprintf(bw, "w%d %06d %s\n", id, i, pad)
	}
	bw.Flush()
}

// TestFollowConcurrent: a follower that starts while four children write,
// the ring evicting as they do, gets each child's lines whole, once, in
// order and without a gap from the ring's part to the followed part, up to
// the last; so does a follower of one child. (Where each child's lines
// begin depends on what the ring still held when Logs took it.)
func TestFollowConcurrent(t *testing.T) {
	const writers, lines = 4, 2000
	m := New(io.Discard, Options{RingSize: 64 << 10})
	var half, copies sync.WaitGroup
	half.Add(writers)
	resume, tail := make(chan struct{}), make(chan struct{})
	for i := range writers {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go phasedProducer(w, i, lines, &half, resume, tail)
		copies.Go(func() { copyAll(t, m, fmt.Sprintf("p%d.1", i), 1, r) })
	}
	within(t, "the first halves", half.Wait)
	// The children write on while Logs takes the ring and subscribes.
	close(resume)
	all := m.Logs(Query{Lines: 1 << 20, Follow: true})
	one := m.Logs(Query{Targets: []string{"p1"}, Lines: 1 << 20, Follow: true})
	// Lines written after Logs returned are certainly followed (the others
	// may have left the ring before it was taken).
	close(tail)
	var outAll, outOne string
	var readers sync.WaitGroup
	readers.Go(func() { outAll = readAll(t, all) })
	readers.Go(func() { outOne = readAll(t, one) })
	within(t, "Copy", copies.Wait)
	m.EndFeeds()
	within(t, "the followers", readers.Wait)

	check := func(name, out string, want []int) {
		seqs := make(map[int][]int)
		pad := strings.Repeat("x", 80)
		for _, line := range strings.SplitAfter(out, "\n") {
			if line == "" {
				continue
			}
			label, text, _ := strings.Cut(line, " | ")
			var id, seq int
			var rest string
			if n, _ := fmt.Sscanf(text, "w%d %d %s\n", &id, &seq, &rest); n != 3 || rest != pad || strings.TrimSpace(label) != fmt.Sprintf("p%d.1", id) {
				t.Fatalf("%s: mangled line %q", name, line)
			}
			seqs[id] = append(seqs[id], seq)
		}
		if len(seqs) != len(want) {
			t.Fatalf("%s: lines of %d children, want %d", name, len(seqs), len(want))
		}
		for _, id := range want {
			s := seqs[id]
			for k := range s {
				if s[k] != s[0]+k {
					t.Fatalf("%s: child %d: line %d after %d", name, id, s[k], s[k-1])
				}
			}
			if len(s) == 0 || s[len(s)-1] != lines-1 {
				t.Fatalf("%s: child %d: %d lines, not up to the last", name, id, len(s))
			}
			t.Logf("%s: child %d: lines %d to %d", name, id, s[0], lines-1)
		}
	}
	check("all", outAll, []int{0, 1, 2, 3})
	check("p1", outOne, []int{1})
}

// TestFollowPartialLine: a prompt reaches a follower as it reaches the
// output, PartialDelay after it was written, and the whole feed equals the
// output.
func TestFollowPartialLine(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", asJSON), func(t *testing.T) {
			var out syncBuffer
			m := New(&out, Options{JSON: asJSON, Now: fixed})
			f := m.Logs(Query{Follow: true, JSON: asJSON})
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			wait := startCopy(t, m, "web.1", r)
			w.Write([]byte("first\nPassword: "))
			wantPrompt := "web.1  | Password: \n"
			if asJSON {
				wantPrompt = `"line":"Password: ","partial":true}` + "\n"
			}
			got := readUntil(t, f, "the prompt", func(got string) bool { return strings.HasSuffix(got, wantPrompt) })
			w.Write([]byte("secret\n"))
			w.Close()
			wait()
			m.Close()
			m.EndFeeds()
			got += readAll(t, f)
			if want := out.String(); got != want {
				t.Fatalf("got  %q\nwant %q", got, want)
			}
		})
	}
}

// TestFollowFromSnapshot: a line open when Logs is called is shown whole
// once it ends; Lines decides what of the ring is shown, not what follows.
func TestFollowFromSnapshot(t *testing.T) {
	long := strings.Repeat("L", textStreamAt)
	tests := []struct {
		name          string
		lines         int
		before, after []step
		want          string
	}{
		{"open line, no lines", 0,
			[]step{read("a.1", "done\nhel")}, []step{read("a.1", "lo\n")},
			"a.1    | hello\n"},
		{"open line, one line", 1,
			[]step{read("a.1", "done\nhel")}, []step{read("a.1", "lo\n")},
			"a.1    | done\na.1    | hello\n"},
		{"open line of another child", 5,
			[]step{read("a.1", "hel"), read("b.1", "b\n")}, []step{read("b.1", "b2\n"), read("a.1", "lo\n")},
			"b.1    | b\nb.1    | b2\na.1    | hello\n"},
		{"long line being written, shown", 1,
			[]step{read("a.1", "done\n"+long)}, []step{read("a.1", " end\nnext\n")},
			"a.1    | " + long + " end\na.1    | next\n"},
		{"long line being written, not shown", 0,
			[]step{read("a.1", "done\n"+long)}, []step{read("a.1", " end\nnext\n")},
			"a.1    | next\n"},
		{"prompt shown before", 5,
			[]step{read("a.1", "> "), show("a.1")}, []step{read("a.1", "yes\n")},
			"a.1    | > \na.1    | yes\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(io.Discard, Options{Now: fixed})
			steps := append(tt.before[:len(tt.before):len(tt.before)], tt.after...)
			// One set of streams for both parts: play them, with Logs
			// called in between.
			streams := map[string]*stream{}
			var f *Feed
			for i, st := range steps {
				if i == len(tt.before) {
					f = m.Logs(Query{Lines: tt.lines, Follow: true})
				}
				s := streams[st.label]
				if s == nil {
					s = newTestStream(m, st.label, 1)
					streams[st.label] = s
				}
				if st.show {
					showOpenLine(s)
				} else {
					s.process([]byte(st.data), fixed())
				}
			}
			m.EndFeeds()
			if got := readAll(t, f); got != tt.want {
				t.Fatalf("got  %.200q\nwant %.200q", got, tt.want)
			}
		})
	}
}

// TestFeedEnds: how Close, End, EndFeeds and a stop channel end a feed.
func TestFeedEnds(t *testing.T) {
	type fixture struct {
		m *Mux
		s *stream
	}
	tests := []struct {
		name string
		run  func(t *testing.T, x fixture)
	}{
		{"Close drops what is held and unsubscribes", func(t *testing.T, x fixture) {
			f := x.m.Logs(Query{Follow: true})
			tap := x.m.Tap("a.1")
			x.s.process([]byte("held\n"), fixed())
			f.Close()
			f.Close()
			tap.Close()
			x.s.process([]byte("later\n"), fixed())
			for _, f := range []*Feed{f, tap} {
				if b, err := f.Next(nil); err != io.EOF {
					t.Fatalf("Next after Close: %q, %v", b, err)
				}
			}
			if len(x.m.ring.follows) != 0 || len(x.m.ring.taps) != 0 || x.m.ring.ntaps.Load() != 0 {
				t.Fatal("closed feeds are still fed")
			}
		}},
		{"Close wakes Next", func(t *testing.T, x fixture) {
			for _, f := range []*Feed{x.m.Logs(Query{Follow: true}), x.m.Tap("a.1")} {
				done := make(chan error, 1)
				go func() {
					_, err := f.Next(nil)
					done <- err
				}()
				f.Close()
				select {
				case err := <-done:
					if err != io.EOF {
						t.Fatalf("Next: %v", err)
					}
				case <-time.After(30 * time.Second):
					t.Fatal("Next still waits after Close")
				}
			}
		}},
		{"End gives what is held, then EOF", func(t *testing.T, x fixture) {
			f := x.m.Logs(Query{Follow: true})
			tap := x.m.Tap("a.1")
			x.s.process([]byte("one\ntw"), fixed())
			f.End()
			tap.End()
			tap.End()
			x.s.process([]byte("o\n"), fixed())
			if got := readAll(t, f); got != "a.1    | one\n" {
				t.Fatalf("Logs: %q", got)
			}
			if got := readAll(t, tap); got != "one\ntw" {
				t.Fatalf("Tap: %q", got)
			}
			if x.m.ring.ntaps.Load() != 0 {
				t.Fatal("an ended tap is still fed")
			}
		}},
		{"EndFeeds ends every feed, and those made later", func(t *testing.T, x fixture) {
			f := x.m.Logs(Query{Follow: true})
			tap := x.m.Tap("a.1")
			x.s.process([]byte("x\n"), fixed())
			x.m.EndFeeds()
			x.s.process([]byte("y\n"), fixed())
			if got := readAll(t, f); got != "a.1    | x\n" {
				t.Fatalf("Logs: %q", got)
			}
			if got := readAll(t, tap); got != "x\n" {
				t.Fatalf("Tap: %q", got)
			}
			if got := readAll(t, x.m.Logs(Query{Lines: 10, Follow: true})); got != "a.1    | x\na.1    | y\n" {
				t.Fatalf("Logs after EndFeeds: %q", got)
			}
			if got := readAll(t, x.m.Tap("a.1")); got != "" {
				t.Fatalf("Tap after EndFeeds: %q", got)
			}
		}},
		{"a stop channel ends the wait, not the feed", func(t *testing.T, x fixture) {
			f := x.m.Logs(Query{Follow: true})
			stop := make(chan struct{})
			close(stop)
			if _, err := f.Next(stop); err != ErrStopped {
				t.Fatalf("Next with nothing held: %v, want ErrStopped", err)
			}
			x.s.process([]byte("x\n"), fixed())
			if b, err := f.Next(stop); string(b) != "a.1    | x\n" || err != nil {
				t.Fatalf("Next with a line held: %q, %v", b, err)
			}
			f.Close()
		}},
		{"without Follow the feed ends after the ring's lines", func(t *testing.T, x fixture) {
			x.s.process([]byte("x\n"), fixed())
			f := x.m.Logs(Query{Lines: 5})
			x.s.process([]byte("y\n"), fixed())
			if got := readAll(t, f); got != "a.1    | x\n" {
				t.Fatalf("got %q", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(io.Discard, Options{Now: fixed})
			tt.run(t, fixture{m, newTestStream(m, "a.1", 1)})
		})
	}
}

// TestSlowReader: feeds nobody reads never hold the Mux up; once the
// reader catches up it gets the notice of what it missed, then new output.
// What it got and what it missed add up to what was written.
func TestSlowReader(t *testing.T) {
	line := strings.Repeat("y", 99) + "\n"
	chunk := []byte(strings.Repeat(line, 655)) // whole lines in every read
	const reads = 48                           // 3 MB, three times FeedMax
	total := reads * len(chunk)
	for _, asJSON := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", asJSON), func(t *testing.T) {
			m := New(io.Discard, Options{JSON: asJSON, Now: fixed})
			s := newTestStream(m, "web.1", 1)
			f := m.Logs(Query{Follow: true, JSON: asJSON})
			tap := m.Tap("web.1")
			within(t, "writing to feeds nobody reads", func() {
				for range reads {
					s.process(chunk, fixed())
				}
			})

			notice := `system \| (\d+) bytes of output skipped: this client did not keep up` + "\n"
			text := "web.1  | " + line
			if asJSON {
				notice = `\{"time":"2024-05-01T09:30:00.123456Z","proc":"system","stream":"system","event":"skipped","line":"(\d+) bytes of output skipped: this client did not keep up"}` + "\n"
				text = `{"time":"2024-05-01T09:30:00.123456Z","proc":"web.1","pid":1,"stream":"output","line":"` + line[:99] + `"}` + "\n"
			}
			got := readUntil(t, f, "the notice", func(got string) bool { return strings.Contains(got, "skipped") })
			body, skipped := cutNotice(t, got, notice)
			if strings.ReplaceAll(body, text, "") != "" {
				t.Fatalf("Logs: not whole lines before the notice: %.300q", body)
			}
			if shown := strings.Count(body, "\n") * len(line); shown+skipped != total || skipped == 0 {
				t.Fatalf("Logs: %d bytes shown and %d skipped, of %d", shown, skipped, total)
			}

			raw := readUntil(t, tap, "the notice", func(got string) bool { return strings.Contains(got, "skipped") })
			body, skipped = cutNotice(t, raw, `\r\n\[procman: (\d+) bytes of output skipped: this client did not keep up\]\r\n`)
			if len(body)+skipped != total || skipped == 0 || !bytes.Equal([]byte(body), bytes.Repeat(chunk, reads)[:len(body)]) {
				t.Fatalf("Tap: %d bytes shown and %d skipped, of %d", len(body), skipped, total)
			}

			s.process([]byte("after\n"), fixed())
			after := "web.1  | after\n"
			if asJSON {
				after = `{"time":"2024-05-01T09:30:00.123456Z","proc":"web.1","pid":1,"stream":"output","line":"after"}` + "\n"
			}
			if got := readUntil(t, f, "the next line", func(got string) bool { return strings.Contains(got, "\n") }); got != after {
				t.Fatalf("Logs after the notice: %q", got)
			}
			if got := readUntil(t, tap, "the next read", func(got string) bool { return got != "" }); got != "after\n" {
				t.Fatalf("Tap after the notice: %q", got)
			}
		})
	}
}

// cutNotice splits got into what comes before the notice, which must end
// it, and the number of bytes the notice says were skipped.
func cutNotice(t *testing.T, got, notice string) (body string, skipped int) {
	t.Helper()
	re := regexp.MustCompile("^((?s).*?)" + notice + "$")
	m := re.FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("no notice %q at the end of %.300q...%.300q", notice, got, got[max(0, len(got)-300):])
	}
	n, _ := strconv.Atoi(m[2])
	return m[1], n
}

// TestFeedsMemoryBounded: a child floods the Mux while a follower and a
// tap read nothing: the heap stays within a few times the ring and the
// feeds' bounds.
func TestFeedsMemoryBounded(t *testing.T) {
	const total = 64 << 20
	m := New(io.Discard, Options{})
	f := m.Logs(Query{Follow: true})
	defer f.Close()
	tap := m.Tap("web.1")
	defer tap.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	wait := startCopy(t, m, "web.1", r)
	chunk := bytes.Repeat([]byte(strings.Repeat("z", 99)+"\n"), 10<<10)
	var most int64
	for written := 0; written < total; written += len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
		if written%(8<<20) == 0 {
			runtime.GC()
			var during runtime.MemStats
			runtime.ReadMemStats(&during)
			most = max(most, int64(during.HeapInuse)-int64(before.HeapInuse))
		}
	}
	w.Close()
	wait()
	const bound = 4 * (DefaultRingSize + FeedMax)
	t.Logf("heap in use grew by at most %d KiB while %d MiB went by (bound %d KiB)", most>>10, total>>20, bound>>10)
	if most > bound {
		t.Fatalf("heap grew by %d bytes, more than %d", most, bound)
	}
}

// TestTap: a tap gets a child's bytes exactly as written, from the moment
// it is made, and no other child's; a quiet child too.
func TestTap(t *testing.T) {
	m := New(io.Discard, Options{Quiet: []string{"q"}})
	rng := rand.New(rand.NewPCG(1, 2))
	input := make([]byte, 512<<10)
	for i := range input {
		input[i] = byte(rng.IntN(256))
	}
	var chunks [][]byte
	for rest := input; len(rest) > 0; {
		n := min(len(rest), 1+rng.IntN(8<<10))
		chunks = append(chunks, rest[:n])
		rest = rest[n:]
	}
	for _, label := range []string{"web.1", "q.1"} {
		t.Run(label, func(t *testing.T) {
			before := newTestStream(m, label, 1)
			before.process([]byte("before the tap\n"), time.Now())
			tap := m.Tap(label)
			var got string
			var reader sync.WaitGroup
			reader.Go(func() { got = readAll(t, tap) })
			var copies sync.WaitGroup
			copies.Go(func() { copyAll(t, m, label, 2, pipeFrom(t, chunks...)) })
			copies.Go(func() { copyAll(t, m, "other.1", 3, pipeFrom(t, []byte("not this\n"))) })
			within(t, "Copy", copies.Wait)
			tap.End()
			within(t, "the tap's reader", reader.Wait)
			if got != string(input) {
				t.Fatalf("got %d bytes, not the %d written", len(got), len(input))
			}
		})
	}
	if got := readAll(t, m.Logs(Query{Targets: []string{"q"}, Lines: 10})); got != "" {
		t.Fatalf("a quiet child in the ring: %q", got)
	}
}
