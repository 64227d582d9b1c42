// Package logmux owns procman's single output stream: it reads every child's
// pipe or pty, prefixes each line with the child's label, and writes whole
// lines, batched, to one io.Writer; procman's own events go through the same
// stream so their order with the children's lines holds. It never decides
// colour or format (cmd/procman does) and never touches os.Stdout itself.
//
// # Lines
//
// A line is the bytes up to and including '\n'. Text mode writes
//
//	15:04:05 web.1  | text
//
// with the child's bytes passed through unchanged (non-UTF-8 and ANSI
// escapes too); only the prefix is coloured. Lines of any length are
// written whole and never interleaved with another process's line. A line
// still without its newline PartialDelay (100 ms) after it began, when the
// child's pipe has nothing more for now (a prompt, a progress bar), is
// shown followed by '\n'; the rest of that line continues later as a new
// line under the same prefix. A final
// line without newline is delivered at EOF, also followed by '\n'. So, in
// text mode, the child's output is exactly the concatenation of the output
// lines with their prefixes removed, except that a '\n' was added where a
// partial line was shown.
//
// # JSON
//
// With Options.JSON every output line is one JSON object:
//
//	{"time":"2024-05-01T09:30:00.123456Z","proc":"web.1","pid":42,"stream":"output","line":"text"}
//
// time is RFC 3339 in UTC with microseconds, taken when the bytes were read.
// stream is "output" because a child's stdout and stderr share one pipe (or
// pty), so procman cannot tell them apart; that sharing is what keeps their
// order. "line" holds the line without its '\n'. Bytes that are not valid
// UTF-8 appear in "line" as U+FFFD, and then, and only then, "line_b64"
// holds the exact bytes of the line (standard base64): when line_b64 is
// present it is authoritative. A fragment without its newline (a partial
// line shown after PartialDelay, the last line at EOF, or a piece of a line
// longer than MaxJSONLine) carries "partial":true. Nothing is dropped: the
// child's byte stream is the concatenation, in order, of each of its objects'
// bytes (line_b64 decoded if present, else line) each followed by '\n'
// unless partial.
//
// procman's own events are objects with "stream":"system", "event" (the
// Event's Kind), "line" (its Msg), "proc" ("system" for procman itself), and
// "pid", "code", "signal" when they apply.
//
// # Throughput, backpressure and memory
//
// One goroutine per Mux waits for all children's pipes at once, in
// epoll_wait(2) on its own epoll set, and reads whichever are ready, one
// read(2) each per turn, into its single 256 KiB buffer; a Copy call only
// registers its pipe and waits. The set is kept out of the runtime's
// poller, and so should the pipes be (os.Pipe puts them in it; the
// supervisor makes its own): there, each child's write woke an idle runtime
// thread while the loop was busy. All complete lines of a read are
// formatted into the shared output buffer under one lock. The buffer is
// written with one write(2) once it holds 256 KiB, or when its oldest line
// has waited 3 ms (so lines are batched while children are busy, and appear
// at once when they go quiet), and right after every Event. When children
// write a line per write(2), the loop pauses 0.5 ms between turns so that
// it reads many lines per read(2). A writer that is a pipe gets a 1 MiB
// buffer (F_SETPIPE_SZ), so that a batch rarely waits for the reader.
//
// When the writer is slow, the loop blocks in its write, stops reading, and
// children block on their pipes: memory does not grow with what they write.
// An idle child costs its registration and, only while it has an
// incomplete line, that line (released when large). A text line longer than
// 64 KiB is not buffered: its prefix and first bytes are written and the
// stream is held for that child, the rest of the line streaming straight
// through until its newline (or until the child is silent for
// PartialDelay), so such a line stays whole in bounded memory; other
// children wait meanwhile. In JSON mode a line longer than MaxJSONLine is
// written as consecutive partial objects. Events never wait for the writer:
// if the stream is held, they are queued and follow the held line.
package logmux

