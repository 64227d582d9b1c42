package control

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var errStopped = errors.New("stopped")

// fakeFeed is a Feed the test fills: each chunk sent on data is one Next,
// closing data ends the feed. It records a Close while Next runs, which
// the contract forbids.
type fakeFeed struct {
	data    chan []byte
	closed  chan struct{}
	once    sync.Once
	inNext  atomic.Bool
	overlap atomic.Bool
}

func newFeed() *fakeFeed {
	return &fakeFeed{data: make(chan []byte), closed: make(chan struct{})}
}

// endedFeed holds s (if any), then ends.
func endedFeed(s string) *fakeFeed {
	f := newFeed()
	f.data = make(chan []byte, 1)
	if s != "" {
		f.data <- []byte(s)
	}
	close(f.data)
	return f
}

func (f *fakeFeed) Next(stop <-chan struct{}) ([]byte, error) {
	f.inNext.Store(true)
	defer f.inNext.Store(false)
	select {
	case b, ok := <-f.data:
		if !ok {
			return nil, io.EOF
		}
		return b, nil
	case <-stop:
		return nil, errStopped
	}
}

func (f *fakeFeed) Close() {
	if f.inNext.Load() {
		f.overlap.Store(true)
	}
	f.once.Do(func() { close(f.closed) })
}

// send hands b to the server's next Next.
func (f *fakeFeed) send(t *testing.T, b []byte) {
	t.Helper()
	select {
	case f.data <- b:
	case <-f.closed:
		t.Fatal("the feed was closed")
	case <-time.After(deadline):
		t.Fatal("the server does not take the feed's bytes")
	}
}

// waitClosed waits for the server to Close the feed.
func (f *fakeFeed) waitClosed(t *testing.T) {
	t.Helper()
	select {
	case <-f.closed:
	case <-time.After(deadline):
		t.Fatal("the server did not Close the feed")
	}
	if f.overlap.Load() {
		t.Error("the server called Close while Next ran")
	}
}

// fakeSession is a Session the test drives: Input blocks until the test
// takes the bytes from input (as a process that does not read), or the
// session is closed.
type fakeSession struct {
	*fakeFeed
	input   chan []byte
	resizes chan [2]int
	ending  Ending // set before closing data
}

func newSession() *fakeSession {
	return &fakeSession{fakeFeed: newFeed(), input: make(chan []byte), resizes: make(chan [2]int, 10)}
}

func (s *fakeSession) Input(p []byte) error {
	select {
	case s.input <- p:
		return nil
	case <-s.closed:
		return errStopped
	}
}

func (s *fakeSession) Resize(cols, rows int) {
	select {
	case s.resizes <- [2]int{cols, rows}:
	case <-s.closed:
	}
}

func (s *fakeSession) Ending() Ending { return s.ending }

// typed collects n bytes of input.
func (s *fakeSession) typed(t *testing.T, n int) string {
	t.Helper()
	var have []byte
	for len(have) < n {
		select {
		case p := <-s.input:
			have = append(have, p...)
		case <-time.After(deadline):
			t.Fatalf("input so far %q, want %d bytes", have, n)
		}
	}
	return string(have)
}

func (s *fakeSession) resized(t *testing.T) [2]int {
	t.Helper()
	select {
	case size := <-s.resizes:
		return size
	case <-time.After(deadline):
		t.Fatal("no resize")
	}
	return [2]int{}
}

// serveTuned is serveAt with the server's timings changed before it
// serves.
func serveTuned(t *testing.T, path string, tune func(*Server)) (s *Server, served chan error) {
	t.Helper()
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	tune(s)
	served = make(chan error, 1)
	go func() { served <- s.Serve() }()
	return s, served
}

// serveAnswers serves with a supervisor that answers each request with
// what answer returns, until the test ends.
func serveAnswers(t *testing.T, answer func(Request) Answer) *Server {
	t.Helper()
	s := serve(t)
	superviseWith(t, s, answer)
	return s
}

