package logmux

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzCopy: whatever a child writes, in whatever pieces, the output lines
// with their prefixes removed give its bytes back (text: plus the newline
// added after a last line without one; JSON: exactly, per the package
// rule).
func FuzzCopy(f *testing.F) {
	for _, seed := range []string{
		"hello\n", "a\nb\nc\n", "a\nb", "prompt> ", "\n\n", "a\r\n",
		"\xff\xfe ok \xc3\n", "", "a\"b\\c\td\x01\x1b[0m\r\n", "é→😀\n", "\xffok\n",
		"web.1  | x\n", "\xe2\x82\n\xf0\x9f\x98\x80",
	} {
		f.Add([]byte(seed), uint(len(seed)/2), false)
		f.Add([]byte(seed), uint(1), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint, asJSON bool) {
		var out syncBuffer
		m := New(&out, Options{JSON: asJSON, Timestamps: true, Now: fixed})
		if !asJSON {
			// A partial line would add a newline the check cannot place.
			m.partial = 0
		}
		k := int(split % uint(len(data)+1))
		copyAll(t, m, "web.1", 1, pipeFrom(t, data[:k], data[k:]))
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if asJSON {
			if got := joinJSON(t, out.Bytes()); !bytes.Equal(got, data) {
				t.Fatalf("got %q, want %q", got, data)
			}
			return
		}
		const prefix = "09:30:00 web.1  | "
		var got []byte
		for _, line := range bytes.SplitAfter(out.Bytes(), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			rest, ok := bytes.CutPrefix(line, []byte(prefix))
			if !ok {
				t.Fatalf("line without prefix: %q", line)
			}
			got = append(got, rest...)
		}
		want := data
		if len(data) > 0 && data[len(data)-1] != '\n' {
			want = append(bytes.Clone(data), '\n')
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}

// benchLines is a pipe's worth of 100-byte lines.
var benchLines = func() []byte {
	var b []byte
	for i := 0; len(b)+100 <= readSize; i++ {
		b = fmt.Appendf(b, "%08d %090d\n", i, i)
	}
	return b
}()

// BenchmarkCopy measures the output path end to end: producers write
// 100-byte lines into real pipes as fast as they can, Copy reads, formats
// and writes to io.Discard. MB/s counts the children's bytes.
func BenchmarkCopy(b *testing.B) {
	for _, asJSON := range []bool{false, true} {
		for _, producers := range []int{1, 4} {
			name := fmt.Sprintf("text/producers=%d", producers)
			if asJSON {
				name = fmt.Sprintf("json/producers=%d", producers)
			}
			b.Run(name, func(b *testing.B) { benchCopy(b, producers, asJSON) })
		}
	}
}

func benchCopy(b *testing.B, producers int, asJSON bool) {
	lines := len(benchLines) / 100
	b.SetBytes(int64(len(benchLines)))
	m := New(io.Discard, Options{JSON: asJSON, Timestamps: true})
	blocks := b.N
	b.ResetTimer()
	var wg sync.WaitGroup
	for p := range producers {
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		n := blocks / producers
		if p == 0 {
			n += blocks % producers
		}
		wg.Go(func() {
			defer w.Close()
			for range n {
				if _, err := w.Write(benchLines); err != nil {
					b.Error(err)
					return
				}
			}
		})
		wg.Go(func() {
			defer r.Close()
			if err := m.Copy(fmt.Sprintf("p%d.1", p), 1, r); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	m.Close()
	b.ReportMetric(float64(b.N*lines)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkFormat measures formatting alone: one read's worth of 100-byte
// lines into the output buffer.
func BenchmarkFormat(b *testing.B) {
	for _, asJSON := range []bool{false, true} {
		b.Run(fmt.Sprintf("json=%v", asJSON), func(b *testing.B) {
			m := New(io.Discard, Options{JSON: asJSON, Timestamps: true})
			s := &stream{m: m, label: "web.1", pid: 1}
			now := time.Now()
			b.SetBytes(int64(len(benchLines)))
			for b.Loop() {
				// As in process: mu held, and a read's output can
				// exceed hardLimit, which makes room flush.
				m.mu.Lock()
				m.buf = m.buf[:0]
				if asJSON {
					s.jsonLines(benchLines, now, now)
				} else {
					s.textLines(benchLines, now, now)
				}
				m.mu.Unlock()
			}
		})
	}
}

// FuzzJSONString: the hand-written escaper agrees with encoding/json.
func FuzzJSONString(f *testing.F) {
	for _, seed := range []string{"", "plain ascii text, long enough", "a\"b\\c\td\x01\x1b[0m\r", "é→😀", "\xffok", "\xe2\x82", "\x7f\u2028", "12345678\"2345678\\"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		enc, invalid := appendJSONString([]byte(`"`), s)
		enc = append(enc, '"')
		var got string
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatalf("%q encodes to invalid JSON %q: %v", s, enc, err)
		}
		var want []rune
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRune(s[i:])
			want = append(want, r)
			i += n
		}
		if got != string(want) {
			t.Fatalf("%q: decoded %q, want %q", s, got, string(want))
		}
		if invalid != !utf8.Valid(s) {
			t.Fatalf("%q: invalid=%v", s, invalid)
		}
	})
}

// TestMain lets the test binary run as a producer child for BenchmarkRelay.
func TestMain(m *testing.M) {
	if v := os.Getenv("LOGMUX_PRODUCER_BLOCKS"); v != "" {
		n, _ := strconv.Atoi(v)
		for range n {
			if _, err := os.Stdout.Write(benchLines[:40*100]); err != nil {
				os.Exit(1)
			}
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// BenchmarkRelay measures the relay's own CPU cost with real processes on
// both sides: producer children (this binary) writing 100-byte lines 40 at
// a time, and `cat >/dev/null` reading the stream. cpu-ms/MB is this
// process's user+system time per MB of the children's lines.
func BenchmarkRelay(b *testing.B) {
	for _, asJSON := range []bool{false, true} {
		for _, producers := range []int{1, 4} {
			name := fmt.Sprintf("text/producers=%d", producers)
			if asJSON {
				name = fmt.Sprintf("json/producers=%d", producers)
			}
			b.Run(name, func(b *testing.B) { benchRelay(b, producers, asJSON) })
		}
	}
}

func benchRelay(b *testing.B, producers int, asJSON bool) {
	const block = 40 * 100
	sink := exec.Command("cat")
	in, err := sink.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := sink.Start(); err != nil {
		b.Fatal(err)
	}
	m := New(in.(*os.File), Options{JSON: asJSON, Timestamps: true})
	b.SetBytes(block)
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	relayProducers(b, m, producers, func(cmd *exec.Cmd, _ error) {})
	m.Close()
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	in.Close()
	sink.Wait()
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	mb := float64(b.N) * block / 1e6
	b.ReportMetric(float64(cpu.Microseconds())/1e3/mb, "cpu-ms/MB")
	b.ReportMetric(float64(after.Utime.Nano()-before.Utime.Nano())/1e6/mb, "user-ms/MB")
	b.ReportMetric(float64(after.Nvcsw+after.Nivcsw-before.Nvcsw-before.Nivcsw)/mb, "switches/MB")
}

// relayProducers runs producers children that write b.N blocks between
// them (LOGMUX_PRODUCER_BLOCKS), each on a pipe of its own that m copies,
// and returns once every one has been copied to its end and waited for;
// waited is called for each with its Wait error, from its goroutine.
func relayProducers(b *testing.B, m *Mux, producers int, waited func(cmd *exec.Cmd, err error)) {
	var wg sync.WaitGroup
	for p := range producers {
		n := b.N / producers
		if p == 0 {
			n += b.N % producers
		}
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), fmt.Sprintf("LOGMUX_PRODUCER_BLOCKS=%d", n))
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		cmd.Stdout = w
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		w.Close()
		wg.Go(func() {
			if err := m.Copy(fmt.Sprintf("p%d.1", p), cmd.Process.Pid, r); err != nil {
				b.Error(err)
			}
			r.Close()
			waited(cmd, cmd.Wait())
		})
	}
	wg.Wait()
}
