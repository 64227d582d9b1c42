package supervisor

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"
)

// holdPipes opens n pipes for the rest of the test, as procman holds one
// per running child.
func holdPipes(t *testing.T, n int) {
	t.Helper()
	for range n {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(); w.Close() })
	}
}

// talk starts sh with stdin and stdout/stderr on two pipes through r,
// checks that the child reads its stdin and that both its output streams
// arrive, and that the reaper reports its exit.
func talk(t *testing.T, r *reaper) {
	t.Helper()
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inR.Close()
	defer inW.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer outR.Close()
	pid, err := r.start(spawn{
		argv:  []string{"/bin/sh", "-c", "read line; echo got $line; echo err >&2"},
		env:   []string{"PATH=/usr/bin:/bin"},
		dir:   "/",
		files: []*os.File{inR, outW, outW},
	})
	outW.Close()
	if err != nil {
		t.Fatal(err)
	}
	inW.WriteString("hello\n")
	outR.SetReadDeadline(time.Now().Add(30 * time.Second))
	sc := bufio.NewScanner(outR)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading the child's output: %v (have %q)", err, lines)
	}
	if strings.Join(lines, "|") != "got hello|err" {
		t.Errorf("child's output %q, want got hello, err", lines)
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case b := <-r.batches:
			for _, e := range b.exits {
				if e.pid == pid {
					if code := exitCode(e.status); code != 0 {
						t.Errorf("child exited %d", code)
					}
					return
				}
			}
		case <-deadline:
			t.Fatal("the child's exit was never reported")
		}
	}
}

// Whatever the forker, a child gets exactly the files it is given, and
// the reaper reports its exit.
func TestForkerStartsWithGivenFiles(t *testing.T) {
	r := newReaper()
	defer r.stop()
	holdPipes(t, 20)
	for range 5 {
		talk(t, r)
	}
}