func superviseWith(t *testing.T, s *Server, answer func(Request) Answer) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case a := <-s.Asks():
				a.Reply <- answer(a.Request)
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// openStream sends the request line req and reads the OK line.
func openStream(t *testing.T, path, req string) (*net.UnixConn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(deadline))
	if _, err := io.WriteString(c, req+"\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil || line != `{"v":1,"ok":true}`+"\n" {
		t.Fatalf("%s: have %q, %v", req, line, err)
	}
	return c.(*net.UnixConn), br
}

func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(deadline):
		t.Fatalf("%s did not return", what)
	}
}

type logsResult struct {
	out string
	err error
}

func startLogs(path string, req Request) <-chan logsResult {
	done := make(chan logsResult, 1)
	go func() {
		var b strings.Builder
		err := Logs(path, req, &b)
		done <- logsResult{b.String(), err}
	}()
	return done
}

func waitLogs(t *testing.T, done <-chan logsResult) logsResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(deadline):
		t.Fatal("Logs did not return")
	}
	return logsResult{}
}

// Logs copies the feed, whatever the size of its chunks, until it ends;
// the supervisor sees the request as it was sent, and the feed is Closed.
func TestLogs(t *testing.T) {
	feed := newFeed()
	reqs := make(chan Request, 1)
	s := serveAnswers(t, func(r Request) Answer { reqs <- r; return Answer{Feed: feed} })
	req := Request{V: 1, Op: OpLogs, Targets: []string{"web"}, Lines: 10, Follow: true, Format: "json", Color: true}
	done := startLogs(s.Path(), req)
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB: more than a socket holds
	feed.send(t, []byte("one\n"))
	feed.send(t, big)
	feed.send(t, []byte("two\n"))
	close(feed.data)
	r := waitLogs(t, done)
	if r.err != nil || r.out != "one\n"+string(big)+"two\n" {
		t.Errorf("Logs: %d bytes, %v", len(r.out), r.err)
	}
	if have := <-reqs; fmt.Sprint(have) != fmt.Sprint(req) {
		t.Errorf("the supervisor saw %+v", have)
	}
	feed.waitClosed(t)
}

func TestLogsErrors(t *testing.T) {
	s := serveAnswers(t, func(r Request) Answer { return Answer{Err: errors.New(`no process "nope"`)} })
	var b strings.Builder
	if err := Logs(s.Path(), Request{V: 1, Op: OpLogs, Targets: []string{"nope"}}, &b); err == nil || err.Error() != `no process "nope"` {
		t.Errorf("want the supervisor's error, have %v", err)
	}
	if err := Logs(s.Path(), Request{V: 1, Op: OpLogs, Lines: -1}, &b); err == nil || !strings.Contains(err.Error(), "lines -1") {
		t.Errorf("want a validation error, have %v", err)
	}
	if err := Logs(sockPath(t), Request{V: 1, Op: OpLogs}, &b); !errors.Is(err, ErrNotRunning) {
		t.Errorf("want ErrNotRunning, have %v", err)
	}
	// A supervisor that says yes with nothing to stream is a bug the
	// client hears about.
	s = serveAnswers(t, func(r Request) Answer { return Answer{} })
	if err := Logs(s.Path(), Request{V: 1, Op: OpLogs}, &b); err == nil || err.Error() != errNoStream.Error() {
		t.Errorf("want %v, have %v", errNoStream, err)
	}
	if b.Len() != 0 {
		t.Errorf("wrote %q", b.String())
	}
}

// A follower that leaves while nothing comes makes the server Close the
// feed.
func TestLogsFollowerLeaves(t *testing.T) {
	feed := newFeed()
	s := serveAnswers(t, func(r Request) Answer { return Answer{Feed: feed} })
	c, br := openStream(t, s.Path(), `{"v":1,"op":"logs","follow":true}`)
	feed.send(t, []byte("line\n"))
	if line, err := br.ReadString('\n'); line != "line\n" || err != nil {
		t.Fatalf("have %q, %v", line, err)
	}
	c.Close()
	feed.waitClosed(t)
}

