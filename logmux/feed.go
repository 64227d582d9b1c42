package logmux

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// FeedMax is how many undelivered bytes a Feed holds for a client that does
// not keep up. Beyond it the feed drops what comes until the client has
// taken everything it holds; the client then gets a notice of how many bytes
// it missed, and the feed goes on. The Mux never waits for a Feed.
const FeedMax = 1 << 20

// ErrStopped is returned by Feed.Next when its stop channel was closed
// before the feed had anything.
var ErrStopped = errors.New("logmux: stopped waiting for output")

// A Query selects lines of the stream for Logs.
type Query struct {
	Targets []string // "web" (every instance of the type) or "web.1"; none: every line, procman's own lines included
	Lines   int      // the last Lines lines kept in the ring (0: none)
	Follow  bool     // then every new line, until the Feed is closed or EndFeeds
	JSON    bool     // render as JSON objects (exactly as Options.JSON writes them); else text with the Mux's own options (timestamps, layout, label width)
	Color   bool     // colour labels in text, as Options.Color does
}

// A Feed delivers output to one client, from Logs or Tap. One goroutine
// reads it with Next; Close and End may be called from any goroutine.
type Feed struct {
	m       *Mux
	tap     bool     // from Tap: raw bytes; else from Logs: records
	label   string   // a Tap's
	targets []string // a Logs feed's
	match   []int8   // by label number - 1, with Mux.mu held: 1 wanted, -1 not
	ready   chan struct{}

	mu      sync.Mutex
	buf     []byte // undelivered: a Tap's bytes, or records for Logs
	spare   []byte // Logs: the records buffer Next last rendered
	skipped int64  // bytes dropped since the client last caught up
	gap     bool   // records were dropped (a break record has no bytes)
	ended   bool
	closed  bool
	snap    []byte // Logs: the ring's records, until the first Next
	labels  []string
	locs    []*time.Location

	next   sync.Mutex // held by Next
	fresh  bool       // Logs: the snapshot is still to be rendered
	lines  int
	follow bool
	render *renderer // nil once Next returned io.EOF
}

// Logs returns the lines of the stream that q selects, formatted as
// `procman start` writes them: the last q.Lines lines kept in the ring,
// then, with q.Follow, every new line until the Feed is closed or EndFeeds
// is called. A line whose beginning has left the ring is not shown; a
// line still without its newline is shown when the stream shows it
// (PartialDelay after it began, with '\n' added). Lines are formatted by
// the reader, in Next.
func (m *Mux) Logs(q Query) *Feed {
	q.Targets = slices.Clone(q.Targets)
	f := &Feed{
		m:       m,
		targets: q.Targets,
		ready:   make(chan struct{}, 1),
		fresh:   true,
		lines:   q.Lines,
		follow:  q.Follow,
		render:  newRenderer(m, q),
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r := &m.ring
	// The snapshot and the subscription are taken at one instant: no line
	// is missed or shown twice between the two.
	if q.Lines > 0 || q.Follow {
		f.snap = r.snapshot()
	}
	f.labels, f.locs = r.labels, r.locs
	if q.Follow && !r.ended {
		r.follows = append(r.follows, f)
	} else {
		f.ended = true
	}
	return f
}

// Tap returns the raw bytes of label's output ("web.1") from now on,
// exactly as the child wrote them: no prefixes, no added newlines, and
// also for a process type that Options.Quiet leaves out of the stream. The
// Feed lasts until End, Close or EndFeeds; it is not ended when the
// process exits (the supervisor says so with End), and output of a new
// process under the same label goes to it too.
func (m *Mux) Tap(label string) *Feed { return m.TapRecent(label, 0, 0) }

// TapRecent is Tap, with the feed starting with the last lines (at most
// recentMax bytes) of what process pid wrote under label that the ring
// still holds, raw: a client that attaches sees the prompt the process
// showed before it came. The past and what follows meet without a gap or
// a byte twice.
func (m *Mux) TapRecent(label string, pid, lines int) *Feed {
	f := &Feed{m: m, tap: true, label: label, ready: make(chan struct{}, 1)}
	m.mu.Lock()
	defer m.mu.Unlock()
	r := &m.ring
	if lines > 0 {
		f.buf = r.recent(label, pid, lines)
	}
	if r.ended {
		f.ended = true
		return f
	}
	if r.taps == nil {
		r.taps = make(map[string][]*Feed)
	}
	r.taps[label] = append(r.taps[label], f)
	r.ntaps.Add(1)
	return f
}

// EndFeeds ends every Feed: Next returns what each still holds, then
// io.EOF. Feeds that Logs and Tap return afterwards end at once (Logs
// still with the ring's lines). procman calls it when it stops.
func (m *Mux) EndFeeds() {
	m.mu.Lock()
	r := &m.ring
	r.ended = true
	feeds := r.follows
	for _, taps := range r.taps {
		feeds = append(feeds, taps...)
	}
	r.follows, r.taps = nil, nil
	r.ntaps.Store(0)
	m.mu.Unlock()
	for _, f := range feeds {
		f.setEnded(false)
	}
}

// unsubscribe stops feeding f.
func (m *Mux) unsubscribe(f *Feed) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := &m.ring
	if !f.tap {
		if i := slices.Index(r.follows, f); i >= 0 {
			r.follows = slices.Delete(r.follows, i, i+1)
		}
		return
	}
	taps := r.taps[f.label]
	if i := slices.Index(taps, f); i >= 0 {
		if taps = slices.Delete(taps, i, i+1); len(taps) == 0 {
			delete(r.taps, f.label)
		} else {
			r.taps[f.label] = taps
		}
		r.ntaps.Add(-1)
	}
}

