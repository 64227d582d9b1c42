package supervisor

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// guarded starts a guardian with the given grace, and a process group
// through the same reaper whose leader records its pid in DIR/NAME and
// ignores SIGTERM when stubborn (sleep inherits the ignored signal).
type guarded struct {
	t   *testing.T
	r   *reaper
	g   *guardian
	dir string
}

func newGuarded(t *testing.T, grace time.Duration) *guarded {
	t.Helper()
	r := newReaper()
	t.Cleanup(r.stop)
	g, err := startGuardian(r, grace)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.ack.Close() })
	return &guarded{t: t, r: r, g: g, dir: t.TempDir()}
}

// group starts a process group and returns its id once it runs.
func (gd *guarded) group(name string, stubborn bool) int {
	gd.t.Helper()
	script := "echo $$ > " + name + ".tmp; mv " + name + ".tmp " + name + "; exec sleep 60"
	if stubborn {
		script = "trap '' TERM; " + script
	}
	pid, err := gd.r.start(spawn{
		argv: []string{"/bin/sh", "-c", script},
		env:  []string{"PATH=/usr/bin:/bin"},
		dir:  gd.dir,
		sys:  &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		gd.t.Fatal(err)
	}
	gd.t.Cleanup(func() { unix.Kill(-pid, syscall.SIGKILL) })
	end := time.Now().Add(deadline)
	for {
		if _, err := os.Stat(filepath.Join(gd.dir, name)); err == nil {
			return pid
		}
		if time.Now().After(end) {
			gd.t.Fatalf("%s never started", name)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// vanish closes procman's end without a "bye", as procman's death does.
func (gd *guarded) vanish() { gd.g.ctl.Close() }

// exited waits until the guardian has exited (its end of the ack pipe
// closed).
func (gd *guarded) exited() {
	gd.t.Helper()
	gd.g.ack.SetReadDeadline(time.Now().Add(deadline))
	var b [1]byte
	if _, err := gd.g.ack.Read(b[:]); err == nil || os.IsTimeout(err) {
		gd.t.Fatalf("the guardian is still running: %v", err)
	}
}

// groupEmpty reports whether no process of group pg is alive. Its leader
// is the test's child: the reaper reaps it once it dies.
func groupEmpty(pg int) bool { return unix.Kill(-pg, 0) == unix.ESRCH }

func (gd *guarded) waitEmpty(pg int) {
	gd.t.Helper()
	end := time.Now().Add(deadline)
	for !groupEmpty(pg) {
		if time.Now().After(end) {
			gd.t.Fatalf("process group %d still has members", pg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// When procman vanishes, the guardian stops every group it was told of:
// SIGTERM first, SIGKILL for a group that ignores it once the grace
// period is over. Then it exits.
func TestGuardianStopsGroupsWhenProcmanVanishes(t *testing.T) {
	gd := newGuarded(t, 500*time.Millisecond)
	polite := gd.group("polite", false)
	stubborn := gd.group("stubborn", true)
	gd.g.add([]int{polite, stubborn})
	gd.vanish()
	gd.waitEmpty(polite)
	gd.waitEmpty(stubborn)
	gd.exited()
}

// After "bye" (a clean stop) the guardian exits at once and signals
// nothing.
func TestGuardianByeSignalsNothing(t *testing.T) {
	gd := newGuarded(t, 500*time.Millisecond)
	pg := gd.group("a", false)
	gd.g.add([]int{pg})
	gd.g.bye()
	if groupEmpty(pg) {
		t.Fatal("the guardian stopped a group after bye")
	}
}

// A group procman has seen empty is forgotten: its number may belong to
// someone else by the time procman vanishes.
func TestGuardianForgetsRemovedGroups(t *testing.T) {
	gd := newGuarded(t, 500*time.Millisecond)
	kept := gd.group("kept", false)
	removed := gd.group("removed", false)
	gd.g.add([]int{kept, removed})
	gd.g.remove([]int{removed})
	gd.vanish()
	gd.waitEmpty(kept)
	gd.exited()
	if groupEmpty(removed) {
		t.Error("the guardian signalled a group it had been told was gone")
	}
}

// The guardian is not procman's child: procman's reaper finds no child
// left once the guardian runs, so the guardian never holds up a stop.
func TestGuardianIsNotProcmansChild(t *testing.T) {
	gd := newGuarded(t, time.Second)
	defer gd.g.bye()
	for {
		gd.r.poke()
		select {
		case b := <-gd.r.batches:
			if b.noneLeft {
				return
			}
		case <-time.After(deadline):
			t.Fatal("the test process still has a child after the guardian started")
		}
	}
}
