package integration

import (
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// When procman itself is SIGKILLed (outside a container, where no namespace
// teardown follows), its direct children get SIGKILL from the kernel
// (parent-death signal). A grandchild is not covered: it survives, orphaned,
// still in its Procfile process's group, and `kill -- -PGID` ends it, as the
// README says.
func TestSIGKILLedProcmanTakesItsChildren(t *testing.T) {
	p := startProcman(t, mode{"subreaper", false}, `
a: exec "$IT" trap a
b: "$IT" trap b-gc & exec "$IT" trap b
`, "start", "-t", "10")
	p.waitOutput("a ready", "b ready", "b-gc ready")
	ps := p.procs("a", "b", "b-gc")
	a, b, gc := ps[0], ps[1], ps[2]
	t.Cleanup(func() { unix.Kill(gc.pid, syscall.SIGKILL) })

	p.signal(syscall.SIGKILL)
	<-p.done
	for _, c := range []proc{a, b} {
		p.waitFor(c.name+" to die with procman", c.dead)
	}

	if gc.dead() {
		t.Fatalf("the grandchild died too: README's account of what survives is out of date")
	}
	s, _ := readStat(gc.pid)
	if s.pgid != b.pid {
		t.Fatalf("grandchild's process group is %d, want b's %d", s.pgid, b.pid)
	}
	if err := unix.Kill(-s.pgid, syscall.SIGKILL); err != nil { // kill -- -PGID
		t.Fatalf("kill -- -%d: %v", s.pgid, err)
	}
	p.waitFor("the grandchild to die of kill -- -PGID", gc.dead)
}
