package supervisor

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/procman/procman/logmux"
)

// Readiness: a process with a PORT is ready once something accepts TCP
// connections on that port on the loopback interface. One goroutine probes
// every such process, each on its own backoff, so the cost of waiting does
// not grow a goroutine or a ticker per process.
const (
	probeFirst = 10 * time.Millisecond
	probeMax   = time.Second
	probeDial  = 250 * time.Millisecond
)

type probeTarget struct {
	p     *proc
	gen   int
	port  int
	since time.Time
	next  time.Time
	delay time.Duration
}

type prober struct {
	s       *supervisor
	add     chan probeTarget
	drop    chan *proc
	targets map[*proc]*probeTarget
}

func newProber(s *supervisor) *prober {
	pr := &prober{s: s, add: make(chan probeTarget), drop: make(chan *proc),
		targets: make(map[*proc]*probeTarget)}
	go pr.loop()
	return pr
}

// watch starts probing p's port; called by the owner right after a start.
func (pr *prober) watch(p *proc) {
	now := time.Now()
	t := probeTarget{p: p, gen: p.gen, port: p.Port, since: p.started, next: now, delay: probeFirst}
	select {
	case pr.add <- t:
	case <-pr.s.quit:
	}
}

// forget stops probing p, if it was probed.
func (pr *prober) forget(p *proc) {
	if p.Port == 0 || p.gen == 0 {
		return
	}
	select {
	case pr.drop <- p:
	case <-pr.s.quit:
	}
}

func (pr *prober) loop() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var due time.Time
		for _, t := range pr.targets {
			if due.IsZero() || t.next.Before(due) {
				due = t.next
			}
		}
		var wait <-chan time.Time
		if !due.IsZero() {
			timer.Reset(time.Until(due))
			wait = timer.C
		}
		select {
		case <-pr.s.quit:
			return
		case t := <-pr.add:
			pr.targets[t.p] = &t
		case p := <-pr.drop:
			delete(pr.targets, p)
		case <-wait:
			pr.probeDue()
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

func (pr *prober) probeDue() {
	now := time.Now()
	for p, t := range pr.targets {
		if t.next.After(now) {
			continue
		}
		conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(t.port)), probeDial)
		if err != nil {
			t.delay = min(t.delay*2, probeMax)
			t.next = time.Now().Add(t.delay)
			continue
		}
		conn.Close()
		delete(pr.targets, p)
		gen, took := t.gen, time.Since(t.since)
		// Sent from its own goroutine: the owner may at this moment be
		// blocked sending to this prober.
		go func() {
			select {
			case pr.s.wake <- func() { pr.s.becameReady(p, gen, took) }:
			case <-pr.s.quit:
			}
		}()
	}
}

// becameReady records that p's port accepts connections.
func (s *supervisor) becameReady(p *proc, gen int, took time.Duration) {
	if p.gen != gen || p.state != Running {
		return
	}
	p.ready = true
	s.cfg.Log.Event(logmux.Event{Proc: p.Label, Kind: "ready", Pid: p.pid, Port: p.Port,
		Msg: fmt.Sprintf("%s ready on :%d after %.2fs", p.Label, p.Port, took.Seconds())})
	if err := s.startDue(); err != nil {
		s.beginStop(cause{code: 1, what: err.Error()})
	}
}
