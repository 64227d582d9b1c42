package supervisor

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReleaseRunsFirst(t *testing.T) {
	h := startWith(t, 5*time.Second, func(c *Config) {
		c.Release = &Process{Name: "release", Label: "release.1", Command: "echo migrating; touch released"}
	}, "test -e released && echo saw release; exec sleep 100")
	h.waitOutput("a.1    | saw release")
	h.sigs <- syscall.SIGTERM
	if code := h.wait(); code != 143 {
		t.Errorf("exit status: want 143, have %d", code)
	}
	out := h.out.String()
	if i, j := strings.Index(out, "release.1 exited with code 0"), strings.Index(out, "a.1 started"); i < 0 || j < i {
		t.Errorf("want the release to finish before a.1 starts:\n%s", out)
	}
}

func TestFailedReleaseStartsNothing(t *testing.T) {
	h := startWith(t, 5*time.Second, func(c *Config) {
		c.Release = &Process{Name: "release", Label: "release.1", Command: "exit 4"}
	}, "touch started; exec sleep 100")
	if code := h.wait(); code != 4 {
		t.Errorf("exit status: want 4, have %d", code)
	}
	if _, err := os.Stat(h.path("started")); err == nil {
		t.Errorf("a.1 ran although the release failed")
	}
	if out := h.out.String(); strings.Contains(out, "a.1 started") {
		t.Errorf("a.1 started although the release failed:\n%s", out)
	}
}

// A may-exit process that exits 0 stops nothing: the later SIGTERM is what
// stops the app, so procman's status is 143 and not the 0 of the exit.
func TestCanDieExitZeroKeepsAppUp(t *testing.T) {
	h := startWith(t, 5*time.Second, func(c *Config) {
		c.Policy.CanDie = map[string]bool{"a": true}
	}, "exit 0", "exec sleep 100")
	h.waitOutput("a.1 exited with code 0")
	h.sigs <- syscall.SIGTERM
	if code := h.wait(); code != 143 {
		t.Errorf("exit status: want 143, have %d", code)
	}
}

func TestCanDieExitOneStillStops(t *testing.T) {
	h := startWith(t, 5*time.Second, func(c *Config) {
		c.Policy.CanDie = map[string]bool{"a": true}
	}, "exit 1", "exec sleep 100")
	if code := h.wait(); code != 1 {
		t.Errorf("exit status: want 1, have %d", code)
	}
}

var restartDelay = regexp.MustCompile(`a\.1 exited with code 1; restarting in ([0-9.]+)s \(restart (\d+)\)`)

func TestRestartBackoffGrowsThenGivesUp(t *testing.T) {
	h := startWith(t, 5*time.Second, func(c *Config) {
		c.Policy.Restart = map[string]RestartMode{"a": OnFailure}
		c.Policy.MaxRestarts = 3
		c.Policy.Backoff = 20 * time.Millisecond
	}, "echo run; exit 1", "exec sleep 100")
	if code := h.wait(); code != 1 {
		t.Errorf("exit status: want 1, have %d", code)
	}
	out := h.out.String()
	m := restartDelay.FindAllStringSubmatch(out, -1)
	if len(m) != 3 {
		t.Fatalf("want 3 restarts, have %d:\n%s", len(m), out)
	}
	prev := 0.0
	for i, r := range m {
		d, _ := strconv.ParseFloat(r[1], 64)
		if d <= prev {
			t.Errorf("restart %d: delay %.2fs does not grow from %.2fs", i+1, d, prev)
		}
		prev = d
	}
	if c := strings.Count(out, "a.1    | run"); c != 4 {
		t.Errorf("want 4 runs of a.1, have %d", c)
	}
	if !strings.Contains(out, "a.1 gave up after 3 restarts") {
		t.Errorf("output lacks giving up:\n%s", out)
	}
}

