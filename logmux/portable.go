package logmux

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The portable reader: each Copy reads its own file on its own goroutine.

// readPool holds the large read buffers. A Copy whose file is in the
// runtime's poller takes one only once the file is readable, and gives it
// back after formatting what it read: an idle child holds none.
var readPool = sync.Pool{New: func() any {
	b := make([]byte, readSize)
	return &b
}}

// smallRead is the buffer that a blocking read, of a file the poller cannot
// wait for, holds while the child is idle. A pty returns at most a few KiB
// per read anyway; a pipe that fills it is read with a pooled buffer next.
const smallRead = 4 << 10

// copyPortable reads r until EOF on the calling goroutine.
func (s *stream) copyPortable(r *os.File) error {
	rc, err := r.SyscallConn()
	if err != nil {
		return fmt.Errorf("logmux: %s: %w", s.label, err)
	}
	defer s.end()
	defer s.stopTimer()
	// Only a file in the runtime's poller supports deadlines; setting none
	// changes nothing else.
	if r.SetReadDeadline(time.Time{}) == nil {
		err = s.readPolled(rc)
	} else {
		err = s.readBlocking(r, rc)
	}
	if err != nil {
		return fmt.Errorf("logmux: read %s: %w", s.label, err)
	}
	return nil
}

// A polledRead is one read(2) done inside RawConn.Read, so that the
// goroutine waits in the poller holding no buffer. Its method value is
// made once per Copy, not once per read.
type polledRead struct {
	s    *stream
	due  time.Time // from the last process: the open line's deadline
	fn   func(fd uintptr) bool
	buf  *[]byte
	n    int
	err  error
	idle bool // s.waiting was set by the last EAGAIN
}

func (p *polledRead) read(fd uintptr) bool {
	b := readPool.Get().(*[]byte)
	n, err := unix.Read(int(fd), *b)
	for err == unix.EINTR {
		n, err = unix.Read(int(fd), *b)
	}
	if err == unix.EAGAIN {
		readPool.Put(b)
		p.idle = true
		p.s.wait(p.due)
		return false
	}
	if p.idle {
		p.idle = false
		p.s.waiting.Store(false)
	}
	if n <= 0 {
		readPool.Put(b)
		b, n = nil, 0
	}
	p.buf, p.n, p.err = b, n, err
	return true
}

// readPolled reads a file that is in the runtime's poller.
func (s *stream) readPolled(rc syscall.RawConn) error {
	p := &polledRead{s: s}
	p.fn = p.read
	for {
		if err := rc.Read(p.fn); err != nil {
			return err
		}
		if p.buf == nil {
			return eof(p.err)
		}
		p.due = s.process((*p.buf)[:p.n], time.Now())
		readPool.Put(p.buf)
		p.buf = nil
	}
}

// readBlocking reads a file that the runtime's poller cannot wait for: a
// regular file or /dev/null, which never block, or a pipe or pty, which
// block the goroutine's thread in read(2). It holds a small buffer while it
// waits, and a pooled large one only after a read filled the small one (the
// child is busy).
func (s *stream) readBlocking(r *os.File, rc syscall.RawConn) error {
	// A non-blocking descriptor would make every read return EAGAIN, with
	// no poller to wait in.
	var nonblock bool
	rc.Control(func(fd uintptr) {
		if fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0); err == nil && fl&unix.O_NONBLOCK != 0 {
			nonblock = unix.SetNonblock(int(fd), false) == nil
		}
	})
	if nonblock {
		defer rc.Control(func(fd uintptr) { unix.SetNonblock(int(fd), true) })
	}
	var small []byte
	var due time.Time
	large := false
	for {
		var pooled *[]byte
		var buf []byte
		if large {
			pooled = readPool.Get().(*[]byte)
			buf = *pooled
		} else {
			if small == nil {
				small = make([]byte, smallRead)
			}
			buf = small
		}
		s.wait(due)
		n, err := r.Read(buf)
		s.waiting.Store(false)
		if n > 0 {
			due = s.process(buf[:n], time.Now())
		}
		large = n == len(buf)
		if pooled != nil {
			readPool.Put(pooled)
		}
		if err != nil {
			return eof(err)
		}
	}
}

// eof returns nil for the errors that end a child's output: EOF; EIO,
// which a pty master returns once the slave side is closed; and
// ECONNRESET, which a socket returns instead of EOF when the child closed
// its end without reading all the input written to it.
func eof(err error) error {
	if err == nil || err == io.EOF || errors.Is(err, unix.EIO) || errors.Is(err, unix.ECONNRESET) {
		return nil
	}
	return err
}

// wait marks s as waiting for its file and, when its open line is due at
// due, makes sure the timer fires by then. A timer set later than needed is
// left alone until it fires (showPartialIfDue sets it again): under load
// nearly every read leaves a line open, and moving a timer per read would
// cost more than an early firing.
func (s *stream) wait(due time.Time) {
	s.waiting.Store(true)
	if due.IsZero() {
		return
	}
	now := time.Now()
	if !s.armedAt.IsZero() && !due.Before(s.armedAt) && now.Before(s.armedAt) {
		return
	}
	s.armedAt = due
	if s.timer == nil {
		// Made idle and then set, so that the timer's goroutine, which
		// reads s.timer, sees it (Reset orders it before the firing).
		s.timer = time.AfterFunc(time.Hour, s.showPartialIfDue)
	}
	s.timer.Reset(due.Sub(now))
}

// showPartialIfDue runs on the timer's goroutine: it shows s's open line if
// it is due and Copy is waiting for more (so a child still writing gets to
// finish its line, and Copy's goroutine is not touching the line), and
// otherwise sets the timer again for a line that is not due yet.
func (s *stream) showPartialIfDue() {
	if !s.waiting.Load() {
		return // Copy is reading or formatting; it sets the timer when it waits again
	}
	m := s.m
	m.mu.Lock()
	due := s.want()
	if due.IsZero() {
		m.mu.Unlock()
		return
	}
	if now := time.Now(); now.Before(due) {
		m.mu.Unlock()
		s.timer.Reset(due.Sub(now))
		return
	}
	// Another child may hold the stream; once it lets go, look again.
	m.room(s, hardLimit)
	if due = s.want(); s.waiting.Load() && !due.IsZero() && !time.Now().Before(due) {
		s.endLine()
		m.unlockAppended(s)
		return
	}
	m.mu.Unlock()
}

// stopTimer stops the partial-line timer once Copy has read its last; a
// firing that is already running finds s not waiting and does nothing.
func (s *stream) stopTimer() {
	s.waiting.Store(false)
	if s.timer != nil {
		s.timer.Stop()
	}
}
