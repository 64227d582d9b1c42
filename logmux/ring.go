package logmux

import (
	"bytes"
	"encoding/binary"
	"sync/atomic"
	"time"

	"github.com/fatih/color"
)

// The ring keeps recent output as the records of reads, not as lines: a
// read costs one copy into it, and Logs makes lines of the records only
// when a client asks, on the client's goroutine.

// DefaultRingSize is the ring's size when Options.RingSize is 0: at most
// this many bytes of recent output (children's reads and procman's events,
// each with a record header of recHead bytes) are kept for Logs. The ring
// takes its memory as output arrives, up to this size.
const DefaultRingSize = 1 << 20

// A record is recHead bytes of header, then the read's bytes or the
// encoded event:
//
//	0  uint32 size of the record, header included
//	4  kind
//	5  location of the time (an index into ring.locs)
//	6  uint32 label (an index into ring.labels, plus 1; 0 for events)
//	10 int32 pid
//	14 int64 time, Unix nanoseconds
const recHead = 22

// Kinds of record.
const (
	recOutput byte = iota + 1 // a read that continues a line
	recLine                   // a read that begins at the start of a line
	recBreak                  // the output showed the open line without its newline
	recEvent                  // one of procman's events
)

// ringMin is the ring's first allocation: an idle procman keeps little.
const ringMin = 4 << 10

// A ring is the circular buffer of records and the registry of the feeds
// that follow them. All of it is used with Mux.mu held, except ntaps.
type ring struct {
	size int    // the most buf may grow to; <= 0 keeps nothing
	buf  []byte // records, the oldest at head, wrapping around
	head int
	used int

	// Labels and time locations are named in records by number. Both
	// slices only grow and their elements never change, so a feed may
	// keep a copy of the slice and read it without Mux.mu.
	ids    map[string]uint32
	labels []string
	locs   []*time.Location

	follows []*Feed            // Logs feeds with Follow
	taps    map[string][]*Feed // by label
	ntaps   atomic.Int32       // feeds in taps, read without mu by quiet streams
	ended   bool               // EndFeeds was called
	scratch []byte             // an event being encoded
}

// intern returns the number of label, giving it the next one the first
// time. Copy calls it when it picks the label's colour, so a label's number
// (minus 1) is also its place in the palette.
func (r *ring) intern(label string) uint32 {
	if id, ok := r.ids[label]; ok {
		return id
	}
	if r.ids == nil {
		r.ids = make(map[string]uint32)
	}
	r.labels = append(r.labels, label)
	id := uint32(len(r.labels))
	r.ids[label] = id
	return id
}

// loc returns the number of a time's location; a clock uses one.
func (r *ring) loc(l *time.Location) byte {
	for i, have := range r.locs {
		if have == l {
			return byte(i)
		}
	}
	if len(r.locs) > 255 {
		return 0 // a clock of many zones: timestamps show in the first
	}
	r.locs = append(r.locs, l)
	return byte(len(r.locs) - 1)
}

func (r *ring) header(h *[recHead]byte, size int, kind byte, id uint32, pid int, now time.Time) {
	binary.LittleEndian.PutUint32(h[0:], uint32(size))
	h[4] = kind
	h[5] = r.loc(now.Location())
	binary.LittleEndian.PutUint32(h[6:], id)
	binary.LittleEndian.PutUint32(h[10:], uint32(int32(pid)))
	binary.LittleEndian.PutUint64(h[14:], uint64(now.UnixNano()))
}

