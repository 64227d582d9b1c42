package supervisor

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/procman/procman/logmux"
)

// Readiness: a process with a PORT is ready once a TCP socket of this
// network namespace listens on that port on a loopback or wildcard
// address, i.e. once a connection to 127.0.0.1:PORT or [::1]:PORT would be
// accepted. One goroutine checks every such process on one shared backoff,
// from probeFirst up to probeMax, and up to probeSlow once no process has
// started for probeCalm (workers get a PORT too and may never listen).
// A round asks the kernel once for its listening TCP sockets (sock_diag
// over netlink, which walks only the listening hash: tens of microseconds
// whatever the number of processes or connections) and never connects to
// the processes, so a server sees no probe connections in its logs. Where
// netlink is refused it reads /proc/net/tcp and tcp6 (which walk every
// connection too: about 10 ms here), and where neither can be read it
// connects to each port.
const (
	probeFirst = 10 * time.Millisecond
	probeMax   = time.Second
	probeSlow  = 5 * time.Second
	probeCalm  = 30 * time.Second
	probeDial  = 250 * time.Millisecond
)

type probeTarget struct {
	gen     int
	port    int
	since   time.Time
	foreign []uint64 // sockets that listened on port before the process started
}

// listeners maps a port to the inodes of the sockets that listen on it
// (an inode is 0 where it is not known).
type listeners map[int][]uint64

// readyFor reports whether a socket other than t's foreign ones listens on
// t's port: another program's listener, there before the process
// started, does not make it ready.
func (l listeners) readyFor(t probeTarget) bool {
	for _, ino := range l[t.port] {
		if !slices.Contains(t.foreign, ino) {
			return true
		}
	}
	return false
}

type prober struct {
	s    *supervisor
	wake chan struct{} // a target was added: probe soon

	mu      sync.Mutex
	targets map[*proc]probeTarget
	latest  time.Time // the newest target's start
}

func newProber(s *supervisor) *prober {
	pr := &prober{s: s, wake: make(chan struct{}, 1), targets: make(map[*proc]probeTarget)}
	go pr.loop()
	return pr
}

// watch starts probing p's port; called by the owner right after a start.
// It never blocks the owner.
func (pr *prober) watch(p *proc) {
	pr.mu.Lock()
	pr.targets[p] = probeTarget{gen: p.gen, port: p.Port, since: p.started, foreign: p.foreign}
	pr.latest = p.started
	pr.mu.Unlock()
	select {
	case pr.wake <- struct{}{}:
	default:
	}
}

// forget stops probing p, if it was probed.
func (pr *prober) forget(p *proc) {
	pr.mu.Lock()
	delete(pr.targets, p)
	pr.mu.Unlock()
}

func (pr *prober) loop() {
	delay := probeFirst
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		pr.mu.Lock()
		idle := len(pr.targets) == 0
		calm := time.Since(pr.latest) > probeCalm
		pr.mu.Unlock()
		var tick <-chan time.Time
		if !idle {
			timer.Reset(delay)
			tick = timer.C
		}
		select {
		case <-pr.s.quit:
			return
		case <-pr.wake:
			// A new process: start again from a short delay, as a server
			// that comes up fast should be seen fast.
			delay = probeFirst
		case <-tick:
			pr.round()
			delay = min(delay*2, probeMax)
			if calm {
				delay = probeSlow
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// round probes every target once.
func (pr *prober) round() {
	pr.mu.Lock()
	targets := make(map[*proc]probeTarget, len(pr.targets))
	for p, t := range pr.targets {
		targets[p] = t
	}
	pr.mu.Unlock()
	listening, known := listeningPorts()
	for p, t := range targets {
		if known && !listening.readyFor(t) || !known && !dialLoopback(t.port) {
			continue
		}
		pr.forget(p)
		gen, took := t.gen, time.Since(t.since)
		select {
		case pr.s.wake <- func() { pr.s.becameReady(p, gen, took) }:
		case <-pr.s.quit:
			return
		}
	}
}

// listeningPorts returns the listening sockets of this network namespace
// on loopback or wildcard addresses, from netlink or else from /proc;
// known is false when neither can be read.
func listeningPorts() (ports listeners, known bool) {
	if ports, err := diagListening(); err == nil {
		return ports, true
	}
	ports = make(listeners)
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(name)
		if err != nil {
			if name == "/proc/net/tcp" {
				return nil, false
			}
			continue // no IPv6
		}
		addListening(f, ports)
		f.Close()
	}
	return ports, true
}

// addListening adds the LISTEN (state 0A) rows of a /proc/net/tcp table
// ("sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout
// inode ...", the local address as HEXIP:HEXPORT) to ports.
func addListening(r io.Reader, ports listeners) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := bytes.Fields(sc.Bytes())
		if len(fields) < 4 || string(fields[3]) != "0A" {
			continue
		}
		local := fields[1]
		i := bytes.LastIndexByte(local, ':')
		if i < 0 {
			continue
		}
		port, err := strconv.ParseUint(string(local[i+1:]), 16, 16)
		if err != nil {
			continue
		}
		var ino uint64
		if len(fields) > 9 {
			ino, _ = strconv.ParseUint(string(fields[9]), 10, 64)
		}
		ports[int(port)] = append(ports[int(port)], ino)
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
