package logmux

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRelayToPipe is the output path as bench/throughput.sh runs
// procman: producer children (this binary) write 100-byte lines 40 at a
// time into pipes from os.Pipe, as the portable supervisor makes them;
// Copy relays them in text mode into a blocking pipe outside the runtime's
// poller, as a shell gives procman its stdout; and a reader that checks
// every line, at about the speed of bench/producer's checker, reads that
// pipe. Run it with -tags procman_portable for the portable reader. Besides
// MB/s of the children's lines it reports cpu-ms/MB, this process's CPU
// time; all-ms/MB, the whole pipeline's (this process, the producers and
// the reader), which decides the throughput on a machine with few CPUs;
// and switches/MB, this process's context switches.
func BenchmarkRelayToPipe(b *testing.B) {
	for _, producers := range []int{1, 4} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) { benchRelayToPipe(b, producers) })
	}
}

func benchRelayToPipe(b *testing.B, producers int) {
	const block = 40 * 100
	r, w := outsidePoller(b)
	// The reader reports into a file: a pipe from it would put a goroutine
	// of this process in the runtime's poller, which the relay does not have.
	count := filepath.Join(b.TempDir(), "lines")
	sink := exec.Command(os.Args[0])
	sink.Env = append(os.Environ(), "LOGMUX_CHECK_LINES="+count)
	sink.Stdin = r
	if err := sink.Start(); err != nil {
		b.Fatal(err)
	}
	r.Close()
	m := New(w, Options{Timestamps: true})
	b.SetBytes(block)
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	var mu sync.Mutex
	var children time.Duration
	relayProducers(b, m, producers, func(cmd *exec.Cmd, err error) {
		if err != nil {
			b.Error(err)
		}
		mu.Lock()
		children += cpuTime(cmd.ProcessState)
		mu.Unlock()
	})
	if err := m.Close(); err != nil {
		b.Fatal(err)
	}
	w.Close()
	err := sink.Wait()
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	if err != nil {
		b.Fatalf("the reader found a damaged line: %v", err)
	}
	if got, err := os.ReadFile(count); err != nil || string(got) != strconv.Itoa(b.N*40) {
		b.Fatalf("the reader counted %q lines (%v), want %d", got, err, b.N*40)
	}
	self := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	all := self + children + cpuTime(sink.ProcessState)
	mb := float64(b.N) * block / 1e6
	b.ReportMetric(float64(self.Microseconds())/1e3/mb, "cpu-ms/MB")
	b.ReportMetric(float64(all.Microseconds())/1e3/mb, "all-ms/MB")
	b.ReportMetric(float64(after.Nvcsw+after.Nivcsw-before.Nvcsw-before.Nivcsw)/mb, "switches/MB")
}

// cpuTime returns the user and system time of an exited process.
func cpuTime(ps *os.ProcessState) time.Duration {
	return ps.UserTime() + ps.SystemTime()
}

// init makes the test binary BenchmarkRelayToPipe's reader when
// LOGMUX_CHECK_LINES names a file: it reads stdin line by line, checks that
// each is a prefix, " | " and its producer's next 100-byte line, writes the
// number of lines to the file, and exits 1 at the first damaged or
// misplaced one.
func init() {
	report := os.Getenv("LOGMUX_CHECK_LINES")
	if report == "" {
		return
	}
	br := bufio.NewReaderSize(os.Stdin, 1<<20)
	var next [10]int // by producer ("p3.1": 3), the index in benchLines of its next line
	lines := 0
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if len(line) > 0 {
				fmt.Fprintf(os.Stderr, "a line without its newline: %q\n", line)
				os.Exit(1)
			}
			break
		}
		i := bytes.Index(line, []byte(" | "))
		if i < 0 {
			fmt.Fprintf(os.Stderr, "no label: %q\n", line)
			os.Exit(1)
		}
		head := bytes.TrimRight(line[:i], " ")
		label := head[bytes.LastIndexByte(head, ' ')+1:]
		if len(label) != 4 || label[0] != 'p' || label[1] < '0' || label[1] > '9' || string(label[2:]) != ".1" {
			fmt.Fprintf(os.Stderr, "not a producer's label: %q\n", line)
			os.Exit(1)
		}
		p := label[1] - '0'
		if k := next[p]; !bytes.Equal(line[i+3:], benchLines[k*100:(k+1)*100]) {
			fmt.Fprintf(os.Stderr, "%s: want line %d, got %q\n", label, k, line)
			os.Exit(1)
		}
		next[p] = (next[p] + 1) % 40
		lines++
	}
	if err := os.WriteFile(report, []byte(strconv.Itoa(lines)), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}
