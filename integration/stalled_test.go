package integration

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
	capacity, err := unix.FcntlInt(r.Fd(), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(60 * time.Second)
	for {
		queued, err := unix.IoctlGetInt(int(r.Fd()), unix.TIOCINQ)
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
		capacity, _ = unix.FcntlInt(r.Fd(), unix.F_GETPIPE_SZ, 0)
	}
	hwm := vmHWM(t, cmd.Process.Pid)
	const bound = 64 << 20
	if hwm > bound {
		t.Errorf("procman's peak RSS with a stalled reader: %d MiB, want under %d MiB", hwm>>20, bound>>20)
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
	t.Logf("peak RSS while stalled: %.1f MiB", float64(hwm)/(1<<20))
}

// vmHWM reads a process's peak resident set size in bytes.
func vmHWM(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM for pid %d", pid)
	return 0
}
