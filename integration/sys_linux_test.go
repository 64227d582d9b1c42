package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// What the tests need of Linux: /proc, unshare, and tools only Linux has.
// sys_other_test.go has the same functions, where it can, for systems
// without /proc.

// requireToolsEnv, when set (.ci/run sets it on Linux), makes a missing or
// unusable tool a test failure instead of a skip: CI must not pass by
// skipping what it was meant to run.
const requireToolsEnv = "PROCMAN_REQUIRE_TOOLS"

// missingTool skips the test for a tool this machine lacks, saying why,
// or fails it when requireToolsEnv is set.
func missingTool(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(requireToolsEnv) != "" {
		t.Fatalf("%s\n(%s is set: a missing tool is a failure, not a skip)", msg, requireToolsEnv)
	}
	t.Skip(msg)
}

var unshareOnce = sync.OnceValue(func() error {
	out, err := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "true").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
	}
	return nil
})

func requireUnshare(t *testing.T) {
	t.Helper()
	if err := unshareOnce(); err != nil {
		missingTool(t, "cannot make a pid namespace here (CI runs as root): unshare --pid --fork --mount-proc: %v", err)
	}
}

// enterPID1 points p at procman inside the pid namespace that unshare, the
// process p started, made: unshare forwards no signal, so the test talks
// to its child, procman, which is PID 1 there.
func (p *procman) enterPID1() {
	p.t.Helper()
	upid := p.pid
	p.pid = 0
	p.waitFor("procman, unshare's child", func() bool {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", upid, upid))
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return false
		}
		p.pid, _ = strconv.Atoi(f[0])
		return true
	})
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", p.pid))
	if err != nil {
		p.t.Fatal(err)
	}
	p.ns = ns
}

func readStat(pid int) (stat, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return stat{}, false
	}
	// The command name (field 2) may hold spaces and parentheses.
	open, i := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || i < open {
		return stat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return stat{}, false
	}
	var s stat
	s.state = f[0][0]
	s.ppid, _ = strconv.Atoi(f[1])
	s.pgid, _ = strconv.Atoi(f[2])
	s.start, _ = strconv.ParseUint(f[19], 10, 64)
	s.comm = string(b[open+1 : i])
	return s, true
}

func allPids() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// allStats reads every process's stat.
func allStats() map[int]stat {
	all := make(map[int]stat)
	for _, pid := range allPids() {
		if s, ok := readStat(pid); ok {
			all[pid] = s
		}
	}
	return all
}

// allArgs reads every process's argv (a zombie's is empty).
func allArgs() map[int][]string {
	all := make(map[int][]string)
	for _, pid := range allPids() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && len(b) > 0 {
			all[pid] = strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		}
	}
	return all
}

// nsMembers lists every process of the pid namespace ns but self.
func nsMembers(ns string, self int) []int {
	var pids []int
	for _, pid := range allPids() {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err == nil && l == ns && pid != self {
			pids = append(pids, pid)
		}
	}
	return pids
}

// hostPid translates a pid as seen inside the tree's namespace (what a
// process there writes as its pid) to the pid the test sees.
func (tr tree) hostPid(nsPid int) (int, bool) {
	if tr.ns == "" {
		return nsPid, true
	}
	for _, pid := range tr.members() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
				f := strings.Fields(rest)
				if len(f) > 0 && f[len(f)-1] == strconv.Itoa(nsPid) {
					return pid, true
				}
			}
		}
	}
	return 0, false
}

// pipeCapacity returns the capacity of the pipe fd is an end of.
func pipeCapacity(fd uintptr) (int, error) {
	return unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0)
}

// pipeQueued returns how many bytes wait in a pipe to be read.
func pipeQueued(fd uintptr) (int, error) {
	return unix.IoctlGetInt(int(fd), unix.TIOCINQ)
}

// peakRSS reads a running process's peak resident set size (VmHWM) in
// bytes.
func peakRSS(t *testing.T, pid int) (int, bool) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10, true
		}
	}
	t.Fatalf("no VmHWM for pid %d", pid)
	return 0, false
}

// The ps(1) reader that other systems use is tested here against /proc.
func TestPsAgreesWithProc(t *testing.T) {
	// A zombie: a child that has exited and is not waited for yet.
	cmd := exec.Command("/bin/sh", "-c", "exit 0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	z := cmd.Process.Pid
	waitFor(t, "the child to become a zombie", func() bool {
		s, ok := readStat(z)
		return ok && s.state == 'Z'
	}, func() string { return "" })

	self := os.Getpid()
	ps, err := psStats()
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{self, z} {
		want, _ := readStat(pid)
		have, ok := ps[pid]
		if !ok {
			t.Errorf("ps lists no pid %d", pid)
			continue
		}
		if have.ppid != want.ppid || have.pgid != want.pgid || !strings.HasPrefix(want.comm, have.comm) && !strings.HasPrefix(have.comm, want.comm) {
			t.Errorf("pid %d: ps has %+v, /proc %+v", pid, have, want)
		}
		if pid == z && have.state != 'Z' {
			t.Errorf("ps: zombie %d in state %c", z, have.state)
		}
		if one, err := psStats(pid); err != nil || one[pid].start != have.start || one[pid].ppid != have.ppid {
			t.Errorf("ps -p %d: %+v, %v; want %+v", pid, one[pid], err, have)
		}
	}
	args, err := psArgs()
	if err != nil {
		t.Fatal(err)
	}
	if want := allArgs()[self]; strings.Join(args[self], " ") != strings.Join(want, " ") {
		t.Errorf("ps: argv %q, /proc %q", args[self], want)
	}
}