// output keeps one read of s, with mu held: in the ring, for the feeds that
// follow s's label, and for its taps.
func (r *ring) output(s *stream, data []byte, now time.Time) {
	if len(data) == 0 {
		return
	}
	if s.rid == 0 {
		s.rid = r.intern(s.label)
	}
	kind := recLine
	if s.ringOpen {
		kind = recOutput
	}
	s.ringOpen = data[len(data)-1] != '\n'
	if r.size <= 0 && len(r.follows) == 0 && r.ntaps.Load() == 0 {
		return
	}
	var h [recHead]byte
	r.header(&h, recHead+len(data), kind, s.rid, s.pid, now)
	r.keepOutput(h, data)
	for _, f := range r.follows {
		if f.wants(r, s.rid) {
			f.pushRecord(r, h[:], data)
		}
	}
	if r.ntaps.Load() > 0 {
		r.tap(s.label, data)
	}
}

// keepUpTo keeps, with mu held, the part of s's read that is formatted,
// rest being what is not: formatting pauses there to write, and another
// child's lines may come next.
func (r *ring) keepUpTo(s *stream, rest []byte, now time.Time) {
	if len(rest) > len(s.unkept) {
		return // not called from process (BenchmarkFormat)
	}
	r.output(s, s.unkept[:len(s.unkept)-len(rest)], now)
	s.unkept = rest
}

// keepOutput adds a read to the ring; of a read larger than the ring it
// keeps the end (h is a copy: followers get the whole read).
func (r *ring) keepOutput(h [recHead]byte, data []byte) {
	if recHead+len(data) > r.size {
		keep := r.size - recHead
		if keep <= 0 {
			return
		}
		cut := len(data) - keep
		if data[cut-1] == '\n' {
			h[4] = recLine
		} else {
			h[4] = recOutput
		}
		data = data[cut:]
		binary.LittleEndian.PutUint32(h[0:], uint32(recHead+len(data)))
	}
	r.add(h[:], data)
}

// tap gives a read's bytes to label's taps.
func (r *ring) tap(label string, data []byte) {
	for _, f := range r.taps[label] {
		f.pushRaw(data)
	}
}

// lineBreak records, with mu held, that the output ended s's open line
// without its newline (a prompt shown after PartialDelay, a last line at
// EOF): Logs shows it the same way.
func (r *ring) lineBreak(s *stream, now time.Time) {
	if !s.ringOpen {
		return
	}
	s.ringOpen = false
	var h [recHead]byte
	r.header(&h, recHead, recBreak, s.rid, s.pid, now)
	if r.size >= recHead {
		r.add(h[:], nil)
	}
	for _, f := range r.follows {
		if f.wants(r, s.rid) {
			f.pushRecord(r, h[:], nil)
		}
	}
}

// event records one of procman's events, with mu held.
func (r *ring) event(e Event, now time.Time) {
	if r.size <= 0 && len(r.follows) == 0 {
		return
	}
	r.scratch = appendEventRecord(r.scratch[:0], e)
	var h [recHead]byte
	r.header(&h, recHead+len(r.scratch), recEvent, 0, 0, now)
	if recHead+len(r.scratch) <= r.size {
		r.add(h[:], r.scratch)
	}
	for _, f := range r.follows {
		if f.wantsEvent(e.Proc) {
			f.pushRecord(r, h[:], r.scratch)
		}
	}
	if cap(r.scratch) > pendingKeep {
		r.scratch = nil
	}
}

// add appends a record of at most size bytes, growing the ring up to its
// size and then evicting the oldest records.
func (r *ring) add(h, data []byte) {
	n := len(h) + len(data)
	if r.used+n > len(r.buf) && len(r.buf) < r.size {
		r.grow(r.used + n)
	}
	for r.used+n > len(r.buf) {
		oldest := int(r.u32(r.head))
		r.used -= oldest
		r.head = (r.head + oldest) % len(r.buf)
	}
	if r.used == 0 {
		r.head = 0
	}
	tail := r.put((r.head+r.used)%len(r.buf), h)
	r.put(tail, data)
	r.used += n
}

// grow makes the ring at least need bytes, doubling, up to its size.
func (r *ring) grow(need int) {
	buf := make([]byte, min(r.size, max(ringMin, 2*len(r.buf), need)))
	r.copyTo(buf)
	r.buf, r.head = buf, 0
}

