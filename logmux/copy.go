package logmux

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// A stream is one Copy's state: the child's open line and how to label it.
// Streams read by the loop are touched only by the loop goroutine; a
// fallback stream only by its Copy goroutine. Fields that other streams'
// owner logic reads are used with Mux.mu held.
type stream struct {
	m       *Mux
	fd      int // r's descriptor, read directly by the loop
	label   string
	pid     int
	on, off string // colour escapes for the prefix
	quiet   bool
	looped  bool // read by the loop (else by its own Copy goroutine)

	pending      []byte    // an incomplete line not yet written
	pendingSince time.Time // when pending became non-empty
	streaming    bool      // a long text line is open and s holds the output
	lastData     time.Time // last read while streaming
	scratch      []byte    // the prefix or JSON head of the current read
	seen         uint64    // the loop iteration that last read s

	done chan struct{} // closed when the loop is finished with s
	err  error
}

// Copy reads r until EOF and writes its lines under label (see the package
// comment). EIO, which a pty master returns once the slave side is closed,
// counts as EOF. Pending output of r (a last line without newline) is added
// to the stream before Copy returns. A failing writer does not stop Copy: it
// keeps reading and discarding. r must stay open until Copy returns; Copy
// does not close it. A blocking r is made non-blocking while Copy runs and
// blocking again before it returns. Each child needs its own goroutine
// running Copy; while it waits, that goroutine holds no buffer: one
// goroutine per Mux waits for all pipes at once (epoll) and reads whichever
// is ready into one buffer.
func (m *Mux) Copy(label string, pid int, r *os.File) error {
	s := &stream{m: m, fd: -1, label: label, pid: pid, quiet: m.quiet[procType(label)], done: make(chan struct{})}
	m.mu.Lock()
	s.on, s.off = m.labelColor(label)
	m.mu.Unlock()
	rc, err := r.SyscallConn()
	if err != nil {
		return fmt.Errorf("logmux: %s: %w", label, err)
	}
	// The loop's reads must never block. A pipe made outside the runtime's
	// poller (as the supervisor makes them, so that children's writes do not
	// wake the runtime) is blocking: make it non-blocking while Copy runs.
	// Control, unlike Fd, leaves r's mode alone.
	blocking := false
	if err := rc.Control(func(fd uintptr) {
		s.fd = int(fd)
		if fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0); err == nil && fl&unix.O_NONBLOCK == 0 {
			blocking = unix.SetNonblock(int(fd), true) == nil
		}
	}); err != nil {
		return fmt.Errorf("logmux: %s: %w", label, err)
	}
	if blocking {
		defer rc.Control(func(fd uintptr) { unix.SetNonblock(int(fd), false) })
	}
	looped, err := m.add(s)
	if err != nil {
		return fmt.Errorf("logmux: %s: %w", label, err)
	}
	if !looped {
		return s.copyDirect(r)
	}
	<-s.done
	// The loop reads s.fd, not r: without this, r's finalizer could close
	// the descriptor under it.
	runtime.KeepAlive(r)
	return s.err
}

// procType returns the process type of a label: "web" for "web.1".
func procType(label string) string {
	if i := strings.LastIndexByte(label, '.'); i > 0 {
		return label[:i]
	}
	return label
}

// add hands s to the loop, starting it if needed. It reports false for a
// file epoll cannot wait for (a regular file, /dev/null), which never
// blocks and is read by Copy itself.
func (m *Mux) add(s *stream) (looped bool, err error) {
	m.lmu.Lock()
	defer m.lmu.Unlock()
	if !m.running {
		if m.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
			return false, fmt.Errorf("epoll: %w", err)
		}
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(s.fd)}
	if err = unix.EpollCtl(m.epfd, unix.EPOLL_CTL_ADD, s.fd, &ev); err != nil {
		if !m.running {
			unix.Close(m.epfd)
		}
		if err == unix.EPERM {
			return false, nil
		}
		return false, fmt.Errorf("epoll: %w", err)
	}
	s.looped = true
	m.adds = append(m.adds, s)
	if !m.running {
		m.running = true
		go m.run(m.epfd)
	}
	return true, nil
}

// loop is the state of the goroutine that reads every child's pipe.
type loop struct {
	m       *Mux
	epfd    int
	streams map[int32]*stream
	open    map[*stream]bool // streams with an incomplete line
	buf     []byte
	events  []unix.EpollEvent
	iter    uint64
	// Bytes read in this turn, reads, and the largest read: they tell a
	// child writing a line per write(2) from one writing blocks.
	got, reads, most int
	coalesce         bool // wait coalesceFor after each turn that read
	pfd              [1]unix.PollFd
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
		first = earliest(first, s.want())
	}
	return first
}

