package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/procman/procman/control"
	"github.com/procman/procman/logmux"
	"github.com/procman/procman/supervisor"
)

// The control socket steers a real supervisor through relay: ps lists it,
// an unknown name is refused with the supervisor's own message, restart
// changes only the pid it names, quit stops the app, and once procman has
// closed the socket a client gets an error.
func TestRelayToARealSupervisor(t *testing.T) {
	srv, err := control.Listen(filepath.Join(t.TempDir(), control.SocketName))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go srv.Serve()
	reqs, stopRelay := make(chan supervisor.Request), make(chan struct{})
	go relay(srv.Asks(), reqs, stopRelay, stream{})

	sigs := make(chan os.Signal, 1)
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := supervisor.Run(supervisor.Config{
			Dir: t.TempDir(),
			Processes: []supervisor.Process{
				{Name: "a", Label: "a.1", Command: "exec sleep 100"},
				{Name: "b", Label: "b.1", Command: "exec sleep 100"},
			},
			Grace:    5 * time.Second,
			Log:      logmux.New(io.Discard, logmux.Options{}),
			Signals:  sigs,
			Requests: reqs,
		})
		close(stopRelay)
		done <- result{code, err}
	}()
	stopped := false
	defer func() {
		if !stopped {
			sigs <- syscall.SIGTERM
			<-done
		}
	}()

	ask := func(req control.Request) (control.Response, error) {
		req.V = control.Version
		return control.Call(srv.Path(), req, deadline)
	}
	ps := func() map[string]control.Instance {
		resp, err := ask(control.Request{Op: control.OpPs})
		if err != nil {
			t.Fatalf("ps: %v", err)
		}
		m := make(map[string]control.Instance)
		for _, in := range resp.Instances {
			m[in.Label] = in
		}
		return m
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		end := time.Now().Add(deadline)
		for !cond() {
			if time.Now().After(end) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	var before map[string]control.Instance
	waitUntil("a.1 and b.1 running", func() bool {
		before = ps()
		return before["a.1"].State == "running" && before["b.1"].State == "running"
	})

	if _, err := ask(control.Request{Op: control.OpRestart, Targets: []string{"a.7"}}); err == nil ||
		!strings.Contains(err.Error(), `no process "a.7"`) {
		t.Errorf("restart a.7: have %v", err)
	}
	resp, err := ask(control.Request{Op: control.OpRestart, Targets: []string{"a.1"}})
	if err != nil || len(resp.Instances) != 1 || resp.Instances[0].Label != "a.1" {
		t.Errorf("restart a.1 acted on %+v (%v)", resp.Instances, err)
	}
	waitUntil("a.1 restarted", func() bool {
		in := ps()["a.1"]
		return in.State == "running" && in.Pid != before["a.1"].Pid && in.Restarts == 1
	})
	if pid := ps()["b.1"].Pid; pid != before["b.1"].Pid {
		t.Errorf("b.1's pid changed from %d to %d", before["b.1"].Pid, pid)
	}

	if _, err := ask(control.Request{Op: control.OpQuit}); err != nil {
		t.Fatalf("quit: %v", err)
	}
	select {
	case r := <-done:
		stopped = true
		if r.err != nil || r.code != 143 {
			t.Errorf("Run: want 143, have %d, %v", r.code, r.err)
		}
	case <-time.After(deadline):
		t.Fatal("procman did not stop after quit")
	}
	// As procman start does once Run returns.
	srv.Close()
	if _, err := ask(control.Request{Op: control.OpPs}); err == nil {
		t.Error("ps after procman stopped: want an error")
	}
}
