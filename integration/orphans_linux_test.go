package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Only PID 1 and a child subreaper are handed orphans, and only Linux has
// either: these tests and the helpers that watch orphans are Linux's.

// Orphans that exit are reaped (none is left as a zombie), and an orphan's
// exit is not taken for a Procfile process's exit: the app keeps running.
func TestOrphansAreReaped(t *testing.T) {
	eachMode(t, func(t *testing.T, m mode) {
		if !m.pid1 && !subreaper {
			t.Skip("this build of procman is no child subreaper: orphans go to init, not to procman")
		}
		dir := t.TempDir()
		f := makeFifo(t, dir)
		writeProcfile(t, dir, `
orphans: for i in 1 2 3 4 5 6 7 8 9 10; do ("$IT" orphan o$i &); done; exec "$IT" trap orphans
web: exec "$IT" trap web
`)
		p := startIn(t, m, dir, "start", "-t", "5")
		p.waitOutput("orphans ready", "web ready")
		p.checkOrphansReaped(f, 10)
		// A round trip through procman's owner loop, after the reaps: a
		// forwarded signal reaches the app, which is still running.
		p.signal(syscall.SIGUSR1)
		p.waitOutput(got("SIGUSR1", "orphans", "web")...)

		out := p.out.String()
		if !p.running() || strings.Contains(out, "exited") || strings.Contains(out, "stopping") {
			t.Fatalf("an orphan's exit stopped the app; output:\n%s", out)
		}
		p.signal(syscall.SIGTERM)
		if code := p.wait(); code != 143 {
			t.Errorf("exit status: want 143, have %d", code)
		}
		p.wantOutput(got("SIGTERM", "orphans", "web")...)
	})
}

// gone says whether the process no longer exists: reaped, not merely a
// zombie.
func (p proc) gone() bool {
	s, ok := readStat(p.pid)
	return !ok || s.start != p.start
}

// zombies lists the tree's processes in state Z, as "pid (comm)".
func (tr tree) zombies() []string {
	var z []string
	for _, pid := range tr.members() {
		if s, ok := readStat(pid); ok && s.state == 'Z' {
			z = append(z, fmt.Sprintf("%d (%s)", pid, s.comm))
		}
	}
	return z
}

// A fifo is the ./release FIFO that orphan helpers wait on; the test holds
// it open for writing until release.
type fifo struct{ f *os.File }

func makeFifo(t *testing.T, dir string) *fifo {
	t.Helper()
	path := filepath.Join(dir, "release")
	if err := unix.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	// O_RDWR opens a FIFO at once on Linux and counts as a writer.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &fifo{f}
}

func (f *fifo) release() { f.f.Close() }

// checkOrphansReaped waits for the orphans o1…oN, checks that each was
// handed to procman (its parent is procman now), releases them, and checks
// that procman reaps every one: each is gone (not a zombie), and no zombie is
// left anywhere in procman's tree.
func (p *procman) checkOrphansReaped(f *fifo, n int) {
	p.t.Helper()
	var orphans []proc
	for i := 1; i <= n; i++ {
		orphans = append(orphans, p.proc(fmt.Sprintf("o%d", i)))
	}
	for _, o := range orphans {
		p.waitFor(fmt.Sprintf("%s (pid %d) to be handed to procman (pid %d)", o.name, o.pid, p.pid), func() bool {
			s, ok := readStat(o.pid)
			return ok && s.ppid == p.pid
		})
	}
	f.release()
	for _, o := range orphans {
		p.waitFor(fmt.Sprintf("orphan %s (pid %d) to be reaped", o.name, o.pid), o.gone)
	}
	if z := p.zombies(); len(z) > 0 {
		p.t.Errorf("zombies left: %v", z)
	}
}