// A client that wants the past lines only may shut down its side after
// the request, as with any request: it still gets them.
func TestLogsHalfClosed(t *testing.T) {
	feed := newFeed()
	s := serveAnswers(t, func(r Request) Answer { return Answer{Feed: feed} })
	c, br := openStream(t, s.Path(), `{"v":1,"op":"logs","lines":2}`)
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	feed.send(t, []byte("a\n"))
	feed.send(t, []byte("b\n"))
	close(feed.data)
	if rest, err := io.ReadAll(br); string(rest) != "a\nb\n" || err != nil {
		t.Errorf("have %q, %v", rest, err)
	}
	feed.waitClosed(t)
}

// A stream is not bound by the request's timeout.
func TestStreamOutlivesTimeout(t *testing.T) {
	path := sockPath(t)
	s, served := serveTuned(t, path, func(s *Server) { s.timeout = 50 * time.Millisecond })
	feed := newFeed()
	superviseWith(t, s, func(r Request) Answer { return Answer{Feed: feed} })
	t.Cleanup(func() { s.Close(); <-served })
	done := startLogs(path, Request{V: 1, Op: OpLogs, Follow: true})
	feed.send(t, []byte("early\n"))
	time.Sleep(4 * s.timeout) // what is tested: time passes
	feed.send(t, []byte("late\n"))
	close(feed.data)
	if r := waitLogs(t, done); r.err != nil || r.out != "early\nlate\n" {
		t.Errorf("have %q, %v", r.out, r.err)
	}
}

// An answer that comes after the client was told it timed out has its
// feed Closed: nobody will read it.
func TestLateFeedClosed(t *testing.T) {
	path := sockPath(t)
	s, served := serveTuned(t, path, func(s *Server) { s.askWait = 100 * time.Millisecond })
	t.Cleanup(func() { s.Close(); <-served })
	feed := newFeed()
	answered := make(chan struct{})
	go func() {
		a := <-s.Asks()
		<-answered
		a.Reply <- Answer{Feed: feed}
	}()
	var b strings.Builder
	err := Logs(path, Request{V: 1, Op: OpLogs}, &b)
	close(answered)
	if err == nil || !strings.Contains(err.Error(), "did not answer in time") {
		t.Errorf("want a timeout, have %v", err)
	}
	feed.waitClosed(t)
}

// Followers do not take the connections that requests are served on, and
// past maxStreams a streaming request is refused; ps is answered all
// along, and a stream that ends makes room.
func TestStreamsDoNotStarvePs(t *testing.T) {
	var mu sync.Mutex
	var feeds []*fakeFeed
	s := serveAnswers(t, func(r Request) Answer {
		switch {
		case r.Op == OpPs:
			return Answer{Instances: []Instance{{Label: "web.1"}}}
		case r.Op == OpLogs && !r.Follow:
			return Answer{Feed: endedFeed("")}
		}
		f := newFeed()
		mu.Lock()
		feeds = append(feeds, f)
		mu.Unlock()
		if r.Op == OpAttach {
			return Answer{Session: &fakeSession{fakeFeed: f, input: make(chan []byte), resizes: make(chan [2]int, 1)}}
		}
		return Answer{Feed: f}
	})
	var conns []*net.UnixConn
	for i := range maxStreams {
		req := `{"v":1,"op":"logs","follow":true}`
		if i%2 == 1 {
			req = `{"v":1,"op":"attach","targets":["web.1"]}`
		}
		c, _ := openStream(t, s.Path(), req)
		conns = append(conns, c)
		if i == maxConns+1 {
			if resp := call(t, s.Path(), Request{V: 1, Op: OpPs}); len(resp.Instances) != 1 {
				t.Fatalf("ps with %d streams: %+v", i+1, resp)
			}
		}
	}
	for _, req := range []Request{{V: 1, Op: OpLogs}, {V: 1, Op: OpAttach, Targets: []string{"web"}}} {
		if _, err := Call(s.Path(), req, deadline); err == nil || err.Error() != "too many clients attached or following" {
			t.Errorf("%s past %d streams: have %v", req.Op, maxStreams, err)
		}
	}
	if resp := call(t, s.Path(), Request{V: 1, Op: OpPs}); len(resp.Instances) != 1 {
		t.Fatalf("ps with every stream taken: %+v", resp)
	}
	conns[0].Close()
	mu.Lock()
	first := feeds[0]
	mu.Unlock()
	first.waitClosed(t)
	waitFor(t, "room for a stream", func() bool {
		_, err := Call(s.Path(), Request{V: 1, Op: OpLogs}, deadline)
		return err == nil
	})
}

