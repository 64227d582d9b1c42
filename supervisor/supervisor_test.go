package supervisor

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/procman/procman/logmux"
	"golang.org/x/sys/unix"
)

// The test binary doubles as the helper child: with PROCMAN_HELPER set it
// behaves as the mode says instead of running tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("PROCMAN_HELPER"); mode != "" {
		os.Exit(helper(mode, os.Args[1:]))
	}
	// A move the state machine does not allow fails whichever test makes it.
	badTransition = func(p *proc, to State) {
		panic(fmt.Sprintf("%s: %s -> %s is not a transition", p.Label, p.state, to))
	}
	os.Exit(m.Run())
}

func helper(mode string, args []string) int {
	switch mode {
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		select {}
	case "lines":
		n, _ := strconv.Atoi(args[0])
		for i := 0; i < n; i++ {
			fmt.Printf("line %d\n", i)
		}
		return 0
	case "listen":
		// A server that takes a moment to come up, as real ones do.
		ms, _ := strconv.Atoi(args[1])
		time.Sleep(time.Duration(ms) * time.Millisecond)
		l, err := net.Listen("tcp", "127.0.0.1:"+args[0])
		if err != nil {
			fmt.Println(err)
			return 1
		}
		fmt.Println("listening")
		for {
			c, err := l.Accept()
			if err != nil {
				return 1
			}
			c.Close()
		}
	case "connect":
		c, err := net.Dial("tcp", "127.0.0.1:"+args[0])
		if err != nil {
			fmt.Println("refused")
		} else {
			c.Close()
			fmt.Println("connected")
		}
		select {}
	case "exit":
		fmt.Println("exiting")
		code, _ := strconv.Atoi(args[0])
		return code
	}
	return 99
}

// helperCmd is a Procfile command that runs the test binary as a helper.
func helperCmd(mode string, args ...string) string {
	exe, _ := os.Executable()
	return fmt.Sprintf("PROCMAN_HELPER=%s exec %q %s", mode, exe, strings.Join(args, " "))
}

// syncBuffer is the stream under test: logmux writes it, the test reads it.
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

const deadline = 30 * time.Second

type result struct {
	code int
	err  error
}

type harness struct {
	t    *testing.T
	dir  string
	out  *syncBuffer
	sigs chan os.Signal
	reqs chan Request
	done chan result
}

// start runs the supervisor on commands named a, b, c... in a temp dir.
func start(t *testing.T, grace time.Duration, commands ...string) *harness {
	t.Helper()
	return startWith(t, grace, nil, commands...)
}

// startWith is start with a chance to change the Config before Run.
func startWith(t *testing.T, grace time.Duration, change func(*Config), commands ...string) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), out: &syncBuffer{},
		sigs: make(chan os.Signal, 4), reqs: make(chan Request), done: make(chan result, 1)}
	var procs []Process
	for i, c := range commands {
		name := string(rune('a' + i))
		procs = append(procs, Process{Name: name, Label: name + ".1", Command: c,
			Env: append(os.Environ(), "PS="+name+".1")})
	}
	mux := logmux.New(h.out, logmux.Options{Width: 6})
	cfg := Config{Dir: h.dir, Processes: procs, Grace: grace, Log: mux, Signals: h.sigs, Requests: h.reqs}
	if change != nil {
		change(&cfg)
	}
	go func() {
		code, err := Run(cfg)
		mux.Close()
		h.done <- result{code, err}
	}()
	return h
}

// waitOutput waits until the stream contains s.
func (h *harness) waitOutput(s string) {
	h.t.Helper()
	h.waitFor("output "+strconv.Quote(s), func() bool { return strings.Contains(h.out.String(), s) })
}

func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			h.t.Fatalf("timed out waiting for %s; output:\n%s", what, h.out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wait returns Run's exit status, failing the test if Run does not return.
func (h *harness) wait() int {
	h.t.Helper()
	select {
	case r := <-h.done:
		if r.err != nil {
			h.t.Fatalf("Run: %v", r.err)
		}
		return r.code
	case <-time.After(deadline):
		h.t.Fatalf("Run did not return; output:\n%s", h.out.String())
	}
	return -1
}

func (h *harness) path(name string) string { return filepath.Join(h.dir, name) }

// pidFrom reads a pid a child wrote to a file.
func (h *harness) pidFrom(name string) int {
	h.t.Helper()
	h.waitFor(name, func() bool {
		b, err := os.ReadFile(h.path(name))
		return err == nil && bytes.HasSuffix(b, []byte("\n"))
	})
	b, _ := os.ReadFile(h.path(name))
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		h.t.Fatalf("%s: %v", name, err)
	}
	return pid
}

func alive(pid int) bool { return unix.Kill(pid, 0) == nil }

