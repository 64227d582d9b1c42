package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/procman/procman/control"
	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"
)

// deadline bounds every wait in the scripts. It is generous on purpose: a
// slow machine must not fail a test, a hang must.
const deadline = 60 * time.Second

// TestMain lets the test binary act as procman itself and as the small
// programs the scripts' Procfiles run (see producers below).
// testscript.RunMain is deprecated in go-internal v1.16.0 in favour of
// Main, which is the same with func() commands.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"procman":  main,
		"produce":  produce,
		"bigline":  bigline,
		"prompter": prompter,
	})
}

// TestScript runs the end-to-end scripts in testdata/script against the
// procman binary. Commands beyond testscript's own are documented at
// scriptCmds.
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		Setup:               setupScript,
		Cmds:                scriptCmds,
		Condition:           scriptCondition,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
	})
}

// A session holds a script's background processes, which testscript's own
// "&name&" commands cannot signal with anything but INT and KILL, nor report
// the exit status of.
type session struct {
	vars []string // the keys of testscript's environment, for spawn
	mu   sync.Mutex
	bg   map[string]*spawned
}

type spawned struct {
	cmd            *exec.Cmd
	stdout, stderr *bytes.Buffer
	done           chan struct{}
	err            error // from Wait, valid once done is closed
}

type sessionKey struct{}