type attachResult struct {
	r   AttachResult
	err error
}

// attaching runs Attach in the background with a pipe for its input and
// one for its output.
type attaching struct {
	in     *io.PipeWriter
	out    *io.PipeReader
	resize chan [2]int
	done   chan attachResult
}

func startAttach(t *testing.T, path string, req Request, keys string) *attaching {
	t.Helper()
	k, err := ParseDetachKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	a := &attaching{in: inW, out: outR, resize: make(chan [2]int), done: make(chan attachResult, 1)}
	go func() {
		r, err := Attach(path, req, inR, outW, k, a.resize)
		outW.Close()
		a.done <- attachResult{r, err}
	}()
	// Attach's reader of in may still wait on it when Attach returns.
	t.Cleanup(func() { inW.Close(); outR.Close() })
	return a
}

func (a *attaching) typ(t *testing.T, s string) {
	t.Helper()
	within(t, "typing", func() { a.in.Write([]byte(s)) })
}

func (a *attaching) shows(t *testing.T, want string) {
	t.Helper()
	have := make([]byte, len(want))
	var err error
	within(t, "reading the output", func() { _, err = io.ReadFull(a.out, have) })
	if err != nil || string(have) != want {
		t.Fatalf("output: want %.40q, have %.40q, %v", want, have, err)
	}
}

func (a *attaching) result(t *testing.T) attachResult {
	t.Helper()
	select {
	case r := <-a.done:
		return r
	case <-time.After(deadline):
		t.Fatal("Attach did not return")
	}
	return attachResult{}
}

// What is typed reaches the process in order, as typed except the detach
// sequence; sizes and output go through; the detach keys end the attach,
// split across reads, and the server Closes the session.
func TestAttach(t *testing.T) {
	sess := newSession()
	reqs := make(chan Request, 1)
	s := serveAnswers(t, func(r Request) Answer { reqs <- r; return Answer{Session: sess} })
	req := Request{V: 1, Op: OpAttach, Targets: []string{"web.1"}, Cols: 80, Rows: 24, Force: true}
	a := startAttach(t, s.Path(), req, DefaultDetachKeys)
	select {
	case have := <-reqs:
		if fmt.Sprint(have) != fmt.Sprint(req) {
			t.Errorf("the supervisor saw %+v", have)
		}
	case <-time.After(deadline):
		t.Fatal("no request")
	}

	a.typ(t, "hello")
	if have := sess.typed(t, 5); have != "hello" {
		t.Errorf("typed %q", have)
	}
	// A prefix of the sequence, then something else: as typed. Then a
	// prefix twice: the first goes as typed.
	for _, s := range []string{"\x02", "x\x02", "\x02", "y"} {
		a.typ(t, s)
	}
	if have := sess.typed(t, 5); have != "\x02x\x02\x02y" {
		t.Errorf("typed %q", have)
	}

	a.resize <- [2]int{100, 30}
	if have := sess.resized(t); have != [2]int{100, 30} {
		t.Errorf("resized to %v", have)
	}
	a.resize <- [2]int{0, 30} // not a size: skipped
	a.resize <- [2]int{120, 40}
	if have := sess.resized(t); have != [2]int{120, 40} {
		t.Errorf("resized to %v", have)
	}

	sess.send(t, []byte("out\r\n"))
	a.shows(t, "out\r\n")
	big := bytes.Repeat([]byte("x"), 3*maxFrame+7)
	sess.send(t, big)
	a.shows(t, string(big))

	a.typ(t, "z\x02")
	if have := sess.typed(t, 1); have != "z" {
		t.Errorf("typed %q before the detach", have)
	}
	a.typ(t, "d")
	if r := a.result(t); r.err != nil || !r.r.Detached {
		t.Errorf("want a detach, have %+v, %v", r.r, r.err)
	}
	sess.waitClosed(t)
}

