package integration

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Each test here runs twice: with procman as PID 1 of a new pid namespace
// (unshare --pid --fork --mount-proc, as in a container; Linux only), and
// with procman as an ordinary process (the Linux build makes itself a
// child subreaper; see subreaper). The
// Procfiles run this test binary as helpers (see helper in main_test.go)
// that print what they receive.

// SIGTERM to procman reaches every process once: children, their
// grandchildren, and (where procman can find them: as PID 1, or as a child
// subreaper) a daemon that left the group with setsid (its parent still
// alive), and a daemon that was orphaned at once (double fork). All of them honour it, so procman
// stops without SIGKILL, well inside a long grace period.
func TestSIGTERMReachesEveryProcess(t *testing.T) {
	eachMode(t, func(t *testing.T, m mode) {
		procfile := `
web: "$IT" trap web-gc & exec "$IT" trap web
worker: exec "$IT" trap worker
`
		names := []string{"web", "web-gc", "worker"}
		if m.pid1 || subreaper {
			procfile = `
web: "$IT" trap web-gc & exec "$IT" trap web
worker: setsid "$IT" trap daemon & (setsid "$IT" trap lone-daemon &); exec "$IT" trap worker
`
			names = append(names, "daemon", "lone-daemon")
		}
		p := startProcman(t, m, procfile, "start", "-t", "20")
		for _, n := range names {
			p.waitOutput(n + " ready")
		}
		ps := p.procs(names...)
		for _, pr := range ps[3:] {
			if s, _ := readStat(pr.pid); s.pgid == ps[2].pid {
				t.Fatalf("%s is still in worker's process group; setsid did not take", pr.name)
			}
		}
		p.signal(syscall.SIGTERM)
		if code := p.wait(); code != 143 {
			t.Errorf("exit status: want 143, have %d", code)
		}
		p.wantOnce(got("SIGTERM", names...)...)
		p.wantOutput("SIGTERM received, stopping", "sending SIGTERM to all processes")
		if out := p.out.String(); strings.Contains(out, "SIGKILL") {
			t.Errorf("every process honours SIGTERM, yet procman sent SIGKILL:\n%s", out)
		}
		p.wantDead(ps...)
	})
}

// A child and a grandchild that ignore SIGTERM, an orphan still in the
// child's group and (as PID 1, or as a child subreaper) a daemon outside
// any Procfile group that ignore it too, each get one SIGTERM and all die of SIGKILL when the
// grace period (-t 1) ends; procman then exits 143, long before the
// deadline.
func TestTERMIgnoringProcessesDieAfterGrace(t *testing.T) {
	eachMode(t, func(t *testing.T, m mode) {
		polite := `exec "$IT" trap polite`
		names := []string{"stubborn", "stubborn-gc", "stray", "polite"}
		if m.pid1 || subreaper {
			polite = `(setsid "$IT" trap daemon ignore &); ` + polite
			names = append(names, "daemon")
		}
		p := startProcman(t, m, `
stubborn: "$IT" trap stubborn-gc ignore & ("$IT" trap stray ignore &); exec "$IT" trap stubborn ignore
polite: `+polite+"\n", "start", "-t", "1")
		for _, n := range names {
			p.waitOutput(n + " ready")
		}
		ps := p.procs(names...)
		sent := time.Now()
		p.signal(syscall.SIGTERM)
		code := p.wait()
		if took := time.Since(sent); took > 10*time.Second {
			t.Errorf("procman took %s to stop with -t 1, want well under 10s", took)
		}
		if code != 143 {
			t.Errorf("exit status: want 143, have %d", code)
		}
		// They got SIGTERM once (a second one means "stop now" to many
		// programs, procman included), ignored it, and were killed when -t
		// ran out.
		p.wantOnce(got("SIGTERM", names...)...)
		p.wantOutput("sending SIGKILL to all processes", "stubborn.1 terminated by SIGKILL")
		p.wantDead(ps...)
	})
}

// procman's exit status: the first exiter's code, 128+N
// when it died of signal N.
func TestExitStatus(t *testing.T) {
	tests := []struct {
		name     string
		procfile string
		kill     string // a helper the test SIGKILLs once all are ready
		want     int
		line     string
	}{
		{
			name: "exit 3",
			procfile: `a: exec "$IT" trap a
b: while [ ! -e a.pid ]; do sleep 0.01; done; exit 3
`,
			want: 3, line: "b.1 exited with code 3",
		},
		{
			name: "exit 0",
			procfile: `a: exec "$IT" trap a
b: while [ ! -e a.pid ]; do sleep 0.01; done; exit 0
`,
			want: 0, line: "b.1 exited with code 0",
		},
		{
			name: "SIGKILLed child",
			procfile: `a: exec "$IT" trap a
b: exec "$IT" trap b
`,
			kill: "b", want: 137, line: "b.1 terminated by SIGKILL",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eachMode(t, func(t *testing.T, m mode) {
				p := startProcman(t, m, tt.procfile, "start", "-t", "10")
				if tt.kill != "" {
					p.waitOutput("a ready", "b ready")
					if err := syscall.Kill(p.proc(tt.kill).pid, syscall.SIGKILL); err != nil {
						t.Fatal(err)
					}
				}
				if code := p.wait(); code != tt.want {
					t.Errorf("exit status: want %d, have %d", tt.want, code)
				}
				p.wantOutput(tt.line, "sending SIGTERM to all processes", "a got SIGTERM")
			})
		})
	}
}

// SIGUSR1, SIGUSR2, SIGHUP and SIGQUIT reach every process group: each
// child and a grandchild in a child's group.
func TestSignalsAreForwarded(t *testing.T) {
	eachMode(t, func(t *testing.T, m mode) {
		p := startProcman(t, m, `
a: "$IT" trap a-gc & exec "$IT" trap a
b: exec "$IT" trap b
`, "start", "-t", "10")
		names := []string{"a", "a-gc", "b"}
		for _, n := range names {
			p.waitOutput(n + " ready")
		}
		for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGHUP, syscall.SIGQUIT} {
			p.signal(sig)
			p.waitOutput(got(unix.SignalName(sig), names...)...)
		}
		if !p.running() {
			t.Fatalf("procman stopped on a forwarded signal; output:\n%s", p.out.String())
		}
		p.signal(syscall.SIGTERM)
		if code := p.wait(); code != 143 {
			t.Errorf("exit status: want 143, have %d", code)
		}
	})
}

// A second SIGINT during the grace period kills everything at once: with
// an hour's grace, procman only exits before the deadline if it did.
func TestSecondSIGINTKillsAtOnce(t *testing.T) {
	eachMode(t, func(t *testing.T, m mode) {
		p := startProcman(t, m, `
a: "$IT" trap a-gc ignore & exec "$IT" trap a ignore
`, "start", "-t", "3600")
		p.waitOutput("a ready", "a-gc ready")
		ps := p.procs("a", "a-gc")
		p.signal(syscall.SIGINT)
		p.waitOutput(got("SIGTERM", "a", "a-gc")...)
		p.signal(syscall.SIGINT)
		if code := p.wait(); code != 130 {
			t.Errorf("exit status: want 130, have %d", code)
		}
		p.wantOutput("SIGINT received again, killing all processes", "a.1 terminated by SIGKILL")
		p.wantDead(ps...)
	})
}
