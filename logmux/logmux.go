// Package logmux owns procman's single output stream: it reads every child's
// pipe or pty, prefixes each line with the child's label, and writes whole
// lines, batched, to one io.Writer; procman's own events go through the same
// stream so their order with the children's lines holds. It never decides
// colour or format (cmd/procman does) and never touches os.Stdout itself.
//
// # Lines
//
// Text mode writes "15:04:05 web.1  | text\n" with the child's bytes
// unchanged (non-UTF-8 and ANSI escapes too); only the prefix is coloured.
// Lines of any length are written whole, never interleaved with another
// child's line: a text line over 64 KiB is not buffered but streamed while
// the stream is held for its child (the others wait) until its newline, or
// until the child is silent for PartialDelay, so it stays whole in bounded
// memory. A line still without its newline PartialDelay after it
// began, when the child has nothing more for now (a prompt), is shown with
// a '\n' added, and its rest continues later as a new line; a last line
// without newline is delivered at EOF the same way. Removing the prefixes
// from the output thus gives the child's bytes back, plus those '\n'.
//
// With Options.JSON each line is one object:
//
//	{"time":"2024-05-01T09:30:00.123456Z","proc":"web.1","pid":42,"stream":"output","line":"text"}
//
// "time" is when the bytes were read (RFC 3339, UTC, microseconds); "line"
// is the line without its '\n'. Invalid UTF-8 shows in "line" as U+FFFD,
// and then, and only then, "line_b64" holds the line's exact bytes. A
// fragment without its newline (a partial line, the last line at EOF, a
// piece of a line longer than MaxJSONLine) has "partial":true. Nothing is
// dropped: a child's bytes are its objects' bytes in order, each followed by
// '\n' unless partial. procman's events have "stream":"system", "event"
// (the Event's Kind), "line" (its Msg), "proc" ("system" for procman
// itself), and "pid", "code", "signal", "port" and "delay" where they apply.
//
// # Batching and backpressure
//
// The complete lines of one read are formatted into a shared buffer under
// one lock; the buffer is written with one Write once it is large, or when
// its oldest line has waited a few milliseconds, and after every Event.
// When the writer is slow, that Write blocks, reading stops and children
// block on their pipes: memory does not grow with what they write. Events
// never wait for the writer; while the stream is held they follow the held
// line. After a failed write (Broken), output is read and discarded.
//
// # Recent output
//
// The Mux keeps recent output in a ring of Options.RingSize bytes
// (DefaultRingSize, 1 MiB; none if negative): each read of a child as it
// was read, with its label, pid and time, and each Event. The ring takes
// memory as output comes, up to its size, then drops its oldest reads;
// quiet children's output is not kept, and output is kept even after the
// writer failed. Logs shows the ring's last lines exactly as the stream
// wrote them (text or JSON, all or some process types and instances),
// formatting them only then, on the caller's goroutine; a line whose
// beginning has left the ring is not shown, nor one that the stream has
// not shown yet (a prompt before PartialDelay). With Follow the lines
// that come later follow, none lost or repeated in between. Tap gives a
// child's raw bytes, for attach. A Feed never holds the stream up: a
// client that falls FeedMax bytes behind misses what comes until it has
// read what the Feed holds, and then reads a line saying how many bytes
// it missed.
//
// # Readers
//
// The portable reader, on every Unix: each Copy reads its own file. A file
// in Go's runtime poller (a pipe from os.Pipe; a pty master from OpenPTY,
// except on macOS) is waited for there and read into a pooled buffer taken
// only once it is readable. Any other file (a regular file, /dev/null, a pty
// master on macOS, a pipe made outside the poller) is read with blocking
// reads into a small buffer, or a pooled large one while the child keeps
// it full. A timer shows a line that is due while Copy waits.
//
// On Linux, unless built with -tags procman_portable, an accelerator reads
// instead: one goroutine per Mux waits for all children's pipes in
// epoll_wait(2), on an epoll set of its own outside the runtime's poller,
// reads whichever are ready into one buffer, and times partial lines and
// writes itself; a writer that is a pipe gets a larger pipe buffer. Files
// epoll cannot wait for go to the portable reader.
package logmux

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fatih/color"
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
	RingSize   int              // bytes of recent output kept for Logs; 0 means DefaultRingSize, negative keeps none
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
	// readSize is the pooled read buffer, a pipe's worth: fewer, larger
	// reads and writes cut the CPU procman spends per MB.
	readSize = 256 << 10
	// flushAt is the batch size: write once this much is buffered.
	flushAt = 256 << 10
	// hardLimit bounds the shared buffer when one read expands into many
	// short lines (each gaining a prefix): formatting pauses to write.
	hardLimit = 256 << 10
	// keepCap is the largest buffer kept for reuse after a huge line.
	keepCap = 1 << 20
	// flushDelay is how long buffered output may wait for more lines.
	flushDelay = 3 * time.Millisecond
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
	// writing: when the write under way began (zero when none); inflight:
	// its length. abandoned: Abandon gave up on the writer; dropped counts
	// the bytes it never took.
	writing   time.Time
	inflight  int
	abandoned atomic.Bool
	dropped   int64

	brokenOnce sync.Once
	broken     chan struct{}

	accel accelerator // reads children in place of their Copy; nil: portable

	ring ring // recent output for Logs, and the feeds; under mu
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
	m.ring.size = opts.RingSize
	if m.ring.size == 0 {
		m.ring.size = DefaultRingSize
	}
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
	if newAccelerator != nil {
		m.accel = newAccelerator(m)
	}
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
	m.ring.event(e, now)
	if m.failed {
		m.mu.Unlock()
		return
	}
	var line []byte
	if m.opts.JSON {
		line = appendJSONEvent(nil, now, e)
	} else {
		line = m.appendTextEvent(nil, now, e, m.sysOpen, m.sysClose)
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
	if m.abandoned.Load() {
		return // the writer holds wmu for ever
	}
	m.wmu.Lock()
	defer m.wmu.Unlock()
	m.mu.Lock()
	out := m.buf
	m.buf, m.spare = m.spare[:0], nil
	m.armed = false
	m.since = time.Time{}
	failed := m.failed
	if len(out) > 0 && !failed {
		m.writing, m.inflight = time.Now(), len(out)
	}
	m.mu.Unlock()
	if len(out) > 0 && !failed {
		_, err := m.w.Write(out)
		m.mu.Lock()
		m.writing, m.inflight = time.Time{}, 0
		m.mu.Unlock()
		if err != nil {
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

// Stalled reports whether a write to the writer has been under way for at
// least d: whoever reads procman's output has stopped reading.
func (m *Mux) Stalled(d time.Duration) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.writing.IsZero() && time.Since(m.writing) >= d
}

// Abandon gives up on a stalled writer, so that procman can exit: what is
// buffered, the write under way, and everything that follows are dropped
// (Dropped counts them), and Close no longer waits. The goroutine blocked
// in the stalled write stays blocked.
func (m *Mux) Abandon() {
	m.mu.Lock()
	if m.abandoned.Load() {
		m.mu.Unlock()
		return
	}
	m.abandoned.Store(true)
	m.dropped += int64(len(m.buf) + len(m.deferred) + m.inflight)
	m.mu.Unlock()
	m.fail(errAbandoned)
}

// Dropped returns how many bytes of output Abandon dropped.
func (m *Mux) Dropped() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dropped
}

var errAbandoned = errors.New("logmux: output abandoned: the reader stopped reading")

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