// The session's end reaches the client with its output before it; an
// input that has ended stops nothing, and a held prefix of the sequence
// is sent when the input ends.
func TestAttachEnding(t *testing.T) {
	sess := newSession()
	s := serveAnswers(t, func(r Request) Answer { return Answer{Session: sess} })
	a := startAttach(t, s.Path(), Request{V: 1, Op: OpAttach, Targets: []string{"web"}}, "ctrl-p,ctrl-q")
	a.typ(t, "ab\x10")
	a.in.Close()
	if have := sess.typed(t, 3); have != "ab\x10" {
		t.Errorf("typed %q", have)
	}
	sess.send(t, []byte("bye\n"))
	a.shows(t, "bye\n")
	want := Ending{Exited: true, Status: 3, Reason: "web.1 exited with code 3"}
	sess.ending = want
	close(sess.data)
	if r := a.result(t); r.err != nil || r.r.Detached || r.r.Ending != want {
		t.Errorf("want %+v, have %+v, %v", want, r.r, r.err)
	}
	sess.waitClosed(t)
}

// The end of an attach whose input never ends: Attach returns all the
// same (its reader of in is left waiting).
func TestAttachEndingWhileTyping(t *testing.T) {
	sess := endedFeed("last words")
	s := serveAnswers(t, func(r Request) Answer {
		return Answer{Session: &fakeSession{fakeFeed: sess, input: make(chan []byte), resizes: make(chan [2]int, 1), ending: Ending{Reason: "procman is stopping"}}}
	})
	a := startAttach(t, s.Path(), Request{V: 1, Op: OpAttach, Targets: []string{"web"}}, DefaultDetachKeys)
	a.shows(t, "last words")
	if r := a.result(t); r.err != nil || r.r.Ending.Reason != "procman is stopping" || r.r.Ending.Exited {
		t.Errorf("have %+v, %v", r.r, r.err)
	}
	sess.waitClosed(t)
}

// frames reads the server's frames until it closes the connection.
func frames(t *testing.T, br *bufio.Reader) (out []byte, end *Ending) {
	t.Helper()
	for {
		typ, p, err := readFrame(br)
		switch {
		case err == io.EOF:
			return out, end
		case err != nil:
			t.Fatal(err)
		case end != nil:
			t.Fatalf("frame %q after the end", typ)
		case typ == frameOutput:
			if len(p) == 0 || len(p) > maxFrame {
				t.Fatalf("output frame of %d bytes", len(p))
			}
			out = append(out, p...)
		case typ == frameEnd:
			end = new(Ending)
			if err := json.Unmarshal(p, end); err != nil {
				t.Fatalf("end %q: %v", p, err)
			}
		default:
			t.Fatalf("frame %q", typ)
		}
	}
}

