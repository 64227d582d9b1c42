//go:build linux && !procman_portable

package logmux

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The Linux accelerator: one goroutine per Mux reads every child's pipe,
// waiting in epoll_wait(2) on an epoll set of its own (see the package
// comment); a Copy call only registers its pipe and waits. One goroutine
// doing all of it costs about half the CPU of one goroutine per child, each
// woken by the runtime's poller and handing work between threads.

func init() { newAccelerator = newEpollLoop }

const (
	// pipeSize is the buffer asked for a pipe writer (the kernel's default
	// limit for unprivileged users).
	pipeSize = 1 << 20
	// Once reads average less than coalesceBelow (children writing a line
	// per write(2), each waking the loop for a hundred bytes), the loop
	// waits coalesceFor after each turn, so that lines pile up and are read
	// many per read(2); it stops waiting as soon as a read returns
	// coalesceUntil, a pipe nearly full. Children writing blocks are read
	// without pause. Output latency is still bounded by flushDelay.
	coalesceBelow = 2 << 10
	coalesceUntil = 32 << 10
	coalesceFor   = 500 * time.Microsecond
)

// An epollLoop is a Mux's accelerator. Its loop runs while it has streams.
type epollLoop struct {
	m       *Mux
	mu      sync.Mutex
	running bool
	epfd    int
	adds    []*loopStream // streams handed to the loop, not yet taken
}

// newEpollLoop returns m's accelerator, and grows m's writer if it is a
// pipe. It starts nothing: the loop starts with the first Copy.
func newEpollLoop(m *Mux) accelerator {
	growPipe(m.w)
	return &epollLoop{m: m}
}

// A loopStream is a stream read by the loop, touched only by the loop
// goroutine.
type loopStream struct {
	*stream
	fd   int    // r's descriptor, read directly by the loop
	seen uint64 // the loop iteration that last read it

	done chan struct{} // closed when the loop is finished with it
	err  error
}

// copy hands r to the loop and waits until the loop has read it to EOF. A
// file epoll cannot wait for (a regular file, /dev/null), which never
// blocks, is left to the portable reader.
func (e *epollLoop) copy(s *stream, r *os.File) (handled bool, err error) {
	rc, err := r.SyscallConn()
	if err != nil {
		return true, fmt.Errorf("logmux: %s: %w", s.label, err)
	}
	ls := &loopStream{stream: s, fd: -1, done: make(chan struct{})}
	// The loop's reads must never block. A pipe made outside the runtime's
	// poller (as the supervisor makes them, so that children's writes do not
	// wake the runtime) is blocking: make it non-blocking while Copy runs.
	// Control, unlike Fd, leaves r's mode alone.
	blocking := false
	if err := rc.Control(func(fd uintptr) {
		ls.fd = int(fd)
		if fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0); err == nil && fl&unix.O_NONBLOCK == 0 {
			blocking = unix.SetNonblock(int(fd), true) == nil
		}
	}); err != nil {
		return true, fmt.Errorf("logmux: %s: %w", s.label, err)
	}
	if blocking {
		defer rc.Control(func(fd uintptr) { unix.SetNonblock(int(fd), false) })
	}
	looped, err := e.add(ls)
	if err != nil {
		return true, fmt.Errorf("logmux: %s: %w", s.label, err)
	}
	if !looped {
		return false, nil
	}
	<-ls.done
	// The loop reads ls.fd, not r: without this, r's finalizer could close
	// the descriptor under it.
	runtime.KeepAlive(r)
	return true, ls.err
}

// add hands ls to the loop, starting it if needed. It reports false for a
// file epoll cannot wait for.
func (e *epollLoop) add(ls *loopStream) (looped bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.running {
		if e.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
			return false, fmt.Errorf("epoll: %w", err)
		}
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(ls.fd)}
	if err = unix.EpollCtl(e.epfd, unix.EPOLL_CTL_ADD, ls.fd, &ev); err != nil {
		if !e.running {
			unix.Close(e.epfd)
		}
		if err == unix.EPERM {
			return false, nil
		}
		return false, fmt.Errorf("epoll: %w", err)
	}
	ls.looped = true
	e.adds = append(e.adds, ls)
	if !e.running {
		e.running = true
		go e.run(e.epfd)
	}
	return true, nil
}

// loop is the state of the goroutine that reads every child's pipe.
type loop struct {
	m       *Mux
	e       *epollLoop
	epfd    int
	streams map[int32]*loopStream
	open    map[*stream]*loopStream // streams with an incomplete line
	buf     []byte
	events  []unix.EpollEvent
	iter    uint64
	// Bytes read in this turn, reads, and the largest read: they tell a
	// child writing a line per write(2) from one writing blocks.
	got, reads, most int
	coalesce         bool // wait coalesceFor after each turn that read
	pfd              [1]unix.PollFd
	// resumed: when the loop last came back from a turn that blocked (a
	// write to a slow reader): a child's silence counts only from then.
	resumed time.Time
}

