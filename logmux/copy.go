package logmux

import (
	"bytes"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// A stream is one Copy's state: the child's open line and how to label it.
// The open line (pending, streaming and what goes with them) changes only
// with Mux.mu held: the portable reader's partial-line timer ends it from
// another goroutine.
type stream struct {
	m       *Mux
	label   string
	pid     int
	on, off string // colour escapes for the prefix
	quiet   bool
	looped  bool // read by an accelerator's loop, which times its own writes

	// The ring's view of the child (see ring.go), independent of the
	// output's: rid is the label's number in the ring (0: not yet given),
	// ringOpen that the last byte kept was not a newline, unkept the end
	// of the read being formatted that the ring does not have yet.
	rid      uint32
	ringOpen bool
	unkept   []byte

	pending      []byte    // an incomplete line not yet written
	pendingSince time.Time // when pending became non-empty
	streaming    bool      // a long text line is open and s holds the output
	lastData     time.Time // last read while streaming
	scratch      []byte    // the prefix or JSON head of the current read

	// The portable reader's partial-line timer (see portable.go).
	waiting atomic.Bool // Copy is waiting for its file, not reading or formatting
	timer   *time.Timer
	armedAt time.Time // when timer fires, as last set by Copy's goroutine
}

// An accelerator is an OS-specific way for Copy to read children's files,
// faster than each Copy reading its own.
type accelerator interface {
	// copy reads r for s as Copy does, or, for a file it cannot take,
	// returns handled=false having read nothing and with r as it was.
	copy(s *stream, r *os.File) (handled bool, err error)
}

// newAccelerator is set by an OS-specific file's init (loop_linux.go) and
// left nil in builds with -tags procman_portable and on other systems: a
// Mux then reads every child with the portable reader, which is complete
// on its own, so deleting an accelerator's file leaves a working logmux.
var newAccelerator func(m *Mux) accelerator

// Copy reads r until EOF and writes its lines under label (see the package
// comment). EIO, which a pty master returns once the slave side is closed,
// counts as EOF, as does ECONNRESET, which a socket returns once its other
// end was closed with input left unread. Pending output of r (a last line
// without newline) is added to the stream before Copy returns. A failing
// writer does not stop Copy: it keeps reading and discarding. r must stay
// open until Copy returns; Copy does not close it. r's blocking mode may
// be changed while Copy runs (a blocking r is made non-blocking for an
// epoll loop, a non-blocking r that the runtime's poller cannot wait for is
// made blocking) and is restored before Copy returns. Each child needs its own goroutine running Copy;
// while the child is idle, that goroutine holds no read buffer, or a small
// one for a file the runtime's poller cannot wait for.
func (m *Mux) Copy(label string, pid int, r *os.File) error {
	s := &stream{m: m, label: label, pid: pid, quiet: m.quiet[procType(label)]}
	m.mu.Lock()
	s.on, s.off = m.labelColor(label)
	s.rid = m.ring.intern(label)
	m.mu.Unlock()
	if m.accel != nil {
		if handled, err := m.accel.copy(s, r); handled {
			return err
		}
	}
	return s.copyPortable(r)
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

// process writes the lines of one read and returns when the line it
// leaves open is due to be shown without its newline (see want), or zero.
func (s *stream) process(data []byte, clock time.Time) (due time.Time) {
	m := s.m
	if s.quiet {
		// Not in the output nor in the ring, but attach shows it.
		if m.ring.ntaps.Load() > 0 {
			m.mu.Lock()
			m.ring.tap(s.label, data)
			m.mu.Unlock()
		}
		return time.Time{}
	}
	now := m.opts.Now()
	m.mu.Lock()
	m.room(s, hardLimit)
	// The ring takes the read once formatted, or the part formatted
	// before the stream lets another child in (see keepUpTo), so its order
	// is the output's.
	s.unkept = data
	if !m.failed {
		if m.opts.JSON {
			s.jsonLines(data, now, clock)
		} else {
			s.textLines(data, now, clock)
		}
	}
	m.ring.output(s, s.unkept, now)
	s.unkept = nil
	if m.failed {
		s.reset()
	}
	due = s.want()
	m.unlockAppended(s)
	return due
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
			m.ring.keepUpTo(s, data, now)
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
			m.ring.keepUpTo(s, data, now)
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

// endLine ends the open line with mu held: a streamed line gets its
// newline and the output is released; a pending one is written whole.
func (s *stream) endLine() {
	m := s.m
	now := m.opts.Now()
	m.ring.lineBreak(s, now)
	switch {
	case m.failed:
		s.reset()
	case s.streaming:
		m.buf = append(m.buf, '\n')
		s.streaming = false
		m.release(s)
	case len(s.pending) > 0:
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
	m := s.m
	m.mu.Lock()
	if !s.streaming && len(s.pending) == 0 {
		if s.ringOpen {
			// The output forgot the line (its writer failed); the ring
			// ends it as the output would have.
			m.ring.lineBreak(s, m.opts.Now())
		}
		s.pending, s.scratch = nil, nil
		m.mu.Unlock()
		return
	}
	m.room(s, hardLimit)
	s.endLine()
	s.pending, s.scratch = nil, nil
	m.unlockAppended(s)
}
