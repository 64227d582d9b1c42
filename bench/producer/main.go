// Command producer is bench/throughput.sh's load and its checker.
//
// As a producer (-id N) it writes numbered 100-byte lines to stdout as fast
// as it can for -for, 40 lines per write(2): at most PIPE_BUF bytes, so that
// several producers sharing one pipe (into one cat) never interleave inside
// a line. It stops early, at a line boundary, on SIGTERM or SIGINT, and
// writes "lines bytes seconds" to -report.
//
// As a checker (-check text|json|raw) it reads a stream on stdin, verifies
// every line from producer N under label pN.1 (text, json) or bare (raw),
// in order and without gaps, and, after EOF, compares with the producers'
// reports in -reports DIR. It prints
// "bytes seconds MB/s lines lost corrupt" (MB = 10^6 bytes of the
// producers' lines, timed from the first byte received to EOF). With -pipe
// it first resizes the pipe on its stdin (Linux only), so that a relay can
// be measured writing into a larger pipe than the shell made.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	lineLen = 100
	maxID   = 9
)

// perWrite is how many lines go into one write(2): 40 lines are 4000
// bytes, within PIPE_BUF, like a block-buffered program; 1 is a program that
// writes each line as it is made (unbuffered or line-buffered output).
var perWrite = 40

func main() {
	id := flag.Int("id", 0, "produce as producer `N` (1-9)")
	dur := flag.Duration("for", 2*time.Second, "produce for this long")
	report := flag.String("report", "", "write `FILE` with lines, bytes and seconds produced")
	check := flag.String("check", "", "check stdin: `FORMAT` text, json or raw")
	reports := flag.String("reports", "", "`DIR` of the producers' reports, for -check")
	pipe := flag.Int("pipe", 0, "with -check: first resize the pipe on stdin to `BYTES` (Linux)")
	flag.IntVar(&perWrite, "lines", perWrite, "write `N` lines per write(2); at most 40 keeps a write within PIPE_BUF")
	flag.Parse()
	var err error
	switch {
	case perWrite < 1 || perWrite > 40:
		err = fmt.Errorf("-lines %d: must be 1 to 40", perWrite)
	case *id >= 1 && *id <= maxID && *check == "":
		err = produce(*id, *dur, *report)
	case *check != "" && *pipe > 0:
		if err = growStdin(*pipe); err == nil {
			err = checkStream(os.Stdin, *check, *reports)
		}
	case *check != "":
		err = checkStream(os.Stdin, *check, *reports)
	default:
		err = fmt.Errorf("need -id 1..%d or -check", maxID)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
		os.Exit(2)
	}
}

// line returns producer id's line seq: "P1 000000042 xxx...x\n".
func line(dst []byte, id, seq int) []byte {
	n := len(dst)
	dst = fmt.Appendf(dst, "P%d %09d ", id, seq)
	for len(dst)-n < lineLen-1 {
		dst = append(dst, 'x')
	}
	return append(dst, '\n')
}

func produce(id int, dur time.Duration, report string) error {
	var stop atomic.Bool
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sigs; stop.Store(true) }()

	// Only the sequence digits change: build a block once, then patch them.
	block := make([]byte, 0, perWrite*lineLen)
	for i := range perWrite {
		block = line(block, id, i)
	}
	seq := 0
	start := time.Now()
	end := start.Add(dur)
	for !stop.Load() && (seq%(perWrite*64) != 0 || time.Now().Before(end)) {
		for i := range perWrite {
			d := block[i*lineLen+3 : i*lineLen+12]
			for j, v := 8, seq+i; j >= 0; j, v = j-1, v/10 {
				d[j] = byte('0' + v%10)
			}
		}
		if _, err := os.Stdout.Write(block); err != nil {
			return err
		}
		seq += perWrite
	}
	secs := time.Since(start).Seconds()
	if report == "" {
		return nil
	}
	return os.WriteFile(report, fmt.Appendf(nil, "%d %d %.6f\n", seq, seq*lineLen, secs), 0o644)
}

func checkStream(r io.Reader, format, reports string) error {
	br := bufio.NewReaderSize(r, 1<<20)
	var next [maxID + 1]int
	var got, corrupt, bytesIn int
	var first time.Time
	pad := bytes.Repeat([]byte("x"), lineLen-1-len("P1 000000000 "))
	for {
		raw, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer is corrupt in this benchmark.
			corrupt++
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			continue
		}
		if len(raw) > 0 && first.IsZero() {
			first = time.Now()
		}
		if err == io.EOF {
			if len(raw) > 0 {
				corrupt++
			}
			break
		}
		if err != nil {
			return err
		}
		label, text, ok := split(raw, format)
		if !ok {
			corrupt++
			continue
		}
		if label == nil && format != "raw" {
			continue // procman's own line
		}
		if len(text) != lineLen-1 || text[0] != 'P' || text[2] != ' ' || text[12] != ' ' || !bytes.Equal(text[13:], pad) {
			corrupt++
			continue
		}
		id := int(text[1] - '0')
		seq, okSeq := digits(text[3:12])
		if id < 1 || id > maxID || !okSeq || (format != "raw" && !isLabel(label, text[1])) {
			corrupt++
			continue
		}
		if seq != next[id] {
			corrupt++ // out of order or repeated; a gap shows as lost below
			if seq > next[id] {
				next[id] = seq + 1
			}
			continue
		}
		next[id]++
		got++
		bytesIn += lineLen
	}
	secs := time.Since(first).Seconds()
	want := 0
	files, _ := filepath.Glob(filepath.Join(reports, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var lines, n int
		var s float64
		if _, err := fmt.Sscan(string(b), &lines, &n, &s); err != nil {
			return fmt.Errorf("%s: %v", f, err)
		}
		want += lines
	}
	if len(files) == 0 {
		return fmt.Errorf("no reports in %q", reports)
	}
	fmt.Printf("%d %.3f %.1f %d %d %d\n", bytesIn, secs, float64(bytesIn)/secs/1e6, got, want-got, corrupt)
	return nil
}

