package integration

import (
	"slices"
	"syscall"
	"testing"
)

// As PID 1, procman starts no guardian: when PID 1 dies, the kernel kills
// every process of its namespace.
func TestNoGuardianAsPID1(t *testing.T) {
	requireUnshare(t)
	p := startProcman(t, mode{"pid1", true}, `
a: exec "$IT" trap a
`, "start", "-t", "10")
	p.waitOutput("a ready")
	// A round trip through procman's owner loop: well after start-up.
	p.signal(syscall.SIGUSR1)
	p.waitOutput(got("SIGUSR1", "a")...)
	args := allArgs()
	for _, pid := range p.members() {
		if slices.Contains(args[pid], guardianWord) {
			t.Errorf("procman as PID 1 started a guardian: pid %d, argv %q", pid, args[pid])
		}
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 143 {
		t.Errorf("exit status: want 143, have %d", code)
	}
}