// Close says the client is gone: the Feed is no longer fed, what it holds
// is freed, and Next returns io.EOF. It may be called more than once, from
// any goroutine.
func (f *Feed) Close() {
	f.m.unsubscribe(f)
	f.setEnded(true)
}

// End says no more is coming (the supervisor ends a Tap when its process
// has exited): Next returns what the Feed holds, then io.EOF. It may be
// called more than once, from any goroutine.
func (f *Feed) End() {
	f.m.unsubscribe(f)
	f.setEnded(false)
}

func (f *Feed) setEnded(closed bool) {
	f.mu.Lock()
	f.ended = true
	if closed {
		f.closed = true
		f.buf, f.spare, f.snap = nil, nil, nil
	}
	f.mu.Unlock()
	f.wake()
}

func (f *Feed) wake() {
	select {
	case f.ready <- struct{}{}:
	default:
	}
}

// wants reports, with Mux.mu held, whether the records of label id are for
// this Logs feed.
func (f *Feed) wants(r *ring, id uint32) bool {
	i := int(id) - 1
	for len(f.match) <= i {
		f.match = append(f.match, 0)
	}
	if f.match[i] == 0 {
		f.match[i] = -1
		if matches(f.targets, r.labels[i]) {
			f.match[i] = 1
		}
	}
	return f.match[i] > 0
}

func (f *Feed) wantsEvent(proc string) bool { return matchesEvent(f.targets, proc) }

// pushRecord gives a record to a Logs feed, with Mux.mu held, or drops it
// when the feed is full or still dropping.
func (f *Feed) pushRecord(r *ring, h, data []byte) {
	f.mu.Lock()
	if f.gap || len(f.buf)+len(h)+len(data) > FeedMax {
		f.gap = true
		f.skipped += int64(len(data))
		f.mu.Unlock()
		return
	}
	// The record may name a label or location that is new since Logs.
	f.labels, f.locs = r.labels, r.locs
	f.buf = append(grow(f.buf, len(h)+len(data)), h...)
	f.buf = append(f.buf, data...)
	f.mu.Unlock()
	f.wake()
}

// Echo adds p to a Tap's bytes, in order with the child's output, as if
// the child had written it: what an attached client types, shown back to
// it when no pty echoes it. It does not reach the stream or the ring.
func (f *Feed) Echo(p []byte) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	f.pushRaw(p)
}

// pushRaw gives a read's bytes to a Tap, with Mux.mu held.
func (f *Feed) pushRaw(data []byte) {
	f.mu.Lock()
	if f.gap || len(f.buf)+len(data) > FeedMax {
		f.gap = true
		f.skipped += int64(len(data))
		f.mu.Unlock()
		return
	}
	f.buf = append(grow(f.buf, len(data)), data...)
	f.mu.Unlock()
	f.wake()
}