// run reads whichever child is ready, one read(2) per ready pipe per turn
// (so no child starves the others), formats what it read into the shared
// buffer, and exits when no stream is left. One goroutine doing all of it
// costs about half the CPU of one goroutine per child, each woken by the
// runtime's poller and handing work between threads.
func (m *Mux) run(epfd int) {
	lp := &loop{
		m:       m,
		epfd:    epfd,
		streams: make(map[int32]*stream),
		open:    make(map[*stream]bool),
		buf:     make([]byte, readSize),
		events:  make([]unix.EpollEvent, 128),
	}
	for {
		lp.take()
		if len(lp.streams) == 0 {
			m.lmu.Lock()
			if len(m.adds) == 0 {
				m.running = false
				unix.Close(lp.epfd)
				m.lmu.Unlock()
				// The last lines must not wait for an Event or Close.
				m.flush()
				return
			}
			m.lmu.Unlock()
			continue
		}
		lp.iter++
		m.mu.Lock()
		owner := m.owner
		m.mu.Unlock()
		if owner != nil && owner.looped {
			lp.serveOwner(owner)
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
			for _, s := range lp.streams {
				if s.streaming {
					lp.finish(s, fmt.Errorf("epoll: %w", err))
				}
			}
			for _, s := range lp.streams {
				lp.finish(s, fmt.Errorf("epoll: %w", err))
			}
			continue
		}
		lp.take()
		now := time.Now()
		lp.got, lp.reads, lp.most = 0, 0, 0
		held := false
		for _, ev := range lp.events[:max(n, 0)] {
			if s := lp.streams[ev.Fd]; s != nil {
				s.seen = lp.iter
				lp.read(s, now)
				if s.streaming {
					// s now holds the output for its long line. Another
					// stream's read would wait in room for a release that
					// only this goroutine can give: leave the others'
					// bytes in their pipes until s's line is done.
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
	m := lp.m
	m.lmu.Lock()
	for _, s := range m.adds {
		lp.streams[int32(s.fd)] = s
	}
	m.adds = m.adds[:0]
	m.lmu.Unlock()
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

// read does one read(2) from s and formats it, or ends s at EOF.
func (lp *loop) read(s *stream, now time.Time) {
	n, err := unix.Read(s.fd, lp.buf)
	for err == unix.EINTR {
		n, err = unix.Read(s.fd, lp.buf)
	}
	switch {
	case err == unix.EAGAIN:
	case err == unix.EIO || (err == nil && n == 0):
		lp.finish(s, nil) // EIO: a pty master whose slave side is gone
	case err != nil:
		lp.finish(s, fmt.Errorf("logmux: read %s: %w", s.label, err))
	default:
		lp.got += n
		lp.reads++
		lp.most = max(lp.most, n)
		s.process(lp.buf[:n], now)
		if s.streaming || len(s.pending) > 0 {
			lp.open[s] = true
		} else {
			delete(lp.open, s)
		}
	}
}

// partials shows the open lines that are due, of the streams whose pipe
// had nothing this turn: a child that is still writing gets to finish its
// line first.
func (lp *loop) partials(now time.Time) {
	for s := range lp.open {
		if s.seen == lp.iter {
			continue
		}
		if w := s.want(); !w.IsZero() && !now.Before(w) {
			s.showPartial()
			delete(lp.open, s)
		}
	}
}

// serveOwner reads only from the stream that holds the output for a long
// line, until its newline, or until it has been silent for PartialDelay.
func (lp *loop) serveOwner(s *stream) {
	timeout := until(s.want(), lp.m.due())
	lp.pfd[0] = unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN}
	n, err := unix.Poll(lp.pfd[:], timeout)
	if err == unix.EINTR {
		return
	}
	now := time.Now()
	if n > 0 || err != nil {
		lp.read(s, now) // an error here shows up again in read
		return
	}
	if w := s.want(); !w.IsZero() && !now.Before(w) {
		s.showPartial()
		delete(lp.open, s)
	}
	lp.flushDue(now)
}

// finish delivers what is left of s and lets its Copy return.
func (lp *loop) finish(s *stream, err error) {
	unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_DEL, s.fd, nil)
	delete(lp.streams, int32(s.fd))
	delete(lp.open, s)
	s.end()
	s.err = err
	close(s.done)
}

// copyDirect reads a file that epoll cannot wait for; such a file never
// blocks, so there are no partial lines to time.
func (s *stream) copyDirect(r *os.File) error {
	defer s.end()
	buf := make([]byte, readSize)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			s.process(buf[:n], time.Now())
		}
		if err == io.EOF || errors.Is(err, unix.EIO) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("logmux: read %s: %w", s.label, err)
		}
	}
}

// want returns when the open line must be shown even without its newline,
// or zero when nothing waits. A streamed line is released only after the
// child was silent that long, so a line written continuously stays whole; a
// buffered line is shown once it is that old and the pipe is empty, so
// progress bars show progress.
func (s *stream) want() time.Time {
	switch {
	case s.m.partial <= 0:
		return time.Time{}
	case s.streaming:
		return s.lastData.Add(s.m.partial)
	case len(s.pending) > 0:
		return s.pendingSince.Add(s.m.partial)
	}
	return time.Time{}
}