// On the wire: output in frames of at most 64 KiB, then the end, then the
// server closes; input sent right behind the request is not lost.
func TestAttachWire(t *testing.T) {
	sess := newSession()
	s := serveAnswers(t, func(r Request) Answer { return Answer{Session: sess} })
	c, err := net.Dial("unix", s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(deadline))
	msg := []byte(`{"v":1,"op":"attach","targets":["web"]}` + "\n")
	msg = appendFrame(msg, frameInput, []byte("early"))
	msg = appendFrame(msg, frameInput, nil)
	msg = appendFrame(msg, frameWindow, []byte{0, 80, 0, 24})
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	if have := sess.typed(t, 5); have != "early" {
		t.Errorf("typed %q", have)
	}
	if have := sess.resized(t); have != [2]int{80, 24} {
		t.Errorf("resized to %v", have)
	}
	big := bytes.Repeat([]byte("0123456789"), 20000)
	go func() {
		sess.data <- big
		sess.ending = Ending{Exited: true, Status: 130, Reason: "web.1 terminated by SIGINT"}
		close(sess.data)
	}()
	br := bufio.NewReader(c)
	if line, err := br.ReadString('\n'); line != `{"v":1,"ok":true}`+"\n" || err != nil {
		t.Fatalf("have %q, %v", line, err)
	}
	out, end := frames(t, br)
	if !bytes.Equal(out, big) || end == nil || *end != (Ending{Exited: true, Status: 130, Reason: "web.1 terminated by SIGINT"}) {
		t.Errorf("%d bytes, end %+v", len(out), end)
	}
	sess.waitClosed(t)
}

// A client that disappears, or sends a malformed frame, makes the server
// Close the session, even while the process does not read its input.
func TestAttachClientGone(t *testing.T) {
	for _, tt := range []struct {
		name string
		send []byte
	}{
		{"gone", nil},
		{"gone while input waits", appendFrame(nil, frameInput, []byte("unread"))},
		{"gone while input and a size wait", appendFrame(appendFrame(nil, frameInput, []byte("unread")), frameWindow, []byte{0, 80, 0, 24})},
		{"unknown type", appendFrame(nil, 'z', []byte("?"))},
		{"output from the client", appendFrame(nil, frameOutput, []byte("?"))},
		{"window of 3 bytes", appendFrame(nil, frameWindow, []byte{0, 80, 0})},
		{"window of 0 columns", appendFrame(nil, frameWindow, []byte{0, 0, 0, 24})},
		{"too long", header(frameInput, maxFrame+1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sess := newSession()
			sess.resizes = make(chan [2]int) // Resize waits, as Input does
			s := serveAnswers(t, func(r Request) Answer { return Answer{Session: sess} })
			c, br := openStream(t, s.Path(), `{"v":1,"op":"attach","targets":["web"]}`)
			if _, err := c.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			if tt.send == nil || tt.send[0] == frameInput && len(tt.send) > frameHeader {
				c.Close()
				sess.waitClosed(t)
				return
			}
			sess.waitClosed(t)
			if rest, err := io.ReadAll(br); len(rest) != 0 || err != nil {
				t.Errorf("after a malformed frame: have %q, %v; want the end of the connection", rest, err)
			}
		})
	}
}

func TestAttachErrors(t *testing.T) {
	s := serveAnswers(t, func(r Request) Answer {
		return Answer{Err: errors.New("web.1 has a client attached already: use --force to take over")}
	})
	var out bytes.Buffer
	_, err := Attach(s.Path(), Request{V: 1, Op: OpAttach, Targets: []string{"web.1"}}, strings.NewReader(""), &out, []byte{2}, nil)
	if err == nil || !strings.Contains(err.Error(), "attached already") {
		t.Errorf("want the supervisor's error, have %v", err)
	}
	if _, err := Attach(s.Path(), Request{V: 1, Op: OpAttach}, strings.NewReader(""), &out, []byte{2}, nil); err == nil || !strings.Contains(err.Error(), "exactly one") {
		t.Errorf("want a validation error, have %v", err)
	}
	if _, err := Attach(sockPath(t), Request{V: 1, Op: OpAttach, Targets: []string{"web"}}, strings.NewReader(""), &out, []byte{2}, nil); !errors.Is(err, ErrNotRunning) {
		t.Errorf("want ErrNotRunning, have %v", err)
	}
}