import (
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fatih/color"
	"golang.org/x/sys/unix"
)

// Options configure a Mux. The zero value means text, no timestamps, no
// colour, width 6.
type Options struct {
	Color      bool             // colour each label's prefix; decided by cmd/procman
	Timestamps bool             // time before the label in text mode
	TimeLayout string           // time.Format layout for text mode; default "15:04:05"
	JSON       bool             // one JSON object per line (see the package comment)
	Width      int              // label column width in text mode; at least 6
	Quiet      []string         // process types ("web" for "web.1") whose output is dropped
	Now        func() time.Time // clock for timestamps; default time.Now
}

// DefaultTimeLayout is the text-mode timestamp layout used when
// Options.TimeLayout is empty (foreman's).
const DefaultTimeLayout = "15:04:05"

// RFC3339Milli is a text-mode timestamp layout with full date, milliseconds
// and zone, for cmd/procman to offer.
const RFC3339Milli = "2006-01-02T15:04:05.000Z07:00"

// PartialDelay is how long an incomplete line waits for its newline before
// it is shown anyway.
const PartialDelay = 100 * time.Millisecond

// MaxJSONLine is the longest line, in bytes, written as one JSON object;
// longer lines are split into consecutive objects marked "partial":true.
const MaxJSONLine = 1 << 20

const (
	// readSize is one pipe's worth: a read rarely returns more (the
	// supervisor asks for 256 KiB pipes; fewer, larger reads and writes
	// cut the CPU procman spends per MB).
	readSize = 256 << 10
	// flushAt is the batch size: write(2) once this much is buffered.
	flushAt = 256 << 10
	// pipeSize is the buffer asked for a pipe writer (the kernel's default
	// limit for unprivileged users).
	pipeSize = 1 << 20
	// hardLimit bounds the shared buffer when one read expands into many
	// short lines (each gaining a prefix): formatting pauses to write.
	hardLimit = 256 << 10
	// keepCap is the largest buffer kept for reuse after a huge line.
	keepCap = 1 << 20
	// flushDelay is how long buffered output may wait for more lines.
	flushDelay = 3 * time.Millisecond
	// Once reads average less than coalesceBelow (children writing a line
	// per write(2), each waking the loop for a hundred bytes), the loop
	// waits coalesceFor after each turn, so that lines pile up and are read
	// many per read(2); it stops waiting as soon as a read returns
	// coalesceUntil, a pipe nearly full. Children writing blocks are read
	// without pause. Output latency is still bounded by flushDelay.
	coalesceBelow = 2 << 10
	coalesceUntil = 32 << 10
	coalesceFor   = 500 * time.Microsecond
	// textStreamAt is the length from which an incomplete text line is no
	// longer buffered but streamed while holding the stream.
	textStreamAt = 64 << 10
	// pendingKeep: carry-over capacity kept across lines; larger is freed so
	// an idle child holds almost nothing.
	pendingKeep = 1 << 10
)

// A Mux multiplexes children's output and procman's events onto one writer.
// All its methods are safe for concurrent use.
type Mux struct {
	w          io.Writer
	opts       Options
	width      atomic.Int32 // of the label column; only grows (Widen)
	layout     string
	quiet      map[string]bool
	sysOpen    string // colour escapes for system lines
	sysClose   string
	partial    time.Duration // PartialDelay; tests shorten or disable it
	flushTimer *time.Timer

	// wmu serialises writes to w; it is taken before mu so that buffers are
	// written in the order they were filled.
	wmu sync.Mutex

	mu       sync.Mutex
	cond     *sync.Cond // signalled when owner is released
	buf      []byte     // output waiting to be written
	spare    []byte     // the other buffer, nil while being written
	armed    bool       // flushTimer is set for buf
	since    time.Time  // when the loop first added to buf unwritten; see due
	owner    *stream    // stream holding the output for a long line, or nil
	deferred []byte     // events queued while owner is set
	colors   map[string]int
	closed   bool
	failed   bool
	err      error

	brokenOnce sync.Once
	broken     chan struct{}

	// The loop that reads every child (see Copy) runs while it has streams.
	lmu     sync.Mutex
	running bool
	epfd    int
	adds    []*stream // streams handed to the loop, not yet taken
}