// process writes the lines of one read.
func (s *stream) process(data []byte, clock time.Time) {
	if s.quiet {
		return
	}
	m := s.m
	now := m.opts.Now()
	m.mu.Lock()
	m.room(s, hardLimit)
	if !m.failed {
		if m.opts.JSON {
			s.jsonLines(data, now, clock)
		} else {
			s.textLines(data, now, clock)
		}
	}
	if m.failed {
		s.reset()
	}
	m.unlockAppended(s)
}

// reset forgets the open line once the writer has failed.
func (s *stream) reset() {
	s.pending, s.streaming = nil, false
}

func (s *stream) clearPending() {
	if cap(s.pending) > pendingKeep {
		s.pending = nil
	} else {
		s.pending = s.pending[:0]
	}
}

// textLines formats data, with mu held and s allowed to append.
func (s *stream) textLines(data []byte, now, clock time.Time) {
	m := s.m
	if s.streaming {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			m.buf = append(m.buf, data...)
			s.lastData = clock
			return
		}
		m.buf = append(m.buf, data[:i+1]...)
		s.streaming = false
		m.release(s)
		data = data[i+1:]
	}
	prefix := m.appendPrefix(s.scratch[:0], now, s.label, s.on, s.off)
	s.scratch = prefix
	if len(s.pending) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if len(s.pending)+len(data) < textStreamAt {
				s.pending = append(s.pending, data...)
				return
			}
			m.buf = append(m.buf, prefix...)
			m.buf = append(m.buf, s.pending...)
			m.buf = append(m.buf, data...)
			s.clearPending()
			s.startStreaming(clock)
			return
		}
		m.buf = append(m.buf, prefix...)
		m.buf = append(m.buf, s.pending...)
		m.buf = append(m.buf, data[:i+1]...)
		s.clearPending()
		data = data[i+1:]
	}
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		if len(m.buf) >= hardLimit {
			if m.room(s, hardLimit); m.failed {
				return
			}
		}
		m.buf = append(m.buf, prefix...)
		m.buf = append(m.buf, data[:i+1]...)
		data = data[i+1:]
	}
	if len(data) == 0 {
		return
	}
	if len(data) >= textStreamAt {
		m.buf = append(m.buf, prefix...)
		m.buf = append(m.buf, data...)
		s.startStreaming(clock)
		return
	}
	s.pending = append(s.pending, data...)
	s.pendingSince = clock
}

func (s *stream) startStreaming(clock time.Time) {
	s.streaming = true
	s.lastData = clock
	s.m.owner = s
}

// jsonLines formats data as JSON objects, with mu held.
func (s *stream) jsonLines(data []byte, now, clock time.Time) {
	m := s.m
	head := appendJSONHead(s.scratch[:0], now, s.label, s.pid)
	s.scratch = head
	if len(s.pending) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			s.pending = append(s.pending, data...)
			s.cutJSON(head)
			return
		}
		s.pending = append(s.pending, data[:i]...)
		s.cutJSON(head)
		m.buf = appendJSONLine(m.buf, head, s.pending, false)
		s.clearPending()
		data = data[i+1:]
	}
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		if len(m.buf) >= hardLimit {
			if m.room(s, hardLimit); m.failed {
				return
			}
		}
		m.buf = appendJSONLine(m.buf, head, data[:i], false)
		data = data[i+1:]
	}
	if len(data) > 0 {
		s.pending = append(s.pending, data...)
		s.pendingSince = clock
	}
}

// cutJSON writes the head of a pending line longer than MaxJSONLine as
// partial objects, never cutting inside a UTF-8 sequence.
func (s *stream) cutJSON(head []byte) {
	m := s.m
	for len(s.pending) > MaxJSONLine {
		n := runeCut(s.pending, MaxJSONLine)
		m.buf = appendJSONLine(m.buf, head, s.pending[:n], true)
		s.pending = s.pending[:copy(s.pending, s.pending[n:])]
		if m.room(s, hardLimit); m.failed {
			return
		}
	}
}

// showPartial shows the open line without waiting for its newline.
func (s *stream) showPartial() {
	m := s.m
	m.mu.Lock()
	m.room(s, hardLimit)
	s.endLine()
	m.unlockAppended(s)
}

// endLine ends the open line with mu held: a streamed line gets its
// newline and the output is released; a pending one is written whole.
func (s *stream) endLine() {
	m := s.m
	switch {
	case m.failed:
		s.reset()
	case s.streaming:
		m.buf = append(m.buf, '\n')
		s.streaming = false
		m.release(s)
	case len(s.pending) > 0:
		now := m.opts.Now()
		if m.opts.JSON {
			s.scratch = appendJSONHead(s.scratch[:0], now, s.label, s.pid)
			m.buf = appendJSONLine(m.buf, s.scratch, s.pending, true)
		} else {
			s.scratch = m.appendPrefix(s.scratch[:0], now, s.label, s.on, s.off)
			m.buf = append(m.buf, s.scratch...)
			m.buf = append(m.buf, s.pending...)
			m.buf = append(m.buf, '\n')
		}
		s.clearPending()
	}
}

// end delivers the open line when the child's output ends.
func (s *stream) end() {
	if s.streaming || len(s.pending) > 0 {
		s.showPartial()
	}
	s.pending, s.scratch = nil, nil
}
