package supervisor

import (
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// safetyTick bounds how long a lost SIGCHLD (they coalesce, and one can
// arrive between Notify and the first wait) can delay a reap.
const safetyTick = time.Second

// An exit is one reaped child that the reaper was told to watch.
type exit struct {
	pid    int
	status unix.WaitStatus
}

// A reapBatch is what one pass of the reaper found: the watched exits, in
// the order the kernel reported them, and whether procman has no children
// left at all (wait4 answered ECHILD), which is how the owner knows that
// nothing it started, nor any orphan handed to it, is still alive.
type reapBatch struct {
	seq      uint64 // which pass found it: a batch can wait in the channel
	exits    []exit
	orphans  int
	noneLeft bool
}

// A reaper is the single owner of waiting: it calls wait4(-1) on every
// SIGCHLD, hands exits of watched pids to the owner, and discards orphans.
// No other code may wait for children while it runs (exec.Cmd.Wait would
// fail with ECHILD or steal a status).
type reaper struct {
	// mu is held across fork+watch by the starter and across each wait4
	// pass by the reaper, so a child that exits at once is never reaped
	// before it is watched (and mistaken for an orphan).
	mu      sync.Mutex
	watched map[int]bool
	passes  atomic.Uint64

	forker forker // forks its children

	batches chan reapBatch
	sigchld chan os.Signal
	pokes   chan struct{}
	quit    chan struct{}
	done    chan struct{}
}

func newReaper() *reaper {
	r := &reaper{
		watched: make(map[int]bool),
		forker:  newForker(),
		batches: make(chan reapBatch, 64),
		sigchld: make(chan os.Signal, 1),
		pokes:   make(chan struct{}, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	signal.Notify(r.sigchld, syscall.SIGCHLD)
	go r.loop()
	return r
}

// watch must be called with r.mu held, right after the fork.
func (r *reaper) watch(pid int) { r.watched[pid] = true }

// poke asks for a reap pass now, so the owner learns promptly whether any
// child is left even when no SIGCHLD is coming.
func (r *reaper) poke() {
	select {
	case r.pokes <- struct{}{}:
	default:
	}
}

func (r *reaper) stop() {
	signal.Stop(r.sigchld)
	close(r.quit)
	<-r.done
	r.forker.close()
}

func (r *reaper) loop() {
	defer close(r.done)
	tick := time.NewTicker(safetyTick)
	defer tick.Stop()
	for {
		select {
		case <-r.quit:
			return
		case <-r.sigchld:
		case <-r.pokes:
		case <-tick.C:
		}
		b := r.pass()
		if len(b.exits) == 0 && !b.noneLeft {
			continue
		}
		// Sent without r.mu held: the owner may be waiting on the starter,
		// which needs r.mu, so holding it here could deadlock.
		select {
		case r.batches <- b:
		case <-r.quit:
			return
		}
	}
}

func (r *reaper) pass() reapBatch {
	var b reapBatch
	r.mu.Lock()
	defer r.mu.Unlock()
	b.seq = r.passes.Add(1)
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err == unix.ECHILD {
			b.noneLeft = true
			return b
		}
		if err != nil || pid <= 0 {
			return b
		}
		if r.watched[pid] {
			delete(r.watched, pid)
			b.exits = append(b.exits, exit{pid: pid, status: ws})
		} else {
			b.orphans++
		}
	}
}
