package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"sync"
	"time"
)

// A stream is a connection that carries a Feed after its response line.
type stream struct {
	c    *os.File
	stop chan struct{} // closed by end: Next returns early
	once sync.Once
}

// end stops the stream: the feed's Next returns, and a read or write
// blocked on the connection fails (a client that neither reads nor closes
// is cut here). It is idempotent and safe from any goroutine.
func (st *stream) end() {
	st.once.Do(func() {
		close(st.stop)
		st.c.SetDeadline(time.Now())
	})
}

var errNoStream = errors.New("procman answered without a stream")

// stream serves a logs or attach connection whose request the supervisor
// has answered: a's Feed (logs) or Session (attach) goes to the client
// after the OK line, until it ends, the client leaves or Close cuts it.
// free gives back the connection's maxConns slot once the stream is under
// way. This goroutine sends; another reads the client: its frames, for
// attach (a third hands the input on, see inbox); for logs only the end
// of it. A follower that closes (or shuts down) its side has gone; a
// client that wants only the past lines may shut down its side after the
// request, as with any request, and still gets them.
func (s *Server) stream(c *os.File, br *bufio.Reader, req Request, a Answer, free func()) {
	var feed Feed
	var sess Session
	if a.Err == nil {
		if req.Op == OpAttach {
			sess, a.Session = a.Session, nil
			feed = sess // nil if sess is
		} else {
			feed, a.Feed = a.Feed, nil
		}
		if feed == nil {
			a.Err = errNoStream
		}
	}
	if a.Err != nil {
		s.reply(c, a)
		return
	}
	a.discard() // a Feed answering attach, a Session answering logs
	st := &stream{c: c, stop: make(chan struct{})}
	if !s.promote(st) {
		feed.Close()
		s.reply(c, Answer{Err: errStopping})
		return
	}
	defer s.demote(st)
	free()

	// The OK line goes first, so that a client that leaves at once (a
	// detach, a follower that shuts down its side) still has its answer.
	ok, _ := json.Marshal(Response{V: Version, OK: true})
	if _, err := c.Write(append(ok, '\n')); err != nil {
		feed.Close()
		return
	}
	var readers sync.WaitGroup
	readers.Go(func() {
		if sess != nil {
			q := newInbox()
			readers.Go(func() { q.feed(sess, st.stop) })
			readFrames(br, q, st.stop)
			st.end()
			return
		}
		io.Copy(io.Discard, br) // anything sent after a logs request is ignored
		if req.Follow {
			st.end()
		}
		// Else a client that has gone makes the next write fail, and
		// the feed ends on its own.
	})
	if sess == nil {
		pumpRaw(c, feed, st.stop)
	} else {
		pumpFrames(c, sess, st.stop)
	}
	st.end()
	// After Next has returned, as the Feed's contract says; the inbox's
	// goroutine may wait in Input for it.
	feed.Close()
	readers.Wait()
}

// promote makes c's connection a stream: no deadline, and out of the set
// that Close cuts off at once. It refuses once Close has cut the streams.
func (s *Server) promote(st *stream) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cutting {
		return false
	}
	delete(s.conns, st.c)
	s.streams[st] = struct{}{}
	st.c.SetDeadline(time.Time{})
	return true
}

func (s *Server) demote(st *stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.streams, st)
	if s.drained != nil && len(s.streams) == 0 {
		close(s.drained)
		s.drained = nil
	}
}

// pumpRaw copies feed to c until the feed ends, stop is closed or the
// client is gone.
func pumpRaw(c io.Writer, feed Feed, stop <-chan struct{}) {
	for {
		b, err := feed.Next(stop)
		if len(b) > 0 {
			if _, werr := c.Write(b); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// pumpFrames sends the session's output to c in 'o' frames until it ends,
// then its Ending in an 'x' frame; it returns early when stop is closed or
// the client is gone.
func pumpFrames(c io.Writer, sess Session, stop <-chan struct{}) {
	buf := make([]byte, 0, frameHeader+maxFrame)
	for {
		b, err := sess.Next(stop)
		for len(b) > 0 {
			n := min(len(b), maxFrame)
			if _, werr := c.Write(appendFrame(buf[:0], frameOutput, b[:n])); werr != nil {
				return
			}
			b = b[n:]
		}
		if err == io.EOF {
			end, _ := json.Marshal(sess.Ending())
			c.Write(appendFrame(buf[:0], frameEnd, end))
			return
		}
		if err != nil {
			return
		}
	}
}

// readFrames puts the client's input and window sizes in q until the
// client closes its side, the connection fails, a frame is malformed or
// stop is closed.
func readFrames(br *bufio.Reader, q *inbox, stop <-chan struct{}) {
	for {
		typ, p, err := readFrame(br)
		if err != nil {
			return
		}
		switch typ {
		case frameInput:
			if !q.put(p, stop) {
				return
			}
		case frameWindow:
			cols, rows, err := parseWindow(p)
			if err != nil {
				return
			}
			q.resize(cols, rows)
		default:
			return
		}
	}
}

// maxInbox bounds the input an attach connection holds for a process that
// does not read it.
const maxInbox = 256 << 10

// An inbox holds an attached client's input and window size between the
// goroutine that reads its frames and the one that hands them to the
// Session, whose Input (and Resize) may block while the process does not
// read. So the frames are read on, and a client that leaves is noticed,
// unless it has sent more than maxInbox that the process has not taken;
// then the reader waits too, and the session is Closed when the process
// reads, writes or ends, or procman stops. Of sizes, only the latest
// counts.
type inbox struct {
	mu    sync.Mutex
	buf   []byte
	size  [2]int        // cols, rows; 0 when none came since the last take
	ready chan struct{} // a token: there may be something to take
	room  chan struct{} // a token: buf was taken
}

func newInbox() *inbox {
	return &inbox{ready: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// put adds p to the input, waiting for room; false when stop is closed
// first.
func (q *inbox) put(p []byte, stop <-chan struct{}) bool {
	if len(p) == 0 {
		return true
	}
	for {
		q.mu.Lock()
		if len(q.buf) == 0 || len(q.buf)+len(p) <= maxInbox {
			q.buf = append(q.buf, p...)
			q.mu.Unlock()
			signal(q.ready)
			return true
		}
		q.mu.Unlock()
		select {
		case <-q.room:
		case <-stop:
			return false
		}
	}
}

// resize records the latest window size.
func (q *inbox) resize(cols, rows int) {
	q.mu.Lock()
	q.size = [2]int{cols, rows}
	q.mu.Unlock()
	signal(q.ready)
}

// feed hands what is put, in order and in as few calls as it came, to
// sess.Input, and then the latest size to sess.Resize, until stop is
// closed.
func (q *inbox) feed(sess Session, stop <-chan struct{}) {
	for {
		q.mu.Lock()
		p, size := q.buf, q.size
		q.buf, q.size = nil, [2]int{}
		q.mu.Unlock()
		if len(p) == 0 && size[0] == 0 {
			select {
			case <-q.ready:
				continue
			case <-stop:
				return
			}
		}
		if len(p) > 0 {
			signal(q.room)
			sess.Input(p) // an error drops the bytes; Next says when it is over
		}
		if size[0] != 0 {
			sess.Resize(size[0], size[1])
		}
		select {
		case <-stop:
			return
		default:
		}
	}
}