// stallTurn is how long a turn may take before the loop counts itself as
// having been away from the pipes.
const stallTurn = 20 * time.Millisecond

// want is when s's open line is due: PartialDelay of silence from s while
// the loop was listening. Time spent blocked writing to a stalled reader
// does not count, or every line open when the write began would be shown
// split once the reader came back.
func (lp *loop) want(s *stream) time.Time {
	w := s.want()
	if w.IsZero() {
		return w
	}
	if r := lp.resumed.Add(lp.m.partial); w.Before(r) {
		return r
	}
	return w
}

// wait collects the ready pipes into lp.events, waiting in epoll_wait until
// one is ready or until the next timed duty. The epoll descriptor is kept
// out of the runtime's poller on purpose: there, every new event in the set
// (each child's write) woke the runtime's idle thread while the loop was
// busy formatting and writing, about 30,000 useless wakeups a second with
// four busy children.
func (lp *loop) wait() (int, error) {
	n, err := unix.EpollWait(lp.epfd, lp.events, until(lp.next()))
	if err == unix.EINTR {
		return 0, nil
	}
	return n, err
}

// next is when the loop has a duty even if no pipe is ready: buffered
// output due to be written, or an open line due to be shown; zero if none.
func (lp *loop) next() time.Time {
	first := lp.m.due()
	for s := range lp.open {
		first = earliest(first, lp.want(s))
	}
	return first
}

// run reads whichever child is ready, one read(2) per ready pipe per turn
// (so no child starves the others), formats what it read into the shared
// buffer, and exits when no stream is left.
func (e *epollLoop) run(epfd int) {
	m := e.m
	lp := &loop{
		m:       m,
		e:       e,
		epfd:    epfd,
		streams: make(map[int32]*loopStream),
		open:    make(map[*stream]*loopStream),
		buf:     make([]byte, readSize),
		events:  make([]unix.EpollEvent, 128),
	}
	for {
		lp.take()
		if len(lp.streams) == 0 {
			e.mu.Lock()
			if len(e.adds) == 0 {
				e.running = false
				unix.Close(lp.epfd)
				e.mu.Unlock()
				// The last lines must not wait for an Event or Close.
				m.flush()
				return
			}
			e.mu.Unlock()
			continue
		}
		lp.iter++
		m.mu.Lock()
		owner := m.owner
		m.mu.Unlock()
		// A looped holder is always open: it holds until its line ends.
		if ls := lp.open[owner]; owner != nil && owner.looped && ls != nil {
			lp.serveOwner(ls)
			continue
		}
		if lp.coalesce && lp.got > 0 {
			// The children are trickling: let their lines pile up in the
			// pipes instead of paying a wakeup and a read per line.
			time.Sleep(coalesceFor)
		}
		n, err := lp.wait()
		if err != nil {
			// Cannot happen with a valid epoll descriptor; end every Copy
			// rather than spin. A stream streaming a long line ends first:
			// the others' last lines wait for its release, which only this
			// goroutine can give.
			for _, ls := range lp.streams {
				if ls.streaming {
					lp.finish(ls, fmt.Errorf("epoll: %w", err))
				}
			}
			for _, ls := range lp.streams {
				lp.finish(ls, fmt.Errorf("epoll: %w", err))
			}
			continue
		}
		lp.turn(n)
	}
}

// turn reads the n streams epoll found ready, one read(2) each, then
// shows the open lines that are due and writes the buffer if it is due.
func (lp *loop) turn(n int) {
	lp.take()
	now := time.Now()
	lp.got, lp.reads, lp.most = 0, 0, 0
	held := false
	for _, ev := range lp.events[:max(n, 0)] {
		if ls := lp.streams[ev.Fd]; ls != nil {
			ls.seen = lp.iter
			lp.read(ls, now)
			if ls.streaming {
				// ls now holds the output for its long line. Another
				// stream's read would wait in room for a release that
				// only this goroutine can give: leave the others'
				// bytes in their pipes until ls's line is done.
				held = true
				break
			}
		}
	}
	switch {
	case lp.most >= coalesceUntil:
		lp.coalesce = false // a pipe nearly filled while we waited
	case lp.reads > 0 && lp.got/lp.reads < coalesceBelow:
		lp.coalesce = true
	}
	if !held {
		// Showing a partial line also waits for a holder's release.
		lp.partials(now)
	}
	lp.flushDue(now)
	if end := time.Now(); end.Sub(now) >= stallTurn {
		lp.resumed = end
	}
}