// copyTo copies the records, oldest first, to the start of dst.
func (r *ring) copyTo(dst []byte) {
	n := copy(dst, r.buf[r.head:min(r.head+r.used, len(r.buf))])
	copy(dst[n:r.used], r.buf)
}

// snapshot returns a copy of the records, oldest first.
func (r *ring) snapshot() []byte {
	if r.used == 0 {
		return nil
	}
	out := make([]byte, r.used)
	r.copyTo(out)
	return out
}

// put copies p into the ring at i, wrapping, and returns where it ended.
func (r *ring) put(i int, p []byte) int {
	n := copy(r.buf[i:], p)
	if n < len(p) {
		return copy(r.buf, p[n:])
	}
	return (i + n) % len(r.buf)
}

// u32 reads the size at the start of the record at i, which may wrap.
func (r *ring) u32(i int) uint32 {
	if i+4 <= len(r.buf) {
		return binary.LittleEndian.Uint32(r.buf[i:])
	}
	var b [4]byte
	for k := range b {
		b[k] = r.buf[(i+k)%len(r.buf)]
	}
	return binary.LittleEndian.Uint32(b[:])
}

// appendEventRecord encodes e for a record.
func appendEventRecord(dst []byte, e Event) []byte {
	for _, v := range [...]int64{int64(e.Pid), int64(e.Code), int64(e.Delay), int64(e.Port)} {
		dst = binary.AppendVarint(dst, v)
	}
	for _, s := range [...]string{e.Proc, e.Kind, e.Signal, e.Msg} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	return dst
}

// decodeEvent reverses appendEventRecord.
func decodeEvent(p []byte) (e Event, ok bool) {
	var ints [4]int64
	for i := range ints {
		v, n := binary.Varint(p)
		if n <= 0 {
			return e, false
		}
		ints[i], p = v, p[n:]
	}
	var strs [4]string
	for i := range strs {
		l, n := binary.Uvarint(p)
		if n <= 0 || l > uint64(len(p)-n) {
			return e, false
		}
		strs[i], p = string(p[n:n+int(l)]), p[n+int(l):]
	}
	return Event{
		Pid: int(ints[0]), Code: int(ints[1]), Delay: time.Duration(ints[2]), Port: int(ints[3]),
		Proc: strs[0], Kind: strs[1], Signal: strs[2], Msg: strs[3],
	}, true
}

// matches reports whether label is selected by targets: a process type
// ("web") selects its instances, an instance ("web.1") itself; no targets
// select everything.
func matches(targets []string, label string) bool {
	if len(targets) == 0 {
		return true
	}
	for _, t := range targets {
		if label == t || procType(label) == t {
			return true
		}
	}
	return false
}

// matchesEvent is matches for an event: procman's own (Proc "") only
// without targets.
func matchesEvent(targets []string, proc string) bool {
	if proc == "" {
		return len(targets) == 0
	}
	return matches(targets, proc)
}

// A renderer turns records back into the lines that the output showed, as
// the stream formats them (see textLines, jsonLines and endLine): each
// label's reads are put together into lines, a line whose beginning is
// not among the records is dropped, and a text line of textStreamAt or
// more is written as it comes, holding events back until it ends. It runs
// on the reader's goroutine.
type renderer struct {
	m       *Mux
	json    bool
	color   bool
	targets []string
	labels  []string
	locs    []*time.Location

	states    []labelState // by label number - 1
	streaming uint32       // the label whose long text line is open, or 0
	deferred  []byte       // events that wait for that line's end
	head      []byte       // the prefix or JSON head of the current record
	sysOn     string
	sysOff    string
}

type labelState struct {
	match   int8 // 0: not yet known, 1: shown, -1: filtered out
	seen    bool // a record of the label was seen: skip is known
	skip    bool // the line's beginning is gone: drop up to its end
	pending []byte
	on, off string
}

