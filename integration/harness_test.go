package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// deadline bounds every wait: generous, so that a slow machine does not
// fail a test and a hang does.
const deadline = 30 * time.Second

// A mode is how procman runs: as a real PID 1 in a new pid namespace, or
// as an ordinary process (on Linux, one that makes itself a child
// subreaper).
type mode struct {
	name string
	pid1 bool
}

var modes = []mode{{"pid1", true}, {"subreaper", false}}

// eachMode runs f once per mode, skipping PID 1 where unshare is not
// permitted, or not Linux.
func eachMode(t *testing.T, f func(t *testing.T, m mode)) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			if m.pid1 {
				requireUnshare(t)
			}
			f(t, m)
		})
	}
}

// syncBuffer collects procman's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond until it holds, failing the test after deadline.
func waitFor(t *testing.T, what string, cond func() bool, context func() string) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s\n%s", deadline, what, context())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A stat is what the tests look at of a process: from /proc/PID/stat on
// Linux, from ps(1) elsewhere (see readStat and allStats).
type stat struct {
	state byte // R, S, Z, ...
	ppid  int
	pgid  int
	start uint64 // start time: with pid, tells a process from a later one that reuses the pid
	comm  string
}

// A tree is a process (procman) and everything it is responsible for, as
// the test sees it from outside: with ns set (Linux), every process of
// that pid namespace (procman is its PID 1); otherwise procman's
// descendants.
type tree struct {
	pid int
	ns  string // readlink /proc/PID/ns/pid, "" when not PID 1
}

// members lists the tree's processes (procman itself excluded).
func (tr tree) members() []int {
	if tr.ns != "" {
		return nsMembers(tr.ns, tr.pid)
	}
	kids := make(map[int][]int)
	for pid, s := range allStats() {
		kids[s.ppid] = append(kids[s.ppid], pid)
	}
	var pids []int
	for todo := kids[tr.pid]; len(todo) > 0; {
		pid := todo[0]
		todo = append(todo[1:], kids[pid]...)
		pids = append(pids, pid)
	}
	return pids
}

// guardianWord marks procman's guardian in its argv, the next word being
// procman's pid: the process that stops what procman started when procman
// dies without stopping it.
const guardianWord = "procman-guardian"

// guardianOf finds the guardian of the procman with the given pid.
func guardianOf(pid int) (proc, bool) {
	want := strconv.Itoa(pid)
	for gpid, argv := range allArgs() {
		for i := 0; i+1 < len(argv); i++ {
			if argv[i] == guardianWord && argv[i+1] == want {
				if s, ok := readStat(gpid); ok {
					return proc{name: "guardian", pid: gpid, start: s.start}, true
				}
			}
		}
	}
	return proc{}, false
}

// A proc is a process the test watches: its pid and the start time that
// tells it from a later process reusing the pid.
type proc struct {
	name  string
	pid   int
	start uint64
}

// dead says whether the process has died, reaped or not (a zombie whose
// parent is not procman may wait for another reaper).
func (p proc) dead() bool {
	s, ok := readStat(p.pid)
	return !ok || s.start != p.start || s.state == 'Z'
}

// A procman is one procman under test.
type procman struct {
	t    *testing.T
	dir  string
	out  *syncBuffer
	cmd  *exec.Cmd
	done chan struct{} // closed when procman (or unshare, or podman run) has exited
	tree
}

// startProcman writes procfile to a fresh directory and runs procman with
// args there (`start` or `run`), as PID 1 of a new pid namespace or not.
// It returns once procman has started its processes, so that its signal
// handlers are installed.
func startProcman(t *testing.T, m mode, procfile string, args ...string) *procman {
	t.Helper()
	dir := t.TempDir()
	writeProcfile(t, dir, procfile)
	return startIn(t, m, dir, args...)
}

func writeProcfile(t *testing.T, dir, procfile string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "Procfile"), []byte(procfile), 0o644); err != nil {
		t.Fatal(err)
	}
}

func startIn(t *testing.T, m mode, dir string, args ...string) *procman {
	t.Helper()
	argv := append([]string{procmanBin}, args...)
	if m.pid1 {
		argv = append([]string{"unshare", "--pid", "--fork", "--mount-proc"}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), helperEnv+"=1", "IT="+testBin)
	p := launchProcman(t, dir, cmd)
	t.Cleanup(p.kill)

	p.pid = p.cmd.Process.Pid
	if m.pid1 {
		p.enterPID1()
	}
	if len(args) > 0 && args[0] == "start" {
		p.waitOutput("started with pid")
	}
	return p
}

