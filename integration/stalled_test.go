package integration

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A child writes 200 MB while nobody reads procman's stdout: procman must
// stall the child (backpressure) rather than buffer, so its peak RSS stays
// under a fixed bound; once the reader drains the stream, every line
// arrives.
func TestStalledReaderBoundsMemory(t *testing.T) {
	const lines = 2_000_000 // of 100 bytes: 200 MB
	dir := t.TempDir()
	writeProcfile(t, dir, "p: yes $(printf '%099d' 0) | head -n "+strconv.Itoa(lines)+"\n")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(procmanBin, "start", "--no-timestamp", "-p", "47000")
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, w, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// Stalled: procman's stdout pipe is full (seven eighths of its
	// capacity, which procman may have raised, are queued: the rest is
	// slack in the kernel's page slots), so procman's writes block, and
	// then the child's.
	capacity, err := pipeCapacity(r.Fd())
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(60 * time.Second)
	for {
		queued, err := pipeQueued(r.Fd())
		if err != nil {
			t.Fatal(err)
		}
		if queued > 0 && capacity-queued < capacity/8 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("procman's stdout never filled: %d of %d bytes queued", queued, capacity)
		}
		time.Sleep(10 * time.Millisecond)
		capacity, _ = pipeCapacity(r.Fd())
	}
	const bound = 64 << 20
	stalled, ok := peakRSS(t, cmd.Process.Pid)
	if ok && stalled > bound {
		t.Errorf("procman's peak RSS with a stalled reader: %d MiB, want under %d MiB", stalled>>20, bound>>20)
	}

	// Drain: every line arrives, whole.
	got := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	want := []byte("p.1    | " + strings.Repeat("0", 99))
	for sc.Scan() {
		if bytes.Equal(sc.Bytes(), want) {
			got++
		}
	}
	if err := <-done; err != nil {
		t.Errorf("procman: %v", err)
	}
	if got != lines {
		t.Errorf("want %d lines, have %d", lines, got)
	}
	if ok {
		t.Logf("peak RSS while stalled: %.1f MiB", float64(stalled)/(1<<20))
		return
	}
	// Where a running process's peak cannot be read, the bound holds for
	// the peak over procman's whole life, stall and drain, from wait4 (the
	// largest of procman's and its reaped children's: an upper bound).
	peak := maxRSS(cmd.ProcessState)
	if peak > bound {
		t.Errorf("procman's peak RSS over the run: %d MiB, want under %d MiB", peak>>20, bound>>20)
	}
	t.Logf("peak RSS over the run: %.1f MiB", float64(peak)/(1<<20))
}

// maxRSS returns the peak resident set size of an exited process, in
// bytes: ru_maxrss counts bytes on macOS, KiB elsewhere.
func maxRSS(ps *os.ProcessState) int {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return int(ru.Maxrss)
	}
	return int(ru.Maxrss) << 10
}