// palette is foreman's order of label colours.
var palette = []color.Attribute{
	color.FgCyan, color.FgYellow, color.FgGreen, color.FgMagenta, color.FgRed, color.FgBlue,
	color.FgHiCyan, color.FgHiYellow, color.FgHiGreen, color.FgHiMagenta, color.FgHiRed, color.FgHiBlue,
}

// New returns a Mux writing to w. The caller must Close it to write what is
// still buffered.
func New(w io.Writer, opts Options) *Mux {
	m := &Mux{
		w:       w,
		opts:    opts,
		layout:  opts.TimeLayout,
		quiet:   make(map[string]bool, len(opts.Quiet)),
		partial: PartialDelay,
		colors:  make(map[string]int),
		broken:  make(chan struct{}),
	}
	m.width.Store(int32(max(opts.Width, 6)))
	if m.layout == "" {
		m.layout = DefaultTimeLayout
	}
	if m.opts.Now == nil {
		m.opts.Now = time.Now
	}
	for _, q := range opts.Quiet {
		m.quiet[q] = true
	}
	if opts.Color {
		m.sysOpen, m.sysClose = escapes(color.New(color.Bold))
	}
	m.cond = sync.NewCond(&m.mu)
	growPipe(w)
	m.flushTimer = time.AfterFunc(time.Hour, m.flush)
	m.flushTimer.Stop()
	return m
}

// Widen makes the label column at least width wide, for a label that did
// not exist when the Mux was made (an instance added by procman scale),
// so that lines stay aligned from then on; lines already written keep
// their width.
func (m *Mux) Widen(width int) {
	for {
		old := m.width.Load()
		if int32(width) <= old || m.width.CompareAndSwap(old, int32(width)) {
			return
		}
	}
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

// escapes returns the sequences that switch c on and off, taken from a
// per-instance Color so the global color.NoColor is never consulted.
func escapes(c *color.Color) (on, off string) {
	c.EnableColor()
	s := c.Sprint("\x00")
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return s[:i], s[i+1:]
		}
	}
	return "", ""
}

// labelColor returns the colour escapes for label, assigning the next
// palette colour the first time a label is seen. Called with mu held.
func (m *Mux) labelColor(label string) (on, off string) {
	if !m.opts.Color {
		return "", ""
	}
	i, ok := m.colors[label]
	if !ok {
		i = len(m.colors) % len(palette)
		m.colors[label] = i
	}
	return escapes(color.New(palette[i]))
}

// Broken returns a channel that is closed once a write to the writer has
// failed (EPIPE after `procman start | head`). From then on output is
// discarded, while Copy keeps reading so that children never block.
func (m *Mux) Broken() <-chan struct{} { return m.broken }

// Event writes one of procman's own lines: in text mode under the "system"
// label with e.Msg as text, in JSON mode as an object with its fields. It
// never waits for the writer; the line is written at once unless a child's
// long line is being streamed, which it then follows.
func (m *Mux) Event(e Event) {
	now := m.opts.Now()
	m.mu.Lock()
	if m.failed {
		m.mu.Unlock()
		return
	}
	var line []byte
	if m.opts.JSON {
		line = appendJSONEvent(nil, now, e)
	} else {
		line = m.appendTextEvent(nil, now, e)
	}
	if m.owner != nil {
		m.deferred = append(m.deferred, line...)
		m.mu.Unlock()
		return
	}
	m.buf = append(m.buf, line...)
	closed := m.closed
	if !closed {
		m.armed = true
		m.flushTimer.Reset(0)
	}
	m.mu.Unlock()
	if closed {
		m.flush()
	}
}