func setupScript(e *testscript.Env) error {
	s := &session{bg: make(map[string]*spawned)}
	for _, kv := range e.Vars {
		if k, _, ok := strings.Cut(kv, "="); ok {
			s.vars = append(s.vars, k)
		}
	}
	e.Values[sessionKey{}] = s
	e.Defer(func() {
		// A script that failed half-way must not leave procman running,
		// not even one it started with -D.
		sock := filepath.Join(e.WorkDir, control.SocketName)
		if _, err := os.Stat(sock); err == nil {
			control.Call(sock, control.Request{V: control.Version, Op: control.OpQuit}, deadline)
			waitGone(sock, deadline)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, p := range s.bg {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return nil
}

func sessionOf(ts *testscript.TestScript) *session {
	return ts.Value(sessionKey{}).(*session)
}

// scriptCmds are the scripts' own commands:
//
//	spawn NAME [>FILE] [KEY=VALUE...] PROGRAM [ARGS...]
//	    start PROGRAM in the background under NAME, in the script's
//	    directory and environment plus the KEY=VALUE pairs; its stdout goes
//	    to FILE if given (for outputs too large for the log)
//	signal NAME SIG     send signal SIG (TERM, INT, HUP, USR1, KILL, ...) to NAME
//	await NAME STATUS   wait for NAME to exit with STATUS; its output becomes
//	                    stdout and stderr for the next checks
//	exits STATUS [KEY=VALUE...] PROGRAM [ARGS...]
//	                    run PROGRAM in the foreground; it must exit with STATUS
//	waitfile FILE...    wait until every FILE exists; a FILE named *.pid
//	                    must also hold a whole line (the writer may be
//	                    stopped between creating it and writing to it)
//	gone PIDFILE...     the process whose pid is in each PIDFILE is dead
//	                    (gone, or a zombie nobody reaped)
//	alive PIDFILE...    the process whose pid is in each PIDFILE still runs
//	checklines FILE COUNT NAME...
//	                    FILE (or stdout) holds, for each NAME, the lines
//	                    "NAME.1 | NAME <i> <padding>" for i = 1..COUNT in
//	                    order, each whole, and otherwise only system lines
//	checkbig FILE SIZE  FILE (or stdout) holds the line of SIZE bytes that
//	                    bigline writes, once and whole
//	bytesin FILE HEX    FILE (or stdout) contains the bytes HEX
//	holds NAME PATH     wait until NAME has PATH open (a file descriptor
//	                    of it refers to PATH); it needs the [procfd]
//	                    condition
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"spawn":      cmdSpawn,
	"signal":     cmdSignal,
	"await":      cmdAwait,
	"exits":      cmdExits,
	"waitfile":   cmdWaitfile,
	"gone":       cmdGone,
	"alive":      cmdAlive,
	"checklines": cmdChecklines,
	"checkbig":   cmdCheckbig,
	"bytesin":    cmdBytesin,
	"holds":      cmdHolds,
}

// scriptCondition adds the scripts' own conditions:
//
//	[procfd]  /proc/PID/fd lists a process's open files (Linux), as holds
//	          needs
//	[portable]
//	          procman is the portable build (-tags procman_portable, or a
//	          system other than Linux)
//	[tool:NAME]
//	          NAME is in PATH; with PROCMAN_REQUIRE_TOOLS set (as .ci/run
//	          sets it on Linux), a missing NAME is an error, not a skip
func scriptCondition(cond string) (bool, error) {
	if tool, ok := strings.CutPrefix(cond, "tool:"); ok {
		// Like exec:, but where .ci/run has installed the tools a missing
		// one fails the script instead of skipping it.
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("PROCMAN_REQUIRE_TOOLS") != "" {
				return false, fmt.Errorf("%s is not installed, and PROCMAN_REQUIRE_TOOLS is set", tool)
			}
			return false, nil
		}
		return true, nil
	}
	switch cond {
	case "procfd":
		_, err := os.Stat(fmt.Sprintf("/proc/%d/fd", os.Getpid()))
		return err == nil, nil
	case "portable":
		return portableBuild, nil
	}
	return false, fmt.Errorf("unknown condition %q", cond)
}

// command builds PROGRAM's command line in the script's directory and
// environment. Programs from TestMain and the system are found in PATH.
func command(ts *testscript.TestScript, args []string) *exec.Cmd {
	s := sessionOf(ts)
	environ := make([]string, 0, len(s.vars)+len(args))
	for _, k := range s.vars {
		environ = append(environ, k+"="+ts.Getenv(k))
	}
	for len(args) > 0 && strings.Contains(args[0], "=") && !strings.HasPrefix(args[0], "-") {
		environ = append(environ, args[0])
		args = args[1:]
	}
	if len(args) == 0 {
		ts.Fatalf("no program to run")
	}
	path, err := lookPath(ts, args[0])
	ts.Check(err)
	cmd := exec.Command(path, args[1:]...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = append(environ, "PWD="+cmd.Dir)
	return cmd
}

func lookPath(ts *testscript.TestScript, name string) (string, error) {
	if strings.Contains(name, "/") {
		return ts.MkAbs(name), nil
	}
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		p := filepath.Join(dir, name)
		if info, err := os.Stat(p); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in PATH", name)
}

func cmdSpawn(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: spawn NAME [>FILE] [KEY=VALUE...] PROGRAM [ARGS...]")
	}
	name, args := args[0], args[1:]
	var out *os.File
	if strings.HasPrefix(args[0], ">") {
		f, err := os.Create(ts.MkAbs(strings.TrimPrefix(args[0], ">")))
		ts.Check(err)
		out, args = f, args[1:]
	}
	p := &spawned{stdout: new(bytes.Buffer), stderr: new(bytes.Buffer), done: make(chan struct{})}
	p.cmd = command(ts, args)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if out != nil {
		p.cmd.Stdout = out
	}
	s := sessionOf(ts)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.bg[name]; dup {
		ts.Fatalf("spawn: %s is already running", name)
	}
	ts.Check(p.cmd.Start())
	s.bg[name] = p
	go func() {
		p.err = p.cmd.Wait()
		if out != nil {
			out.Close()
		}
		close(p.done)
	}()
}

func background(ts *testscript.TestScript, name string) *spawned {
	s := sessionOf(ts)
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.bg[name]
	if p == nil {
		ts.Fatalf("no background process called %q", name)
	}
	return p
}

func cmdSignal(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: signal NAME SIG")
	}
	p := background(ts, args[0])
	sig := unix.SignalNum("SIG" + strings.TrimPrefix(args[1], "SIG"))
	if sig == 0 {
		ts.Fatalf("unknown signal %q", args[1])
	}
	ts.Check(p.cmd.Process.Signal(sig))
}

func cmdAwait(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: await NAME STATUS")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	p := background(ts, args[0])
	select {
	case <-p.done:
	case <-time.After(deadline):
		ts.Fatalf("%s still running after %v", args[0], deadline)
	}
	s := sessionOf(ts)
	s.mu.Lock()
	delete(s.bg, args[0])
	s.mu.Unlock()
	report(ts, p.cmd, p.err, p.stdout.Bytes(), p.stderr.Bytes(), want)
}

func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits STATUS [KEY=VALUE...] PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	cmd := command(ts, args[1:])
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	ts.Check(cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(deadline):
		_ = cmd.Process.Kill()
		<-done
		ts.Fatalf("%s still running after %v", args[1], deadline)
	}
	report(ts, cmd, err, stdout.Bytes(), stderr.Bytes(), want)
}