func TestRestartAlways(t *testing.T) {
	h := startWith(t, 5*time.Second, func(c *Config) {
		c.Policy.Restart = map[string]RestartMode{"a": Always}
		c.Policy.MaxRestarts = 2
		c.Policy.Backoff = time.Millisecond
	}, "exit 0", "exec sleep 100")
	if code := h.wait(); code != 0 {
		t.Errorf("exit status: want 0, have %d", code)
	}
	if c := strings.Count(h.out.String(), "a.1 exited with code 0; restarting"); c != 2 {
		t.Errorf("want 2 restarts, have %d:\n%s", c, h.out.String())
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// With After, b's first instruction runs only once a's port accepts
// connections, and on stop b goes first.
func TestAfterWaitsForReadinessAndStopsInReverse(t *testing.T) {
	port := freePort(t)
	h := startWith(t, 5*time.Second, func(c *Config) {
		c.Processes[0].Port = port
		c.Policy.After = map[string][]string{"b": {"a"}}
	},
		"trap 'if [ -e b.gone ]; then echo b gone first; fi; exit 0' TERM; "+helperCmd("listen", strconv.Itoa(port), "200")+" & wait",
		"trap 'touch b.gone; exit 0' TERM; "+helperCmd("connect", strconv.Itoa(port))+" & wait")
	h.waitOutput("b.1    | ")
	h.sigs <- syscall.SIGTERM
	h.wait()
	out := h.out.String()
	if !strings.Contains(out, "b.1    | connected") {
		t.Errorf("b.1 started before a.1 was ready:\n%s", out)
	}
	ready, started := strings.Index(out, "a.1 ready on :"+strconv.Itoa(port)), strings.Index(out, "b.1 started")
	if ready < 0 || started < ready {
		t.Errorf("want a.1 ready, then b.1 started:\n%s", out)
	}
	if !strings.Contains(out, "a.1    | b gone first") {
		t.Errorf("a.1 was stopped before b.1:\n%s", out)
	}
}

func (h *harness) ask(req Request) Reply {
	h.t.Helper()
	reply := make(chan Reply, 1)
	req.Reply = reply
	h.reqs <- req
	select {
	case r := <-reply:
		return r
	case <-time.After(deadline):
		h.t.Fatalf("no reply to %s", req.Op)
	}
	return Reply{}
}

func (h *harness) status(label string) Status {
	h.t.Helper()
	for _, st := range h.ask(Request{Op: "ps"}).Instances {
		if st.Label == label {
			return st
		}
	}
	h.t.Fatalf("ps has no %s", label)
	return Status{}
}

func (h *harness) waitState(label, state string) Status {
	h.t.Helper()
	var st Status
	h.waitFor(label+" "+state, func() bool { st = h.status(label); return st.State == state })
	return st
}

func TestControlStopRestartScale(t *testing.T) {
	h := startWith(t, 5*time.Second, func(c *Config) {
		c.NewProcess = func(name string, num int) (Process, error) {
			label := name + "." + strconv.Itoa(num)
			return Process{Name: name, Label: label, Command: "echo $PS; exec sleep 100",
				Env: append(os.Environ(), "PS="+label), Port: 7000 + num}, nil
		}
	}, "exec sleep 100", "exec sleep 100")
	a1 := h.waitState("a.1", "running")
	b1 := h.waitState("b.1", "running")

	// restart changes only a.1's pid
	if r := h.ask(Request{Op: "restart", Targets: []string{"a.1"}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	h.waitFor("a.1 restarted", func() bool { st := h.status("a.1"); return st.State == "running" && st.Pid != a1.Pid })
	if st := h.status("b.1"); st.Pid != b1.Pid {
		t.Errorf("b.1 changed pid from %d to %d", b1.Pid, st.Pid)
	}

	// stop keeps it stopped without stopping the app; restart starts it
	h.ask(Request{Op: "stop", Targets: []string{"b"}})
	h.waitState("b.1", "stopped")
	h.ask(Request{Op: "restart", Targets: []string{"b"}})
	h.waitState("b.1", "running")

	// scale up gives new instances the next numbers; down stops them
	r := h.ask(Request{Op: "scale", Counts: map[string]int{"a": 3}})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	h.waitOutput("a.3    | a.3")
	if st := h.status("a.3"); st.Port != 7003 {
		t.Errorf("a.3: want port 7003, have %d", st.Port)
	}
	h.ask(Request{Op: "scale", Counts: map[string]int{"a": 1}})
	h.waitFor("a.2 and a.3 removed", func() bool { return len(h.ask(Request{Op: "ps"}).Instances) == 2 })

	if r := h.ask(Request{Op: "stop", Targets: []string{"nope"}}); r.Err == nil {
		t.Errorf("stop of an unknown process: want an error")
	}
	if r := h.ask(Request{Op: "bogus"}); r.Err == nil {
		t.Errorf("unknown operation: want an error")
	}
	h.ask(Request{Op: "quit"})
	if code := h.wait(); code != 143 {
		t.Errorf("exit status: want 143, have %d", code)
	}
}

// A process whose PORT another program already listens on is told about
// it, and that listener does not make it ready: what waits for it keeps
// waiting. c, which listens on its own port after a moment, shows that
// probe rounds ran meanwhile (rounds hand in their results in order, and
// the first one already saw the other program's listener).
func TestPortInUseWarnsAndIsNotReady(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	if _, known := listeningPorts(); !known {
		t.Skip("the kernel's socket tables cannot be read here")
	}
	cport := freePort(t)
	h := startWith(t, 5*time.Second, func(c *Config) {
		c.Processes[0].Port = port
		c.Processes[2].Port = cport
		c.Policy.After = map[string][]string{"b": {"a"}}
	}, "exec sleep 100", "echo b up; exec sleep 100", helperCmd("listen", strconv.Itoa(cport), "300"))
	h.waitOutput(fmt.Sprintf("a.1: port %d is already in use by another program", port))
	h.waitOutput(fmt.Sprintf("c.1 ready on :%d", cport))
	h.sigs <- syscall.SIGTERM
	h.wait()
	out := h.out.String()
	if strings.Contains(out, "a.1 ready") || strings.Contains(out, "b.1 started") {
		t.Errorf("a.1 counted as ready with only another program on :%d:\n%s", port, out)
	}
}

// Every state has a name for ps and a way out, and every move in the
// table leads to a state that exists.
func TestStateMachineIsComplete(t *testing.T) {
	for st := Pending; st <= Stopped; st++ {
		if st.String() == "" {
			t.Errorf("state %d has no name", st)
		}
		if len(transitions[st]) == 0 {
			t.Errorf("%s has no way out", st)
		}
		for _, to := range transitions[st] {
			if to < Pending || to > Stopped {
				t.Errorf("%s -> %d: no such state", st, to)
			}
		}
	}
	if len(stateNames) != int(Stopped)+1 {
		t.Errorf("%d state names for %d states", len(stateNames), Stopped+1)
	}
}

// A scale that cannot start every new instance takes back the ones it
// started, leaves none pending, and says so on procman's stream as well
// as to the client.
func TestFailedScaleLeavesTheFormationAsItWas(t *testing.T) {
	h := startWith(t, 5*time.Second, func(c *Config) {
		c.NewProcess = func(name string, num int) (Process, error) {
			label := name + "." + strconv.Itoa(num)
			env := append(os.Environ(), "PS="+label)
			if num == 3 {
				env = append(env, "BROKEN=a\x00b") // exec refuses a NUL in the environment
			}
			return Process{Name: name, Label: label, Command: "exec sleep 100", Env: env}, nil
		}
	}, "exec sleep 100")
	h.waitState("a.1", "running")
	r := h.ask(Request{Op: "scale", Counts: map[string]int{"a": 3}})
	if r.Err == nil || !strings.Contains(r.Err.Error(), "the formation is unchanged") {
		t.Fatalf("scale a=3: want an error saying the formation is unchanged, have %v", r.Err)
	}
	h.waitOutput("scale failed, the formation is unchanged")
	h.waitFor("a.2 taken back", func() bool {
		ins := h.ask(Request{Op: "ps"}).Instances
		return len(ins) == 1 && ins[0].Label == "a.1" && ins[0].State == "running"
	})
	h.ask(Request{Op: "quit"})
	if code := h.wait(); code != 143 {
		t.Errorf("exit status: want 143, have %d", code)
	}
}

// "procman scale web=2 after procman stop web.1 runs two webs": an
// instance stopped by procman stop does not count, and scale starts it
// again before it adds a new number.
func TestScaleAfterStopRunsTheCountAskedFor(t *testing.T) {
	h := startWith(t, 5*time.Second, func(c *Config) {
		c.NewProcess = func(name string, num int) (Process, error) {
			label := name + "." + strconv.Itoa(num)
			return Process{Name: name, Label: label, Command: "exec sleep 100",
				Env: append(os.Environ(), "PS="+label)}, nil
		}
	}, "exec sleep 100")
	h.waitState("a.1", "running")
	h.ask(Request{Op: "stop", Targets: []string{"a.1"}})
	h.waitState("a.1", "stopped")
	if r := h.ask(Request{Op: "scale", Counts: map[string]int{"a": 2}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	h.waitState("a.1", "running")
	h.waitState("a.2", "running")
	if n := len(h.ask(Request{Op: "ps"}).Instances); n != 2 {
		t.Errorf("ps lists %d instances, want a.1 and a.2", n)
	}
	// Down to one: the highest number goes.
	h.ask(Request{Op: "scale", Counts: map[string]int{"a": 1}})
	h.waitFor("a.2 removed", func() bool {
		ins := h.ask(Request{Op: "ps"}).Instances
		return len(ins) == 1 && ins[0].Label == "a.1" && ins[0].State == "running"
	})
	h.ask(Request{Op: "quit"})
	if code := h.wait(); code != 143 {
		t.Errorf("exit status: want 143, have %d", code)
	}
}