// fast remembers where the first child's line had its label and bar.
var fast struct{ label, bar int }

// split returns the label (nil for procman's own lines) and the child's
// text of one output line.
func split(raw []byte, format string) (label, text []byte, ok bool) {
	raw = raw[:len(raw)-1]
	switch format {
	case "raw":
		return nil, raw, true
	case "text":
		// "15:04:05 p1.1   | P1 000000042 xxx": every child's line has its
		// label at the same place, so look there first.
		if f := &fast; f.bar > 0 && len(raw) > f.bar+3 && string(raw[f.bar:f.bar+3]) == " | " {
			label := bytes.TrimRight(raw[f.label:f.bar], " ")
			if string(label) == "system" {
				return nil, nil, true
			}
			return label, raw[f.bar+3:], true
		}
		i := bytes.Index(raw, []byte(" | "))
		if i < 0 {
			return nil, nil, false
		}
		head := bytes.TrimRight(raw[:i], " ")
		label := head[bytes.LastIndexByte(head, ' ')+1:]
		if len(label) == 0 {
			return nil, nil, false
		}
		if string(label) == "system" {
			return nil, nil, true
		}
		fast.label, fast.bar = len(head)-len(label), i
		return bytes.TrimRight(raw[fast.label:i], " "), raw[i+3:], true
	case "json":
		if label, text, ok := shape(raw); ok {
			return label, text, true
		}
		// Not a child's line of the usual shape: procman's own, or corrupt.
		if !json.Valid(raw) {
			return nil, nil, false
		}
		if bytes.Contains(raw, []byte(`"stream":"system"`)) {
			return nil, nil, true
		}
		label, ok1 := field(raw, `"proc":"`)
		text, ok2 := field(raw, `"line":"`)
		return label, text, ok1 && ok2
	}
	return nil, nil, false
}

// shape matches a child's line exactly as procman writes it,
// {"time":"...","proc":"p1.1","pid":42,"stream":"output","line":"..."}.
// With the caller's check of the label and of every byte of the text, a
// match is valid JSON; checking that is far cheaper than json.Valid.
func shape(raw []byte) (label, text []byte, ok bool) {
	const (
		t0 = `{"time":"`
		t1 = `","proc":"`
		t2 = `","pid":`
		t3 = `,"stream":"output","line":"`
	)
	if !bytes.HasPrefix(raw, []byte(t0)) {
		return nil, nil, false
	}
	raw = raw[len(t0):]
	i := bytes.IndexByte(raw, '"')
	if i < 0 || bytes.IndexByte(raw[:i], '\\') >= 0 || !bytes.HasPrefix(raw[i:], []byte(t1)) {
		return nil, nil, false
	}
	raw = raw[i+len(t1):]
	if i = bytes.IndexByte(raw, '"'); i < 0 || !bytes.HasPrefix(raw[i:], []byte(t2)) {
		return nil, nil, false
	}
	label, raw = raw[:i], raw[i+len(t2):]
	i = 0
	for i < len(raw) && raw[i] >= '0' && raw[i] <= '9' {
		i++
	}
	if i == 0 || !bytes.HasPrefix(raw[i:], []byte(t3)) {
		return nil, nil, false
	}
	raw = raw[i+len(t3):]
	if len(raw) < 2 || string(raw[len(raw)-2:]) != `"}` {
		return nil, nil, false
	}
	return label, raw[:len(raw)-2], true
}

// isLabel reports whether label is "pN.1" for the digit id.
func isLabel(label []byte, id byte) bool {
	return len(label) == 4 && label[0] == 'p' && label[1] == id && label[2] == '.' && label[3] == '1'
}

// digits parses decimal digits.
func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// field returns the string value after key; the benchmark's values need no
// unescaping.
func field(raw []byte, key string) ([]byte, bool) {
	i := bytes.Index(raw, []byte(key))
	if i < 0 {
		return nil, false
	}
	v := raw[i+len(key):]
	j := bytes.IndexByte(v, '"')
	if j < 0 {
		return nil, false
	}
	return v[:j], true
}