// report makes a finished command's output the script's stdout and stderr
// and checks its exit status.
func report(ts *testscript.TestScript, cmd *exec.Cmd, err error, stdout, stderr []byte, want int) {
	ts.Stdout().Write(stdout)
	ts.Stderr().Write(stderr)
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		ts.Fatalf("%v", err)
	}
	have := cmd.ProcessState.ExitCode()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		ts.Fatalf("exit status: have killed by %v, want %d", ws.Signal(), want)
	}
	if have != want {
		ts.Fatalf("exit status: have %d, want %d", have, want)
	}
}

func cmdWaitfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: waitfile FILE...")
	}
	for _, name := range args {
		path := ts.MkAbs(name)
		poll(ts, "file "+name+" to appear", func() bool {
			data, err := os.ReadFile(path)
			if strings.HasSuffix(name, ".pid") {
				return err == nil && bytes.HasSuffix(data, []byte("\n"))
			}
			return err == nil
		})
	}
}

// poll checks cond until it holds, failing the script after deadline.
func poll(ts *testscript.TestScript, what string, cond func() bool) {
	end := time.Now().Add(deadline)
	for wait := time.Millisecond; !cond(); wait = min(2*wait, 100*time.Millisecond) {
		if time.Now().After(end) {
			ts.Fatalf("gave up after %v waiting for %s", deadline, what)
		}
		time.Sleep(wait)
	}
}

func readPid(ts *testscript.TestScript, file string) int {
	data := strings.TrimSpace(ts.ReadFile(file))
	pid, err := strconv.Atoi(data)
	if err != nil || pid <= 1 {
		ts.Fatalf("%s: no pid in %q", file, data)
	}
	return pid
}

// dead reports whether pid has exited: no such process, or a zombie
// (its parent, perhaps this machine's PID 1, has not reaped it).
func dead(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name, which may itself
	// contain parentheses.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	state := stat[i+2]
	return state == 'Z' || state == 'X'
}

// cmdGone allows a process a little while to finish dying after procman
// exits (a SIGKILL is delivered asynchronously); a process that is still
// alive after the deadline was left behind.
func cmdGone(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: gone PIDFILE...")
	}
	for _, file := range args {
		pid := readPid(ts, file)
		poll(ts, fmt.Sprintf("pid %d from %s to exit", pid, file), func() bool { return dead(pid) })
	}
}

func cmdAlive(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: alive PIDFILE...")
	}
	for _, file := range args {
		if pid := readPid(ts, file); dead(pid) {
			ts.Fatalf("pid %d from %s is not running", pid, file)
		}
	}
}

// streamLine is one text-mode line without timestamps: label, padding, bar.
var streamLine = regexp.MustCompile(`^([A-Za-z0-9_.-]+) +\| (.*)$`)