func newRenderer(m *Mux, q Query) *renderer {
	r := &renderer{m: m, json: q.JSON, color: q.Color && !q.JSON, targets: q.Targets}
	if r.color {
		r.sysOn, r.sysOff = escapes(color.New(color.Bold))
	}
	return r
}

// state returns the state of label id, or nil when the label is not shown.
func (r *renderer) state(id uint32) *labelState {
	if id == 0 || int(id) > len(r.labels) {
		return nil
	}
	for len(r.states) < int(id) {
		r.states = append(r.states, labelState{})
	}
	st := &r.states[id-1]
	if st.match == 0 {
		st.match = -1
		if matches(r.targets, r.labels[id-1]) {
			st.match = 1
			if r.color {
				st.on, st.off = escapes(color.New(palette[int(id-1)%len(palette)]))
			}
		}
	}
	if st.match < 0 {
		return nil
	}
	return st
}

// render appends the lines of the records in recs to dst.
func (r *renderer) render(dst, recs []byte) []byte {
	for len(recs) >= recHead {
		n := int(binary.LittleEndian.Uint32(recs))
		if n < recHead || n > len(recs) {
			break // cannot happen: records are written whole
		}
		rec := recs[:n]
		recs = recs[n:]
		kind := rec[4]
		t := time.Unix(0, int64(binary.LittleEndian.Uint64(rec[14:])))
		if l := int(rec[5]); l < len(r.locs) {
			t = t.In(r.locs[l])
		}
		if kind == recEvent {
			if e, ok := decodeEvent(rec[recHead:]); ok && matchesEvent(r.targets, e.Proc) {
				dst = r.event(dst, t, e)
			}
			continue
		}
		id := binary.LittleEndian.Uint32(rec[6:])
		st := r.state(id)
		if st == nil {
			continue
		}
		if r.streaming != 0 && r.streaming != id {
			// The output never lets another child in while a long line
			// is open; should the records say otherwise, end the line.
			dst = r.endStreamed(append(dst, '\n'))
		}
		pid := int(int32(binary.LittleEndian.Uint32(rec[10:])))
		data := rec[recHead:]
		if !st.seen {
			st.seen, st.skip = true, kind == recOutput
		}
		if kind == recBreak {
			if st.skip {
				st.skip = false
			} else {
				dst = r.endLine(dst, id, st, t, pid)
			}
			continue
		}
		if st.skip {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				continue
			}
			st.skip, data = false, data[i+1:]
		}
		if r.json {
			dst = r.jsonLines(dst, id, st, t, pid, data)
		} else {
			dst = r.textLines(dst, id, st, t, data)
		}
	}
	return dst
}

func (r *renderer) event(dst []byte, t time.Time, e Event) []byte {
	if r.json {
		return appendJSONEvent(dst, t, e)
	}
	if r.streaming != 0 {
		r.deferred = r.m.appendTextEvent(r.deferred, t, e, r.sysOn, r.sysOff)
		return dst
	}
	return r.m.appendTextEvent(dst, t, e, r.sysOn, r.sysOff)
}

// textLines is stream.textLines for a record.
func (r *renderer) textLines(dst []byte, id uint32, st *labelState, t time.Time, data []byte) []byte {
	if r.streaming == id {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return append(dst, data...)
		}
		dst = r.endStreamed(append(dst, data[:i+1]...))
		data = data[i+1:]
	}
	if len(data) == 0 {
		return dst
	}
	r.head = r.m.appendPrefix(r.head[:0], t, r.labels[id-1], st.on, st.off)
	if len(st.pending) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if len(st.pending)+len(data) < textStreamAt {
				st.pending = append(st.pending, data...)
				return dst
			}
			dst = append(append(append(dst, r.head...), st.pending...), data...)
			st.clearPending()
			r.streaming = id
			return dst
		}
		dst = append(append(append(dst, r.head...), st.pending...), data[:i+1]...)
		st.clearPending()
		data = data[i+1:]
	}
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		dst = append(append(dst, r.head...), data[:i+1]...)
		data = data[i+1:]
	}
	switch {
	case len(data) >= textStreamAt:
		dst = append(append(dst, r.head...), data...)
		r.streaming = id
	case len(data) > 0:
		st.pending = append(st.pending, data...)
	}
	return dst
}

