package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/procman/procman/control"
	"github.com/procman/procman/logmux"
	"github.com/procman/procman/supervisor"
)

// A stream is what `procman logs` reads: the output stream's ring, in the
// format start writes (JSON), and the Procfile's process types, the names
// logs accepts.
type stream struct {
	mux   *logmux.Mux
	json  bool
	types []string
}

var errStopping = errors.New("procman is stopping")

// relay hands the control socket's requests to the supervisor and its
// replies back, one at a time, until done is closed; logs requests it
// answers itself from st's ring, which needs no supervisor. control speaks
// the wire protocol and knows nothing of the supervisor; this is where the
// two meet.
func relay(asks <-chan control.Ask, reqs chan<- supervisor.Request, done <-chan struct{}, st stream) {
	for {
		var ask control.Ask
		select {
		case ask = <-asks:
		case <-done:
			return
		}
		if ask.Op == control.OpLogs {
			feed, err := st.logs(ask.Request)
			ask.Reply <- control.Answer{Feed: feed, Err: err}
			continue
		}
		reply := make(chan supervisor.Reply, 1)
		select {
		case reqs <- supervisor.Request{Op: ask.Op, Targets: ask.Targets, Counts: ask.Counts,
			Force: ask.Force, Cols: ask.Cols, Rows: ask.Rows, Reply: reply}:
		case <-done:
			// The supervisor has returned: this ask is answered too, or
			// its connection would wait for an answer that never comes.
			ask.Reply <- control.Answer{Err: errStopping}
			return
		}
		// The supervisor answers every request it takes before it does
		// anything else.
		r := <-reply
		a := control.Answer{Instances: instances(r.Instances), Err: r.Err}
		if r.Session != nil {
			a.Session = attachSession{r.Session}
		}
		ask.Reply <- a
	}
}

// logs opens the feed a logs request asks for. A name must be a process
// type of the Procfile, or an instance of one: the ring may hold the lines
// of instances that are gone.
func (st stream) logs(req control.Request) (control.Feed, error) {
	if st.mux == nil {
		return nil, fmt.Errorf("logs are not available")
	}
	for _, t := range req.Targets {
		name, _, _ := strings.Cut(t, ".")
		if !slices.Contains(st.types, name) {
			return nil, fmt.Errorf("no process type %q (the Procfile has %s)", name, strings.Join(st.types, ", "))
		}
	}
	q := logmux.Query{Targets: req.Targets, Lines: req.Lines, Follow: req.Follow, JSON: st.json, Color: req.Color}
	switch req.Format {
	case "json":
		q.JSON = true
	case "text":
		q.JSON = false
	}
	return st.mux.Logs(q), nil
}

// attachSession is a supervisor's attach session as the control server uses it.
type attachSession struct{ *supervisor.Session }

func (s attachSession) Ending() control.Ending {
	e := s.Session.Ending()
	return control.Ending{Exited: e.Exited, Status: e.Status, Reason: e.Reason}
}

// instances turns the supervisor's table into the protocol's.
func instances(sts []supervisor.Status) []control.Instance {
	if sts == nil {
		return nil
	}
	out := make([]control.Instance, len(sts))
	for i, s := range sts {
		out[i] = control.Instance{Label: s.Label, Name: s.Name, State: s.State, Pid: s.Pid,
			Started: s.Started, Restarts: s.Restarts, Port: s.Port, Ready: s.Ready, Exit: s.Exit}
	}
	return out
}