func cmdChecklines(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: checklines FILE COUNT NAME...")
	}
	count, err := strconv.Atoi(args[1])
	ts.Check(err)
	next := make(map[string]int)
	for _, name := range args[2:] {
		next[name] = 1
	}
	sc := bufio.NewScanner(strings.NewReader(ts.ReadFile(args[0])))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		m := streamLine.FindStringSubmatch(sc.Text())
		if m == nil {
			ts.Fatalf("line %d is not a stream line: %q", n, sc.Text())
		}
		if m[1] == "system" {
			continue
		}
		name, ok := strings.CutSuffix(m[1], ".1")
		if _, known := next[name]; !ok || !known {
			ts.Fatalf("line %d: unexpected label %q", n, m[1])
		}
		want := producedLine(name, next[name])
		if m[2] != want {
			ts.Fatalf("line %d: have %q, want %q", n, m[2], want)
		}
		next[name]++
	}
	ts.Check(sc.Err())
	for name, i := range next {
		if i != count+1 {
			ts.Fatalf("%s: %d lines, want %d", name, i-1, count)
		}
	}
}

func cmdCheckbig(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: checkbig FILE SIZE")
	}
	size, err := strconv.Atoi(args[1])
	ts.Check(err)
	want := string(bigLine(size))
	found := 0
	for _, line := range strings.Split(ts.ReadFile(args[0]), "\n") {
		m := streamLine.FindStringSubmatch(line)
		switch {
		case m == nil || m[1] == "system":
		case m[2] == want:
			found++
		case strings.HasPrefix(m[2], want[:min(size, 16)]):
			ts.Fatalf("%s line of %d bytes differs from the %d bytes written", m[1], len(m[2]), size)
		}
	}
	if found != 1 {
		ts.Fatalf("%d whole lines of %d bytes, want 1", found, size)
	}
}

func cmdBytesin(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: bytesin FILE HEX")
	}
	want, err := hex.DecodeString(args[1])
	ts.Check(err)
	if have := bytes.Contains([]byte(ts.ReadFile(args[0])), want); have != !neg {
		ts.Fatalf("bytes %x: contained %v, want %v", want, have, !neg)
	}
}

// cmdHolds tells what no output shows: that a process has reached the
// point where it opened a file, such as a directory it then waits to lock.
func cmdHolds(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: holds NAME PATH")
	}
	p := background(ts, args[0])
	want, err := filepath.EvalSymlinks(ts.MkAbs(args[1]))
	ts.Check(err)
	fds := fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid)
	poll(ts, args[0]+" to open "+args[1], func() bool {
		select {
		case <-p.done:
			ts.Fatalf("%s exited before it opened %s", args[0], args[1])
		default:
		}
		entries, _ := os.ReadDir(fds) // gone or changing while read: try again
		for _, e := range entries {
			if target, err := os.Readlink(filepath.Join(fds, e.Name())); err == nil && target == want {
				return true
			}
		}
		return false
	})
}

// producedLine is line i of produce NAME: about 100 bytes, so that the
// figures match the benchmark's.
func producedLine(name string, i int) string {
	s := fmt.Sprintf("%s %d ", name, i)
	return s + strings.Repeat("x", max(0, 99-len(s)))
}

// produce NAME COUNT writes COUNT numbered lines as fast as it can, in
// writes of whole lines that fit in PIPE_BUF, so that each write reaches
// procman at once. A writer that stalls in the middle of a line (a stdio
// buffer ending mid-line, then no CPU for a while on a loaded machine) has
// that partial line shown on its own after logmux.PartialDelay, by design,
// and this test would take that for a split line.
func produce() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: produce NAME COUNT")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	buf := make([]byte, 0, 4096) // PIPE_BUF on Linux
	for i := 1; i <= n; i++ {
		line := producedLine(os.Args[1], i)
		if len(buf)+len(line)+1 > cap(buf) {
			if _, err := os.Stdout.Write(buf); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			buf = buf[:0]
		}
		buf = append(append(buf, line...), '\n')
	}
	if _, err := os.Stdout.Write(buf); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// bigLine is a line of size bytes whose every position is checkable.
func bigLine(size int) []byte {
	const pattern = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, size)
	for i := range b {
		b[i] = pattern[i%len(pattern)]
	}
	return b
}

// bigline SIZE writes one line of SIZE bytes in a single write.
func bigline() {
	size, err := strconv.Atoi(os.Args[len(os.Args)-1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if _, err := os.Stdout.Write(append(bigLine(size), '\n')); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
