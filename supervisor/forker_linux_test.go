package supervisor

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fdCount counts the open descriptors listed in dir (/proc/.../fd).
func fdCount(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

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

// The fork thread's table holds none of the pipes the process holds, so a
// fork does not copy them: starting N children costs O(N), not O(N²).
// Its children still get exactly the files they are given.
func TestForkThreadHasItsOwnTable(t *testing.T) {
	if !forks.private {
		t.Skip("unshare(CLONE_FILES) refused here: the fork thread shares the process's table")
	}
	holdPipes(t, 200)
	r := newReaper()
	defer r.stop()
	talk(t, r)
	process := fdCount(t, "/proc/self/fd")
	thread := fdCount(t, "/proc/self/task/"+strconv.Itoa(forks.tid)+"/fd")
	if process < 400 || thread >= 100 {
		t.Errorf("process holds %d descriptors, the fork thread %d: want at least 400 and under 100", process, thread)
	}
}

// Where unshare is refused, the fork thread shares the process's table and
// starts work the same.
func TestForkThreadSharingTheTable(t *testing.T) {
	f := newForker(false)
	if f.private {
		t.Fatal("a forker asked to share the table has its own")
	}
	r := newReaper()
	defer r.stop()
	r.forker = f
	talk(t, r)
	if n := fdCount(t, "/proc/self/task/"+strconv.Itoa(f.tid)+"/fd"); n != fdCount(t, "/proc/self/fd") {
		t.Errorf("the sharing fork thread sees %d descriptors, the process %d", n, fdCount(t, "/proc/self/fd"))
	}
}

// The passing socket leaves nothing behind on the fork thread: after many
// starts its table is as small as before.
func TestForkThreadClosesPassedFiles(t *testing.T) {
	if !forks.private {
		t.Skip("unshare(CLONE_FILES) refused here")
	}
	r := newReaper()
	defer r.stop()
	dir := "/proc/self/task/" + strconv.Itoa(forks.tid) + "/fd"
	talk(t, r)
	before := fdCount(t, dir)
	for range 20 {
		talk(t, r)
	}
	if after := fdCount(t, dir); after != before {
		t.Errorf("fork thread held %d descriptors, now %d", before, after)
	}
	var st unix.Stat_t
	if err := unix.Fstat(forks.send, &st); err != nil {
		t.Errorf("the sending end is gone from the process's table: %v", err)
	}
}
