package main

import (
	"github.com/procman/procman/control"
	"github.com/procman/procman/supervisor"
)

// relay hands the control socket's requests to the supervisor and its
// replies back, one at a time, until done is closed. control speaks the
// wire protocol and knows nothing of the supervisor; this is where the two
// meet.
func relay(asks <-chan control.Ask, reqs chan<- supervisor.Request, done <-chan struct{}) {
	for {
		var ask control.Ask
		select {
		case ask = <-asks:
		case <-done:
			return
		}
		reply := make(chan supervisor.Reply, 1)
		select {
		case reqs <- supervisor.Request{Op: ask.Op, Targets: ask.Targets, Counts: ask.Counts, Reply: reply}:
		case <-done:
			return
		}
		// The supervisor answers every request it takes before it does
		// anything else.
		r := <-reply
		ask.Reply <- control.Answer{Instances: instances(r.Instances), Err: r.Err}
	}
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