// kill ends whatever is left of a test that failed half-way.
func (p *procman) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	left := p.members()
	if p.pid > 0 {
		unix.Kill(p.pid, syscall.SIGKILL)
	}
	p.cmd.Process.Kill()
	for _, pid := range left {
		unix.Kill(pid, syscall.SIGKILL)
	}
	<-p.done
}

func (p *procman) waitFor(what string, cond func() bool) {
	p.t.Helper()
	waitFor(p.t, what, cond, func() string { return "procman's output:\n" + p.out.String() })
}

func (p *procman) waitOutput(s ...string) {
	p.t.Helper()
	for _, s := range s {
		p.waitFor("output "+strconv.Quote(s), func() bool { return strings.Contains(p.out.String(), s) })
	}
}

// signal sends sig to procman.
func (p *procman) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := unix.Kill(p.pid, sig); err != nil {
		p.t.Fatalf("kill %d %v: %v", p.pid, sig, err)
	}
}

func (p *procman) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// wait returns procman's exit status (unshare passes procman's on),
// failing the test if procman does not exit in time.
func (p *procman) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(deadline):
		p.t.Fatalf("procman did not exit within %s; output:\n%s", deadline, p.out.String())
	}
	ws := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		p.t.Fatalf("procman died of %v; output:\n%s", ws.Signal(), p.out.String())
	}
	return ws.ExitStatus()
}

// proc finds the process that wrote NAME.pid (a helper) and returns it as
// the test sees it.
func (p *procman) proc(name string) proc {
	p.t.Helper()
	path := filepath.Join(p.dir, name+".pid")
	var nsPid int
	p.waitFor(path, func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		nsPid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	var pr proc
	p.waitFor(fmt.Sprintf("%s (pid %d in procman's namespace)", name, nsPid), func() bool {
		pid, ok := p.hostPid(nsPid)
		if !ok {
			return false
		}
		s, ok := readStat(pid)
		pr = proc{name: name, pid: pid, start: s.start}
		return ok
	})
	return pr
}

func (p *procman) procs(names ...string) []proc {
	p.t.Helper()
	var ps []proc
	for _, n := range names {
		ps = append(ps, p.proc(n))
	}
	return ps
}

// wantOutput fails the test for each string the output lacks.
func (p *procman) wantOutput(want ...string) {
	p.t.Helper()
	out := p.out.String()
	for _, w := range want {
		if !strings.Contains(out, w) {
			p.t.Errorf("output lacks %q", w)
		}
	}
	if p.t.Failed() {
		p.t.Logf("procman's output:\n%s", out)
	}
}

// wantOnce fails the test for each string the output does not hold
// exactly once.
func (p *procman) wantOnce(want ...string) {
	p.t.Helper()
	out := p.out.String()
	for _, w := range want {
		if n := strings.Count(out, w); n != 1 {
			p.t.Errorf("output has %q %d times, want once", w, n)
		}
	}
	if p.t.Failed() {
		p.t.Logf("procman's output:\n%s", out)
	}
}

// wantDead fails the test for each process still alive.
func (p *procman) wantDead(ps ...proc) {
	p.t.Helper()
	for _, pr := range ps {
		if !pr.dead() {
			s, _ := readStat(pr.pid)
			p.t.Errorf("%s (pid %d) still alive, state %c", pr.name, pr.pid, s.state)
		}
	}
}

// got lists the "| NAME got SIG" lines for the given helper names (the bar
// keeps "daemon" from matching "lone-daemon").
func got(sig string, names ...string) []string {
	var lines []string
	for _, n := range names {
		lines = append(lines, "| "+n+" got "+sig)
	}
	return lines
}

// launchProcman starts cmd (procman, directly or in a container) with its
// output collected in p.out, and closes p.done when it has exited.
func launchProcman(t *testing.T, dir string, cmd *exec.Cmd) *procman {
	t.Helper()
	p := &procman{t: t, dir: dir, out: &syncBuffer{}, done: make(chan struct{}), cmd: cmd}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.WaitDelay = time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	return p
}