// flushDue writes the buffer once its oldest line has waited flushDelay:
// while children keep writing, lines are batched into fewer, larger
// writes; once they go quiet, output appears within a few milliseconds.
func (lp *loop) flushDue(now time.Time) {
	if d := lp.m.due(); !d.IsZero() && !now.Before(d) {
		lp.m.flush()
	}
}

// take adopts the streams that Copy added.
func (lp *loop) take() {
	e := lp.e
	e.mu.Lock()
	for _, ls := range e.adds {
		lp.streams[int32(ls.fd)] = ls
	}
	e.adds = e.adds[:0]
	e.mu.Unlock()
}

// earliest returns the earlier of two times, zero meaning never.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// until returns the milliseconds from now to the earliest of ts, rounded
// up, or -1 (wait for ever) when all are zero.
func until(ts ...time.Time) int {
	var first time.Time
	for _, t := range ts {
		first = earliest(first, t)
	}
	if first.IsZero() {
		return -1
	}
	d := time.Until(first)
	return max(0, int((d+time.Millisecond-1)/time.Millisecond))
}

// read does one read(2) from ls and formats it, or ends ls at EOF.
func (lp *loop) read(ls *loopStream, now time.Time) {
	n, err := unix.Read(ls.fd, lp.buf)
	for err == unix.EINTR {
		n, err = unix.Read(ls.fd, lp.buf)
	}
	switch {
	case err == unix.EAGAIN:
	case err == unix.EIO || err == unix.ECONNRESET || (err == nil && n == 0):
		// EIO: a pty master whose slave side is gone. ECONNRESET: a
		// socket whose other end was closed with input left unread.
		lp.finish(ls, nil)
	case err != nil:
		lp.finish(ls, fmt.Errorf("logmux: read %s: %w", ls.label, err))
	default:
		lp.got += n
		lp.reads++
		lp.most = max(lp.most, n)
		ls.process(lp.buf[:n], now)
		if ls.streaming || len(ls.pending) > 0 {
			lp.open[ls.stream] = ls
		} else {
			delete(lp.open, ls.stream)
		}
	}
}

// partials shows the open lines that are due, of the streams whose pipe
// had nothing this turn: a child that is still writing gets to finish its
// line first.
func (lp *loop) partials(now time.Time) {
	for s, ls := range lp.open {
		if ls.seen == lp.iter {
			continue
		}
		if w := lp.want(s); !w.IsZero() && !now.Before(w) {
			s.showPartial()
			delete(lp.open, s)
		}
	}
}

// serveOwner reads only from the stream that holds the output for a long
// line, until its newline, or until it has been silent for PartialDelay.
func (lp *loop) serveOwner(ls *loopStream) {
	timeout := until(ls.want(), lp.m.due())
	lp.pfd[0] = unix.PollFd{Fd: int32(ls.fd), Events: unix.POLLIN}
	n, err := unix.Poll(lp.pfd[:], timeout)
	if err == unix.EINTR {
		return
	}
	now := time.Now()
	if n > 0 || err != nil {
		lp.read(ls, now) // an error here shows up again in read
		return
	}
	if w := ls.want(); !w.IsZero() && !now.Before(w) {
		ls.showPartial()
		delete(lp.open, ls.stream)
	}
	lp.flushDue(now)
}

// finish delivers what is left of ls and lets its Copy return.
func (lp *loop) finish(ls *loopStream, err error) {
	unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_DEL, ls.fd, nil)
	delete(lp.streams, int32(ls.fd))
	delete(lp.open, ls.stream)
	ls.end()
	ls.err = err
	close(ls.done)
}

// showPartial shows the open line without waiting for its newline.
func (s *stream) showPartial() {
	m := s.m
	m.mu.Lock()
	m.room(s, hardLimit)
	s.endLine()
	m.unlockAppended(s)
}

// due returns when the loop must write what it buffered, or zero.
func (m *Mux) due() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.since.IsZero() {
		return time.Time{}
	}
	return m.since.Add(flushDelay)
}

// growPipe raises the buffer of a pipe writer to pipeSize, so that a
// batch rarely has to wait for the reader to make room, and the reader gets
// more per read: relayed throughput rises by about a fifth. The kernel
// allocates the space only as data waits in it. Failing (not a pipe, or
// over the user's pipe limits) leaves the pipe as it is.
func growPipe(w io.Writer) {
	f, ok := w.(*os.File)
	if !ok {
		return
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		var st unix.Stat_t
		if unix.Fstat(int(fd), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
			return
		}
		if n, err := unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0); err == nil && n < pipeSize {
			unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeSize)
		}
	})
}
