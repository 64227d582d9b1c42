package integration

import (
	"syscall"
	"testing"
)

// `procman run` as PID 1 (ENTRYPOINT ["procman", "run", ...]): it reaps the
// orphans its command leaves behind, forwards SIGTERM to the command, and
// exits with the command's status.
func TestRunAsPID1(t *testing.T) {
	requireUnshare(t)
	dir := t.TempDir()
	f := makeFifo(t, dir)
	// spawn-orphans starts o1…o5 through shells that exit at once, then
	// waits for SIGTERM and exits 7.
	p := startIn(t, mode{"pid1", true}, dir, "run", testBin, "spawn-orphans", "5")
	p.waitOutput("main ready")
	if s, _ := readStat(p.proc("main").pid); s.ppid != p.pid {
		t.Fatalf("the command's parent is %d, want procman (%d)", s.ppid, p.pid)
	}
	p.checkOrphansReaped(f, 5)
	if !p.running() {
		t.Fatalf("procman run exited when orphans did; output:\n%s", p.out.String())
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 7 {
		t.Errorf("exit status: want the command's 7, have %d", code)
	}
	p.wantOutput("main got SIGTERM")
}
