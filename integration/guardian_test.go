package integration

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// procman's guardian is a small process that procman starts beside itself,
// outside its tree and its session, and that stops what procman started
// when procman dies without stopping it (SIGKILL, a crash). These tests run
// procman as an ordinary process: as PID 1 it has no guardian
// (guardian_linux_test.go).

// guardian waits for procman's guardian to appear and returns it.
func (p *procman) guardian() proc {
	p.t.Helper()
	var g proc
	p.waitFor("procman's guardian (argv: "+guardianWord+" PID)", func() bool {
		var ok bool
		g, ok = guardianOf(p.pid)
		return ok
	})
	return g
}

// signals returns the signals helper name recorded in NAME.signals.
func (p *procman) signals(name string) []string {
	b, _ := os.ReadFile(filepath.Join(p.dir, name+".signals"))
	return strings.Fields(string(b))
}

// killLeft SIGKILLs, at the end of the test, each of ps still alive: what a
// failed test would otherwise leave behind.
func killLeft(t *testing.T, ps ...proc) {
	t.Cleanup(func() {
		for _, pr := range ps {
			if !pr.dead() {
				unix.Kill(pr.pid, syscall.SIGKILL)
			}
		}
	})
}

// procman killed with SIGKILL leaves nothing behind: its guardian sends
// SIGTERM to every process group procman started, SIGKILL to what is left
// when the grace period (-t 2) ends, and exits. A grandchild that ignores
// SIGTERM shows both steps: it records the SIGTERM, and dies all the same.
// The guardian is in a process group of its own, so that a signal to
// procman's group (Ctrl-C in a terminal, kill -- -PGID) does not take it
// along with procman.
func TestGuardianStopsWhatKilledProcmanStarted(t *testing.T) {
	p := startProcman(t, mode{"subreaper", false}, `
a: exec "$IT" trap a
b: "$IT" trap b-gc & exec "$IT" trap b
c: "$IT" trap c-gc ignore & exec "$IT" trap c ignore
`, "start", "-t", "2")
	names := []string{"a", "b", "b-gc", "c", "c-gc"}
	for _, n := range names {
		p.waitOutput(n + " ready")
	}
	ps := p.procs(names...)
	g := p.guardian()
	killLeft(t, append(ps, g)...)
	pm, _ := readStat(p.pid)
	if gs, ok := readStat(g.pid); !ok || gs.pgid == pm.pgid {
		t.Errorf("the guardian (pid %d) is in procman's process group %d", g.pid, pm.pgid)
	}

	p.signal(syscall.SIGKILL)
	<-p.done
	for _, pr := range ps {
		p.waitFor(pr.name+" to die after procman was killed", pr.dead)
	}
	p.waitFor("the guardian to exit once it has stopped everything", g.dead)
	if s := p.signals("c-gc"); len(s) == 0 || s[0] != "SIGTERM" {
		t.Errorf("c-gc, which ignores SIGTERM, recorded %q before it died: want SIGTERM first (then SIGKILL after the grace period)", s)
	}
	if s := p.signals("b-gc"); len(s) == 0 || s[0] != "SIGTERM" {
		t.Errorf("b-gc recorded %q before it died: want SIGTERM", s)
	}
}

// After a clean stop, by SIGTERM or by a Ctrl-C (SIGINT), the guardian has
// nothing to do and exits too, instead of taking the end of procman for a
// death. (That a terminal's Ctrl-C, sent to procman's whole process group,
// never reaches the guardian is TestGuardianStopsWhatKilledProcmanStarted's
// check of its group.)
func TestGuardianExitsWithProcman(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			p := startProcman(t, mode{"subreaper", false}, `
a: exec "$IT" trap a
`, "start", "-t", "10")
			p.waitOutput("a ready")
			g := p.guardian()
			killLeft(t, g)
			p.signal(sig)
			if code := p.wait(); code != 128+int(sig) {
				t.Errorf("exit status: want %d, have %d", 128+int(sig), code)
			}
			p.waitFor("the guardian to exit after procman's clean stop", g.dead)
			if s := p.signals("a"); len(s) != 1 || s[0] != "SIGTERM" {
				t.Errorf("a recorded %q: want one SIGTERM from procman's clean stop", s)
			}
		})
	}
}

// The shapes that outlived a killed procman before the guardian: a shell
// that forks its command (dash runs `sh -c 'sleep 60'; true` as two
// processes, and the parent-death signal reaches only the first) and a
// process that reads its stdin. After a SIGKILL of procman, every process
// of the app is gone within the grace period plus 2 seconds.
func TestNothingOutlivesAKilledProcman(t *testing.T) {
	const grace = 2 * time.Second
	p := startProcman(t, mode{"subreaper", false}, `
fork: sh -c 'echo $$ > fork.tmp; mv fork.tmp fork.pid; exec sleep 60'; true
stdin: sh -c 'echo $$ > stdin.tmp; mv stdin.tmp stdin.pid; exec cat'; true
`, "start", "-t", "2")
	ps := p.procs("fork", "stdin")
	g := p.guardian()
	killLeft(t, append(ps, g)...)
	p.signal(syscall.SIGKILL)
	<-p.done
	end := time.Now().Add(grace + 2*time.Second)
	for _, pr := range ps {
		for !pr.dead() {
			if time.Now().After(end) {
				t.Fatalf("%s (pid %d) still running %v after procman was killed", pr.name, pr.pid, grace+2*time.Second)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	p.waitFor("the guardian to exit", g.dead)
}

// procman run has a guardian too: killed with SIGKILL while its command
// runs, it leaves nothing behind (a shell that forks its command, whose
// grandchild the parent-death signal would miss); and when the command
// ends, procman exits with its status and the guardian with it.
func TestNothingOutlivesAKilledRun(t *testing.T) {
	t.Run("killed", func(t *testing.T) {
		p := startIn(t, mode{"subreaper", false}, t.TempDir(), "run", "sh", "-c",
			`sh -c 'echo $$ > fork.tmp; mv fork.tmp fork.pid; exec sleep 60'; true`)
		fork := p.proc("fork")
		g := p.guardian()
		killLeft(t, fork, g)
		p.signal(syscall.SIGKILL)
		<-p.done
		// The guardian's grace for run is start's default, 5 s.
		end := time.Now().Add(5*time.Second + 2*time.Second)
		for !fork.dead() {
			if time.Now().After(end) {
				t.Fatalf("the command's grandchild (pid %d) still runs 7 s after procman run was killed", fork.pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
		p.waitFor("the guardian to exit", g.dead)
	})
	t.Run("exits", func(t *testing.T) {
		p := startIn(t, mode{"subreaper", false}, t.TempDir(), "run", "sh", "-c",
			`echo $$ > c.tmp; mv c.tmp c.pid; while [ ! -e go ]; do sleep 0.05; done; exit 3`)
		p.proc("c")
		g := p.guardian()
		killLeft(t, g)
		if err := os.WriteFile(filepath.Join(p.dir, "go"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if code := p.wait(); code != 3 {
			t.Errorf("exit status: want the command's 3, have %d", code)
		}
		p.waitFor("the guardian to exit with procman run", g.dead)
	})
}
