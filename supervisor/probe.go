package supervisor

import (
	"fmt"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/procman/procman/logmux"
	"golang.org/x/sys/unix"
)

// Readiness: a process with a PORT is ready once a TCP socket of this
// network namespace listens on that port on a loopback or wildcard
// address, i.e. once a connection to 127.0.0.1:PORT or [::1]:PORT would be
// accepted. One goroutine checks every such process on one shared backoff,
// from probeFirst up to probeMax, and up to probeSlow once no process has
// started for probeCalm (workers get a PORT too and may never listen).
// A round asks listeningPorts once for the listening TCP sockets; where
// it cannot tell (the portable implementation), it connects to the ports
// (dialLoopback), each on a backoff of its own from dialFirst after its
// process's start, so that a round made soon for a new process does not
// dial again every port dialled a moment ago (a start of N processes
// dialled O(N²) times), and a process that has only just been forked is
// not dialled at all: each dial costs the app's CPU, a few system calls
// and a refused or accepted connection. On Linux, listeningPorts asks the
// kernel (sock_diag over netlink, which walks only the listening hash: tens
// of microseconds whatever the number of processes or connections), so a
// server sees no probe connections in its logs, and a listener that was
// there before the process started (another program's) is told apart from
// its own.
const (
	probeFirst = 10 * time.Millisecond
	dialFirst  = 50 * time.Millisecond
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
	// dialAt is when the port is dialled next, dialEvery the time since
	// the last dial (the portable implementation's backoff).
	dialAt    time.Time
	dialEvery time.Duration
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
	wake chan struct{}       // a target was added: probe soon
	dial func(port int) bool // dialLoopback; tests count the dials

	mu      sync.Mutex
	targets map[*proc]probeTarget
	latest  time.Time // the newest target's start
}

func newProber(s *supervisor) *prober {
	pr := &prober{s: s, wake: make(chan struct{}, 1), dial: dialLoopback, targets: make(map[*proc]probeTarget)}
	go pr.loop()
	return pr
}

// watch starts probing p's port; called by the owner right after a start.
// It never blocks the owner.
func (pr *prober) watch(p *proc) {
	pr.mu.Lock()
	pr.targets[p] = probeTarget{gen: p.gen, port: p.Port, since: p.started, foreign: p.foreign,
		dialAt: p.started.Add(dialFirst), dialEvery: dialFirst}
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
	now := time.Now()
	for p, t := range targets {
		if known && !listening.readyFor(t) || !known && !pr.dialDue(p, t, now) {
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

// dialDue dials t's port if it is due at now and reports whether it was
// accepted; if not, the next dial comes twice as long after this one, up to
// probeMax.
func (pr *prober) dialDue(p *proc, t probeTarget, now time.Time) bool {
	if now.Before(t.dialAt) {
		return false
	}
	if pr.dial(t.port) {
		return true
	}
	t.dialEvery = min(2*t.dialEvery, probeMax)
	t.dialAt = now.Add(t.dialEvery)
	pr.mu.Lock()
	if cur, ok := pr.targets[p]; ok && cur.gen == t.gen {
		pr.targets[p] = t
	}
	pr.mu.Unlock()
	return false
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

// dialLoopback reports whether a TCP connection to 127.0.0.1:port, or
// else to [::1]:port, is accepted within probeDial. It is how readiness is
// seen where the kernel's table of listening sockets cannot be read (the
// portable implementation): it cannot tell another program's listener on
// the port from the process's own, and the process sees the connection.
func dialLoopback(port int) bool {
	return dial(unix.AF_INET, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}) ||
		dial(unix.AF_INET6, &unix.SockaddrInet6{Port: port, Addr: [16]byte{15: 1}})
}

// dial connects a non-blocking TCP socket of family to sa, waiting up to
// probeDial, and reports whether the connection was accepted. The socket
// is made under syscall.ForkLock and marked close-on-exec before a fork
// can copy it (no SOCK_CLOEXEC outside Linux and FreeBSD).
func dial(family int, sa unix.Sockaddr) bool {
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(family, unix.SOCK_STREAM, 0)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	if unix.SetNonblock(fd, true) != nil {
		return false
	}
	err = unix.Connect(fd, sa)
	if err == nil {
		return true
	}
	if err != unix.EINPROGRESS {
		return false
	}
	end := time.Now().Add(probeDial)
	for {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		n, err := unix.Poll(pfd, int(time.Until(end).Milliseconds())+1)
		if err == unix.EINTR && time.Now().Before(end) {
			continue
		}
		if err != nil || n == 0 {
			return false
		}
		soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		return err == nil && soErr == 0
	}
}