// A server that closes without the session's end is an error for the
// client, as is a frame it does not know.
func TestAttachBrokenServer(t *testing.T) {
	for _, tt := range []struct {
		name  string
		after []byte
		want  string
	}{
		{"closes", appendFrame(nil, frameOutput, []byte("x")), "closed the connection before the session ended"},
		{"cut mid-frame", header(frameOutput, 10), "unexpected EOF"},
		{"unknown frame", appendFrame(nil, 'q', nil), "unknown type 'q'"},
		{"bad end", appendFrame(nil, frameEnd, []byte("{")), "not valid JSON"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := replyOnce(t, append([]byte(`{"v":1,"ok":true}`+"\n"), tt.after...))
			var out bytes.Buffer
			var r AttachResult
			var err error
			within(t, "Attach", func() {
				r, err = Attach(path, Request{V: 1, Op: OpAttach, Targets: []string{"web"}}, strings.NewReader(""), &out, []byte{2}, nil)
			})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("want an error containing %q, have %+v, %v", tt.want, r, err)
			}
		})
	}
}

// flood is a feed that never runs dry.
type flood struct{ *fakeFeed }

func (f flood) Next(stop <-chan struct{}) ([]byte, error) {
	select {
	case <-stop:
		return nil, errStopped
	default:
		return bytes.Repeat([]byte("y"), 32<<10), nil
	}
}

// Close cuts streams whose clients do not read after its grace, however
// much their feeds hold, and Closes their feeds and sessions.
func TestCloseCutsClientsThatDoNotRead(t *testing.T) {
	path := sockPath(t)
	s, served := serveTuned(t, path, func(s *Server) { s.grace = 100 * time.Millisecond })
	logs, attached := flood{newFeed()}, newSession()
	superviseWith(t, s, func(r Request) Answer {
		if r.Op == OpAttach {
			return Answer{Session: attached}
		}
		return Answer{Feed: logs}
	})
	openStream(t, path, `{"v":1,"op":"logs","follow":true}`)
	openStream(t, path, `{"v":1,"op":"attach","targets":["web"]}`)
	go func() {
		for {
			select {
			case attached.data <- bytes.Repeat([]byte("z"), 32<<10):
			case <-attached.closed:
				return
			}
		}
	}()
	within(t, "Close", func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	logs.waitClosed(t)
	attached.waitClosed(t)
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// Close lets a stream send what its feed still holds before it cuts: the
// client gets it all.
func TestCloseDrainsStreams(t *testing.T) {
	path := sockPath(t)
	s, served := serveTuned(t, path, func(s *Server) { s.grace = deadline })
	big := strings.Repeat("line of the stream\n", 50000) // 950 KB: more than the socket holds
	feed := endedFeed(big)
	superviseWith(t, s, func(r Request) Answer { return Answer{Feed: feed} })
	_, br := openStream(t, path, `{"v":1,"op":"logs","follow":true}`)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	rest, err := io.ReadAll(br)
	if string(rest) != big || err != nil {
		t.Errorf("%d bytes of %d, %v", len(rest), len(big), err)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(deadline):
		t.Fatal("Close did not return")
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	feed.waitClosed(t)
}

// Whatever the supervisor answers with, every Feed and Session it gives
// is Closed: those that stream once they end, the others at once.
func TestAnswersClosed(t *testing.T) {
	for _, tt := range []struct {
		op   string
		feed bool // answer with a Feed; else a Session
		err  bool // and an error
	}{
		{OpPs, true, false},
		{OpPs, false, false},
		{OpLogs, false, false},
		{OpAttach, true, false},
		{OpLogs, true, true},
		{OpAttach, false, true},
	} {
		t.Run(fmt.Sprintf("%s feed=%v err=%v", tt.op, tt.feed, tt.err), func(t *testing.T) {
			stray := newSession()
			close(stray.data)
			s := serveAnswers(t, func(r Request) Answer {
				a := Answer{Session: stray}
				if tt.feed {
					a = Answer{Feed: stray.fakeFeed}
				}
				if tt.err {
					a.Err = errors.New("refused")
				}
				return a
			})
			req := Request{V: 1, Op: tt.op}
			if tt.op == OpAttach {
				req.Targets = []string{"web"}
			}
			Call(s.Path(), req, deadline)
			stray.waitClosed(t)
		})
	}
}
