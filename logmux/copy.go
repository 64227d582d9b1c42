package logmux

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// bufPool holds read buffers; a child owns one only during a read and the
// formatting of what it read, never while it waits for its child.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, readSize)
	return &b
}}

// errAgain reports a non-blocking read that found nothing.
var errAgain = errors.New("logmux: no data")

// A stream is one Copy's state. Only its Copy goroutine touches it; the
// fields the Mux's owner logic reads are used with Mux.mu held.
type stream struct {
	m       *Mux
	f       *os.File
	rc      syscall.RawConn
	label   string
	pid     int
	on, off string // colour escapes for the prefix
	quiet   bool

	// pollable: f is in the runtime poller, so waiting costs no thread and
	// deadlines work; otherwise poll(2) waits in the read callback.
	pollable bool
	deadline time.Time // the read deadline currently set on f, if any

	pending      []byte    // an incomplete line not yet written
	pendingSince time.Time // when pending became non-empty
	streaming    bool      // a long text line is open and s holds the output
	lastData     time.Time // last read while streaming
	scratch      []byte    // the prefix or JSON head of the current read

	// Results of doRead, which runs inside RawConn.Read; kept here so the
	// callback is one method value instead of a closure per read.
	readFn func(fd uintptr) bool
	wait   bool
	rbuf   *[]byte
	n      int
	rerr   error
	pfd    [1]unix.PollFd
}

// Copy reads r until EOF and writes its lines under label (see the package
// comment). EIO, which a pty master returns once the slave side is closed,
// and r being closed by someone else both count as EOF. Pending output of r
// (a last line without newline) is delivered before Copy returns. A failing
// writer does not stop Copy: it keeps reading and discarding. Copy does not
// close r. Each child needs its own goroutine running Copy.
func (m *Mux) Copy(label string, pid int, r *os.File) error {
	s := &stream{m: m, f: r, label: label, pid: pid, quiet: m.quiet[procType(label)]}
	m.mu.Lock()
	s.on, s.off = m.labelColor(label)
	m.mu.Unlock()
	rc, err := r.SyscallConn()
	if err != nil {
		return fmt.Errorf("logmux: %s: %w", label, err)
	}
	s.rc = rc
	s.pollable = r.SetReadDeadline(time.Time{}) == nil
	s.readFn = s.doRead
	defer s.finish()
	for {
		s.arm()
		err := s.read(true)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			s.disarm()
			want := s.want()
			if want.IsZero() || time.Now().Before(want) {
				continue
			}
			// The line is stale, unless the child wrote more while this
			// goroutine was blocked on the writer: look before showing it.
			if err = s.read(false); err == errAgain {
				s.showPartial()
				continue
			}
		}
		if err != nil {
			if errors.Is(err, os.ErrClosed) || strings.Contains(err.Error(), "use of closed file") {
				return nil
			}
			return fmt.Errorf("logmux: read %s: %w", label, err)
		}
		if s.n == 0 {
			return nil
		}
		s.process()
	}
}

// procType returns the process type of a label: "web" for "web.1".
func procType(label string) string {
	if i := strings.LastIndexByte(label, '.'); i > 0 {
		return label[:i]
	}
	return label
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

// arm sets the read deadline for an open line. A deadline later than needed
// is left alone and corrected when it fires: most reads end mid-line under
// load, and re-arming per read would cost more than a spurious wakeup.
func (s *stream) arm() {
	if !s.pollable {
		return
	}
	want := s.want()
	if want.IsZero() || (!s.deadline.IsZero() && !want.Before(s.deadline)) {
		return
	}
	if s.f.SetReadDeadline(want) == nil {
		s.deadline = want
	}
}

func (s *stream) disarm() {
	if s.pollable && !s.deadline.IsZero() {
		_ = s.f.SetReadDeadline(time.Time{})
		s.deadline = time.Time{}
	}
}

// read does one read(2) into a pooled buffer, leaving it in s.rbuf and
// s.n (0 at EOF). With wait it first waits for data, up to the deadline;
// without, it returns errAgain when there is none.
func (s *stream) read(wait bool) error {
	s.wait, s.rbuf, s.n, s.rerr = wait, nil, 0, nil
	if err := s.rc.Read(s.readFn); err != nil {
		return err
	}
	return s.rerr
}

func (s *stream) doRead(fd uintptr) bool {
	if !s.pollable {
		timeout := 0
		if s.wait {
			timeout = -1
			if want := s.want(); !want.IsZero() {
				timeout = max(0, int((time.Until(want)+time.Millisecond-1)/time.Millisecond))
			}
		}
		s.pfd[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
		n, err := unix.Poll(s.pfd[:], timeout)
		for err == unix.EINTR {
			n, err = unix.Poll(s.pfd[:], timeout)
		}
		switch {
		case err != nil:
			s.rerr = err
			return true
		case n == 0 && s.wait:
			s.rerr = os.ErrDeadlineExceeded
			return true
		case n == 0:
			s.rerr = errAgain
			return true
		}
	}
	b := bufPool.Get().(*[]byte)
	n, err := unix.Read(int(fd), *b)
	for err == unix.EINTR {
		n, err = unix.Read(int(fd), *b)
	}
	switch {
	case err == unix.EAGAIN:
		bufPool.Put(b)
		if s.wait && s.pollable {
			return false // the poller waits, holding no buffer
		}
		s.rerr = errAgain
	case err == unix.EIO:
		bufPool.Put(b) // pty master: the slave side is gone, EOF
	case err != nil:
		bufPool.Put(b)
		s.rerr = err
	case n == 0:
		bufPool.Put(b)
	default:
		s.rbuf, s.n = b, n
	}
	return true
}

// process writes the lines of one read and returns its buffer to the pool.
func (s *stream) process() {
	b := s.rbuf
	data := (*b)[:s.n]
	defer bufPool.Put(b)
	s.rbuf = nil
	if s.quiet {
		return
	}
	m := s.m
	clock := time.Now()
	now := clock
	if m.opts.Now != nil {
		now = m.opts.Now()
	}
	m.mu.Lock()
	m.room(s, hardLimit)
	if m.failed {
		s.reset()
		m.mu.Unlock()
		return
	}
	if m.opts.JSON {
		s.jsonLines(data, now, clock)
	} else {
		s.textLines(data, now, clock)
	}
	if m.failed {
		s.reset()
	}
	flushNow := m.appended()
	m.mu.Unlock()
	if flushNow {
		m.flush()
	}
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
	flushNow := m.appended()
	m.mu.Unlock()
	if flushNow {
		m.flush()
	}
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

// finish delivers what is left when Copy returns.
func (s *stream) finish() {
	if s.rbuf != nil {
		bufPool.Put(s.rbuf)
		s.rbuf = nil
	}
	s.disarm()
	if !s.streaming && len(s.pending) == 0 {
		return
	}
	s.showPartial()
	s.pending, s.scratch = nil, nil
}