// grow makes room for n more bytes in b without going over FeedMax
// (append's growth could double it).
func grow(b []byte, n int) []byte {
	if len(b)+n <= cap(b) {
		return b
	}
	nb := make([]byte, len(b), min(FeedMax, max(2*cap(b), len(b)+n, 4<<10)))
	copy(nb, b)
	return nb
}

// skipNotice is the text a Tap's client gets in place of what it missed.
const skipNotice = "\r\n[procman: %d bytes of output skipped: this client did not keep up]\r\n"

// Next waits until the feed has bytes and returns them; the caller may
// keep the slice. It returns io.EOF once the feed has ended and is empty,
// or has been closed, and ErrStopped when stop is closed first. A client
// that fell FeedMax behind gets, after what the feed held, a notice of
// how many bytes it missed: for Logs a system line in the stream's format,
// for a Tap a line of text between "\r\n". Next must not be called by two
// goroutines at once.
func (f *Feed) Next(stop <-chan struct{}) ([]byte, error) {
	f.next.Lock()
	defer f.next.Unlock()
	for {
		var out []byte
		var err error
		if f.tap {
			out, err = f.nextRaw()
		} else {
			out, err = f.nextLines()
		}
		if len(out) > 0 || err != nil {
			return out, err
		}
		select {
		case <-f.ready:
		case <-stop:
			return nil, ErrStopped
		}
	}
}

// nextRaw takes what a Tap holds; nothing, nil: wait.
func (f *Feed) nextRaw() ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.closed:
		return nil, io.EOF
	case len(f.buf) > 0:
		out := f.buf
		f.buf = nil
		return out, nil
	case f.gap:
		n := f.skipped
		f.gap, f.skipped = false, 0
		return fmt.Appendf(nil, skipNotice, n), nil
	case f.ended:
		return nil, io.EOF
	}
	return nil, nil
}

// nextLines renders what a Logs feed holds; nothing, nil: wait.
func (f *Feed) nextLines() ([]byte, error) {
	for {
		if f.render == nil {
			return nil, io.EOF
		}
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			f.render = nil
			return nil, io.EOF
		}
		f.render.labels, f.render.locs = f.labels, f.locs
		if f.fresh {
			f.fresh = false
			snap := f.snap
			f.snap = nil
			f.mu.Unlock()
			if out := f.renderSnapshot(snap); len(out) > 0 {
				return out, nil
			}
			continue
		}
		recs := f.buf
		f.buf, f.spare = f.spare, nil
		var skipped int64
		gap := f.gap && len(recs) == 0
		if gap {
			skipped = f.skipped
			f.gap, f.skipped = false, 0
		}
		ended := f.ended
		f.mu.Unlock()
		if len(recs) == 0 && !gap {
			if !ended {
				return nil, nil
			}
			// A long text line still open ends with the feed.
			out := f.render.finish(nil)
			f.render = nil
			if len(out) > 0 {
				return out, nil
			}
			return nil, io.EOF
		}
		out := f.render.render(nil, recs)
		if gap {
			out = f.render.finish(out)
			f.render.forget()
			e := Event{Kind: "skipped", Msg: fmt.Sprintf("%d bytes of output skipped: this client did not keep up", skipped)}
			out = f.render.event(out, f.m.opts.Now(), e)
		}
		f.mu.Lock()
		if !f.closed && cap(recs) <= FeedMax {
			f.spare = recs[:0]
		}
		f.mu.Unlock()
		if len(out) > 0 {
			return out, nil
		}
	}
}

// renderSnapshot renders the ring's records taken by Logs and keeps the
// last lines asked for; the renderer goes on from there with the records
// that follow.
func (f *Feed) renderSnapshot(snap []byte) []byte {
	out := f.render.render(nil, snap)
	if !f.follow {
		out = f.render.finish(out)
	}
	if f.lines <= 0 {
		f.render.unstream()
		return nil
	}
	last := lastLines(out, f.lines)
	if len(last) < len(out)/2 {
		last = slices.Clone(last)
	}
	return last
}