// jsonLines is stream.jsonLines for a record.
func (r *renderer) jsonLines(dst []byte, id uint32, st *labelState, t time.Time, pid int, data []byte) []byte {
	r.head = appendJSONHead(r.head[:0], t, r.labels[id-1], pid)
	if len(st.pending) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			st.pending = append(st.pending, data...)
			return r.cutJSON(dst, st)
		}
		st.pending = append(st.pending, data[:i]...)
		dst = r.cutJSON(dst, st)
		dst = appendJSONLine(dst, r.head, st.pending, false)
		st.clearPending()
		data = data[i+1:]
	}
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		dst = appendJSONLine(dst, r.head, data[:i], false)
		data = data[i+1:]
	}
	st.pending = append(st.pending, data...)
	return dst
}

// cutJSON is stream.cutJSON.
func (r *renderer) cutJSON(dst []byte, st *labelState) []byte {
	for len(st.pending) > MaxJSONLine {
		n := runeCut(st.pending, MaxJSONLine)
		dst = appendJSONLine(dst, r.head, st.pending[:n], true)
		st.pending = st.pending[:copy(st.pending, st.pending[n:])]
	}
	return dst
}

// endLine is stream.endLine for a break record.
func (r *renderer) endLine(dst []byte, id uint32, st *labelState, t time.Time, pid int) []byte {
	switch {
	case r.streaming == id:
		dst = r.endStreamed(append(dst, '\n'))
	case len(st.pending) > 0 && r.json:
		r.head = appendJSONHead(r.head[:0], t, r.labels[id-1], pid)
		dst = appendJSONLine(dst, r.head, st.pending, true)
		st.clearPending()
	case len(st.pending) > 0:
		dst = r.m.appendPrefix(dst, t, r.labels[id-1], st.on, st.off)
		dst = append(append(dst, st.pending...), '\n')
		st.clearPending()
	}
	return dst
}

// endStreamed closes the long text line being written (its newline is
// already in dst); the events held back follow it.
func (r *renderer) endStreamed(dst []byte) []byte {
	r.streaming = 0
	dst = append(dst, r.deferred...)
	r.deferred = r.deferred[:0]
	return dst
}

// finish ends a long text line still open where the records end, as
// showing a partial line does.
func (r *renderer) finish(dst []byte) []byte {
	if r.streaming != 0 {
		dst = r.endStreamed(append(dst, '\n'))
	}
	return dst
}

// forget is for a gap in the records (a feed dropped some): every label's
// next line may have lost its beginning.
func (r *renderer) forget() {
	for i := range r.states {
		st := &r.states[i]
		st.seen, st.skip, st.pending = false, false, nil
	}
}

// unstream is for the lines before a snapshot's last that are not shown:
// the long text line still open is not shown either, so its rest is not.
func (r *renderer) unstream() {
	if r.streaming != 0 {
		r.states[r.streaming-1].skip = true
		r.streaming = 0
		r.deferred = r.deferred[:0]
	}
}

func (st *labelState) clearPending() {
	if cap(st.pending) > pendingKeep {
		st.pending = nil
	} else {
		st.pending = st.pending[:0]
	}
}

// lastLines returns the last n lines of out; an unfinished last line
// counts as one.
func lastLines(out []byte, n int) []byte {
	i := len(out)
	if i > 0 && out[i-1] == '\n' {
		i--
	}
	for ; n > 0; n-- {
		j := bytes.LastIndexByte(out[:i], '\n')
		if j < 0 {
			return out
		}
		if n == 1 {
			return out[j+1:]
		}
		i = j
	}
	return out[:0]
}