func TestExitCodeStopsTheRest(t *testing.T) {
	h := start(t, 5*time.Second,
		"echo $$ > a.tmp; mv a.tmp a.pid; exec sleep 100",
		"while [ ! -e a.pid ]; do sleep 0.01; done; exit 3")
	code := h.wait()
	if code != 3 {
		t.Errorf("exit status: want 3, have %d", code)
	}
	out := h.out.String()
	for _, want := range []string{"b.1 exited with code 3", "sending SIGTERM to all processes", "a.1 terminated by SIGTERM"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if pid := h.pidFrom("a.pid"); alive(pid) {
		t.Errorf("a.1 (pid %d) still running", pid)
	}
}

func TestKilledChildGives137(t *testing.T) {
	h := start(t, 5*time.Second, "sleep 100", "kill -KILL $$")
	if code := h.wait(); code != 137 {
		t.Errorf("exit status: want 137, have %d", code)
	}
	if out := h.out.String(); !strings.Contains(out, "b.1 terminated by SIGKILL") {
		t.Errorf("output lacks the SIGKILL exit:\n%s", out)
	}
}

func TestSIGTERMGives143AndStopsGrandchildren(t *testing.T) {
	h := start(t, 5*time.Second, "sleep 100 & echo $! > gc.pid; sleep 100")
	gc := h.pidFrom("gc.pid")
	h.sigs <- syscall.SIGTERM
	if code := h.wait(); code != 143 {
		t.Errorf("exit status: want 143, have %d", code)
	}
	if alive(gc) {
		t.Errorf("grandchild %d still running", gc)
	}
}

func TestTermIgnoringChildIsKilledAfterGrace(t *testing.T) {
	h := start(t, 200*time.Millisecond, helperCmd("ignore-term"), "echo $$ > b.pid; exec sleep 100")
	h.waitOutput("a.1    | ready")
	h.sigs <- syscall.SIGINT
	if code := h.wait(); code != 130 {
		t.Errorf("exit status: want 130, have %d", code)
	}
	out := h.out.String()
	for _, want := range []string{"SIGINT received", "sending SIGKILL to all processes", "a.1 terminated by SIGKILL", "b.1 terminated by SIGTERM"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// A TERM-ignoring grandchild outlives its group's leader; the group still
// gets SIGKILL when the grace period ends.
func TestGroupKilledAfterLeaderExits(t *testing.T) {
	h := start(t, 300*time.Millisecond, helperCmd("ignore-term")+" & echo $! > gc.pid; wait")
	gc := h.pidFrom("gc.pid")
	h.waitOutput("| ready")
	h.sigs <- syscall.SIGTERM
	if code := h.wait(); code != 143 {
		t.Errorf("exit status: want 143, have %d", code)
	}
	if alive(gc) {
		t.Errorf("TERM-ignoring grandchild %d still running", gc)
	}
	if out := h.out.String(); !strings.Contains(out, "sending SIGKILL") {
		t.Errorf("no SIGKILL sent:\n%s", out)
	}
}

// A second SIGINT kills at once: with an hour's grace, Run only returns
// before the test's deadline if the second signal sent SIGKILL.
func TestSecondSignalKillsAtOnce(t *testing.T) {
	h := start(t, time.Hour, helperCmd("ignore-term"))
	h.waitOutput("| ready")
	h.sigs <- syscall.SIGINT
	h.waitOutput("sending SIGTERM")
	h.sigs <- syscall.SIGINT
	if code := h.wait(); code != 130 {
		t.Errorf("exit status: want 130, have %d", code)
	}
	if out := h.out.String(); !strings.Contains(out, "SIGINT received again") {
		t.Errorf("output lacks the second SIGINT:\n%s", out)
	}
}

func TestForwardedSignals(t *testing.T) {
	trap := `trap 'echo got HUP' HUP; trap 'echo got USR1' USR1; trap 'echo got USR2' USR2; echo ready; while :; do sleep 0.05; done`
	h := start(t, 5*time.Second, trap, trap)
	h.waitFor("both ready", func() bool { return strings.Count(h.out.String(), "| ready") == 2 })
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2} {
		h.sigs <- sig
		name := unix.SignalName(sig)[3:]
		h.waitOutput("a.1    | got " + name)
		h.waitOutput("b.1    | got " + name)
	}
	h.sigs <- syscall.SIGTERM
	h.wait()
}

func TestLastLineAndOrder(t *testing.T) {
	h := start(t, 5*time.Second, `echo first; printf 'no newline'`)
	if code := h.wait(); code != 0 {
		t.Errorf("exit status: want 0, have %d", code)
	}
	out := h.out.String()
	i, j := strings.Index(out, "a.1    | no newline"), strings.Index(out, "a.1 exited with code 0")
	if i < 0 || j < 0 || i > j {
		t.Errorf("want the last line, then the exit:\n%s", out)
	}
}

func TestOrphanOfDaemonIsStopped(t *testing.T) {
	// setsid puts the daemon in a session of its own, out of reach of the
	// group signal; as the subreaper procman still stops it.
	// Without a subreaper (the portable build) the daemon is out of reach,
	// and holds the output pipe: the stop still ends.
	h := start(t, 5*time.Second, "setsid sleep 100 & echo $! > d.pid; exec sleep 100")
	d := h.pidFrom("d.pid")
	t.Cleanup(func() { unix.Kill(d, syscall.SIGKILL) })
	h.sigs <- syscall.SIGTERM
	if code := h.wait(); code != 143 {
		t.Errorf("exit status: want 143, have %d", code)
	}
	if alive(d) && hasSubreaper {
		t.Errorf("daemon %d still running", d)
	}
}

func TestManyLinesNoneLost(t *testing.T) {
	const n = 20000
	// Both may exit: the first to finish must not stop the other mid-way.
	h := startWith(t, 5*time.Second, func(c *Config) { c.Policy.AnyCanDie = true },
		helperCmd("lines", strconv.Itoa(n)), helperCmd("lines", strconv.Itoa(n)))
	if code := h.wait(); code != 0 {
		t.Errorf("exit status: want 0, have %d", code)
	}
	out := h.out.String()
	for _, label := range []string{"a.1", "b.1"} {
		if c := strings.Count(out, label+"    | line "); c != n {
			t.Errorf("%s: want %d lines, have %d", label, n, c)
		}
	}
}

func TestStartFailureIsAnError(t *testing.T) {
	mux := logmux.New(&syncBuffer{}, logmux.Options{Width: 6})
	_, err := Run(Config{Dir: "/nonexistent/dir", Processes: []Process{{Name: "a", Label: "a.1", Command: "true"}},
		Grace: time.Second, Log: mux, Signals: make(chan os.Signal)})
	if err == nil || !strings.Contains(err.Error(), "start a.1") {
		t.Errorf("want a start error, have %v", err)
	}
}

// A stop signal that arrives while a large app starts ends the start:
// processes not yet forked are never started. Here SIGTERM is waiting
// before Run begins, so nothing at all may start.
func TestStopSignalDuringStartStartsNoMore(t *testing.T) {
	var commands []string
	for range 300 {
		commands = append(commands, "touch started.$PS; exec sleep 100")
	}
	h := startWith(t, 5*time.Second, func(c *Config) {
		for i := range c.Processes {
			c.Processes[i].Label = fmt.Sprintf("w.%d", i+1)
			c.Processes[i].Env = append(os.Environ(), "PS="+c.Processes[i].Label)
		}
		sigs := make(chan os.Signal, 1)
		sigs <- syscall.SIGTERM
		c.Signals = sigs
	}, commands...)
	if code := h.wait(); code != 143 {
		t.Errorf("exit status: want 143, have %d", code)
	}
	if n := strings.Count(h.out.String(), " started with pid "); n != 0 {
		t.Errorf("%d processes started after SIGTERM", n)
	}
	if files, _ := filepath.Glob(h.path("started.*")); len(files) != 0 {
		t.Errorf("%d processes ran after SIGTERM", len(files))
	}
}

// "procman start | sleep 25, then SIGTERM": a reader that stops reading
// procman's output does not keep procman alive after its processes are
// gone. Run returns once the grace period is over, and the output it
// could not deliver is counted as dropped.
func TestStalledReaderDoesNotHoldTheStop(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close() // open and unread: writes block once the pipe is full
	defer w.Close()
	mux := logmux.New(w, logmux.Options{Width: 6})
	sigs := make(chan os.Signal, 1)
	dir := t.TempDir()
	done := make(chan result, 1)
	go func() {
		code, err := Run(Config{Dir: dir, Grace: time.Second, Log: mux, Signals: sigs,
			Processes: []Process{{Name: "a", Label: "a.1", Env: os.Environ(),
				Command: "touch started; " + helperCmd("lines", "100000000")}}})
		done <- result{code, err}
	}()
	// The pipe fills while a.1 floods: the mux's write stalls.
	end := time.Now().Add(deadline)
	for !mux.Stalled(100 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the write to the unread pipe never stalled")
		}
		time.Sleep(10 * time.Millisecond)
	}
	sigs <- syscall.SIGTERM
	select {
	case res := <-done:
		if res.err != nil || res.code != 143 {
			t.Errorf("Run: want 143, have %d, %v", res.code, res.err)
		}
	case <-time.After(deadline):
		t.Fatal("Run still waits for a reader that does not read")
	}
	if mux.Dropped() == 0 {
		t.Error("no output counted as dropped")
	}
	if err := mux.Close(); err == nil {
		t.Error("Close after the output was abandoned: want an error")
	}
}