// An Event is one of procman's own lines: a process started, exited, was
// signalled, or procman itself is stopping.
type Event struct {
	Proc   string // "web.1", or "" for procman itself
	Kind   string // "started", "exited", "stopping", "signal", "kill", ...
	Pid    int
	Code   int           // exit code when Kind=="exited" and Signal==""
	Signal string        // "SIGTERM"
	Msg    string        // human text: "web.1 started with pid 1234"
	Delay  time.Duration // when Kind=="restart": the wait before the restart
	Port   int           // when Kind=="ready": the port that accepts connections
}

// Close writes everything still buffered, including events queued behind a
// streamed line, and returns the first error the writer returned, if any.
// The Mux stays usable afterwards, writing without batching.
func (m *Mux) Close() error {
	m.mu.Lock()
	m.closed = true
	m.flushTimer.Stop()
	m.armed = false
	if len(m.deferred) > 0 {
		m.buf = append(m.buf, m.deferred...)
		m.deferred = nil
	}
	m.mu.Unlock()
	m.flush()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// flush writes the buffered output with one write. The other buffer keeps
// collecting lines meanwhile.
func (m *Mux) flush() {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	m.mu.Lock()
	out := m.buf
	m.buf, m.spare = m.spare[:0], nil
	m.armed = false
	m.since = time.Time{}
	failed := m.failed
	m.mu.Unlock()
	if len(out) > 0 && !failed {
		if _, err := m.w.Write(out); err != nil {
			m.fail(err)
		}
	}
	if cap(out) > keepCap {
		out = nil
	}
	m.mu.Lock()
	m.spare = out[:0]
	m.mu.Unlock()
}

// fail records the first write error and tells Broken's readers.
func (m *Mux) fail(err error) {
	m.mu.Lock()
	if !m.failed {
		m.failed, m.err = true, err
		m.buf, m.deferred = nil, nil
		if m.owner != nil {
			m.owner = nil
			m.cond.Broadcast()
		}
	}
	m.mu.Unlock()
	m.brokenOnce.Do(func() { close(m.broken) })
}

// room waits, with mu held, until s may append: no other stream holds the
// output and the buffer is below limit (writing it when not).
func (m *Mux) room(s *stream, limit int) {
	for {
		if m.owner != nil && m.owner != s {
			m.cond.Wait()
			continue
		}
		if len(m.buf) >= limit && !m.failed {
			m.mu.Unlock()
			m.flush()
			m.mu.Lock()
			continue
		}
		return
	}
}

// unlockAppended ends a stretch of appending by s: it releases mu and
// writes the buffer if appended says it is due now.
func (m *Mux) unlockAppended(s *stream) {
	flushNow := m.appended(s)
	m.mu.Unlock()
	if flushNow {
		m.flush()
	}
}

// appended is called with mu held after s added output: it arranges for
// the buffer to be written and reports whether the caller should write it
// now. The loop times its own writes (see due): re-arming a runtime timer
// for every read would wake the runtime's poller each time.
func (m *Mux) appended(s *stream) (flushNow bool) {
	if m.closed || len(m.buf) >= flushAt {
		return true
	}
	if s.looped {
		if m.since.IsZero() && len(m.buf) > 0 {
			m.since = time.Now()
		}
		return false
	}
	if !m.armed && len(m.buf) > 0 {
		m.armed = true
		m.flushTimer.Reset(flushDelay)
	}
	return false
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

// release ends s's hold on the output, with mu held; queued events follow.
func (m *Mux) release(s *stream) {
	if m.owner != s {
		return
	}
	m.owner = nil
	if len(m.deferred) > 0 {
		m.buf = append(m.buf, m.deferred...)
		m.deferred = nil
	}
	m.cond.Broadcast()
}
