package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// An InUseError says that a procman accepts connections on the socket
// already: another procman is running there.
type InUseError struct {
	Path string
}

func (e *InUseError) Error() string {
	return "another procman is listening on " + e.Path
}

// maxConns bounds the connections served at once; more wait in the
// listen backlog, so that a flood of clients costs a bounded number of
// goroutines and descriptors. A stream, once under way, counts against
// maxStreams instead.
const maxConns = 32

// ioTimeout bounds, per connection, the wait for the request line and the
// writing of the reply: a client that connects and says nothing holds
// nothing for long. A stream (attach, logs) has no such bound once it
// is under way: it lasts as long as the client and the feed.
const ioTimeout = 10 * time.Second

// maxStreams bounds the attach and logs connections at once. They do not
// count against maxConns, so that followers cannot starve ps; past this
// bound a streaming request gets an error reply.
const maxStreams = 64

// streamGrace bounds how long Close lets streams send what their feeds
// still hold before it cuts them.
const streamGrace = 2 * time.Second

// AskTimeout bounds the wait for the supervisor to take a request and
// answer it. It answers between two events, but one event may take a
// while: scaling up starts every new process before the answer.
const AskTimeout = 60 * time.Second

// A Server is procman's end of the control socket. Listen creates it, Serve
// answers connections, and Asks is where the supervisor's side takes the
// requests: each connection's one request line is decoded strictly,
// validated and handed over as an Ask, and its Answer goes back as one
// Response line. An attach or logs request that is answered with a
// Session or Feed then becomes a stream (see stream.go). The server's
// goroutines are the ones that wait (on the client, on the channel, on the
// reply, on a feed), never the supervisor's owner, which replies to a
// buffered channel.
type Server struct {
	path    string
	ln      *os.File        // the listening socket, non-blocking, in the runtime's poller
	raw     syscall.RawConn // ln's, to wait for connections and accept them
	id      fileID          // of the socket we bound, so Close removes only ours
	asks    chan Ask
	done    chan struct{}
	slots   chan struct{}
	timeout time.Duration // ioTimeout, shorter in tests
	askWait time.Duration // AskTimeout, shorter in tests
	grace   time.Duration // streamGrace, shorter in tests
	uid     int

	streamSlots chan struct{} // maxStreams of them

	mu      sync.Mutex
	closed  bool
	cutting bool                  // Close has cut the streams: no new one starts
	conns   map[*os.File]struct{} // connections before or without a stream
	streams map[*stream]struct{}
	drained chan struct{} // closed when the last stream ends, once Close waits for it
	wg      sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

type fileID struct{ dev, ino uint64 }

// Listen creates the control socket at path and listens on it. The socket
// file has mode 0600 from the moment it exists, whatever the umask, and a
// connection from another user is refused in any case. A socket left at
// path by a procman that died (nothing accepts on it) is replaced. One that
// accepts connections means another procman is running: the error is an
// *InUseError and path is left alone; so is anything at path that is not a
// socket. The check and the creation happen under an exclusive lock on
// path's directory, so that of two procmans starting at once one wins.
func Listen(path string) (*Server, error) {
	if len(path) > maxPath {
		return nil, fmt.Errorf("control socket path %s is too long for a unix socket (%d bytes, at most %d)", path, len(path), maxPath)
	}
	unlock := lockDir(filepath.Dir(path))
	defer unlock()
	if err := clearStale(path); err != nil {
		return nil, err
	}
	ln, id, err := bindPrivate(path)
	if err != nil {
		return nil, err
	}
	raw, err := ln.SyscallConn()
	if err != nil {
		ln.Close()
		os.Remove(path)
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return &Server{
		path:    path,
		ln:      ln,
		raw:     raw,
		id:      id,
		asks:    make(chan Ask),
		done:    make(chan struct{}),
		slots:   make(chan struct{}, maxConns),
		timeout: ioTimeout,
		askWait: AskTimeout,
		grace:   streamGrace,
		uid:     os.Getuid(),

		streamSlots: make(chan struct{}, maxStreams),
		conns:       make(map[*os.File]struct{}),
		streams:     make(map[*stream]struct{}),
	}, nil
}

// lockDir takes an exclusive flock on dir and returns its release. The lock
// is advisory and taken only by procmans about to create a socket there, for
// the few system calls that check for a live one and replace a stale one.
// Anyone who can read dir can take the same lock, so it is never waited for
// longer than lockWait: after that procman goes on without it, which only
// leaves the replacing of a stale socket unguarded (the bind still refuses
// to replace an existing file). A directory that cannot be opened (no read
// permission) goes unlocked too.
func lockDir(dir string) (unlock func()) {
	f, err := os.Open(dir)
	if err != nil {
		return func() {}
	}
	end := time.Now().Add(lockWait)
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil || (err != unix.EINTR && err != unix.EWOULDBLOCK) || time.Now().After(end) {
			break
		}
		// flock has no timeout: a holder is another procman for a few
		// system calls, or someone else for as long as they like.
		time.Sleep(lockPoll)
	}
	if err != nil {
		f.Close()
		return func() {}
	}
	return func() { f.Close() } // closing releases the lock
}

// lockWait bounds the wait for lockDir's lock; lockPoll is how often it
// tries again meanwhile.
const (
	lockWait = 2 * time.Second
	lockPoll = 10 * time.Millisecond
)

// clearStale removes a socket at path that nothing accepts on.
func clearStale(path string) error {
	info, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if info.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("control socket %s: the file exists and is not a socket", path)
	}
	fd, err := connect(path)
	switch {
	case err == nil:
		unix.Close(fd)
		return &InUseError{Path: path}
	case errors.Is(err, syscall.EAGAIN):
		// Alive, with a full backlog. macOS and FreeBSD refuse that
		// with ECONNREFUSED instead, which looks stale: a procman
		// there must be flooded past its backlog to lose its socket.
		return &InUseError{Path: path}
	case errors.Is(err, syscall.ECONNREFUSED):
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale control socket: %w", err)
		}
		return nil
	}
	return fmt.Errorf("control socket %s: %w", path, err)
}

// bindPrivate creates a listening unix socket at path with mode 0600. The
// socket is non-blocking, so that os.NewFile puts it in the runtime's
// poller: a goroutine waiting to accept parks instead of holding a thread,
// and closing the file wakes it.
func bindPrivate(path string) (*os.File, fileID, error) {
	fd, err := socket()
	if err != nil {
		return nil, fileID{}, fmt.Errorf("control socket: %w", err)
	}
	f := os.NewFile(uintptr(fd), path)
	id, err := bindListen(fd, path)
	if err != nil {
		f.Close()
		return nil, fileID{}, err
	}
	return f, id, nil
}

// bindError is the error for a socket that cannot be bound at path: an
// *InUseError if a file is there already.
func bindError(path string, err error) error {
	if errors.Is(err, unix.EADDRINUSE) || errors.Is(err, unix.EEXIST) {
		return &InUseError{Path: path}
	}
	return fmt.Errorf("control socket %s: %w", path, err)
}

// listen asks for the system's maximum backlog, as the net package does:
// on Linux a connect to a unix socket whose backlog is full fails at once
// (EAGAIN) instead of waiting, and the server serves only maxConns at a
// time.
func listen(fd int) error {
	return unix.Listen(fd, 4096)
}

// lstatID returns the identity of the file at path and its permission
// bits.
func lstatID(path string) (fileID, uint32, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return fileID{}, 0, err
	}
	// The fields' types differ between systems (macOS: an int32 Dev).
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, uint32(st.Mode) & 0o777, nil
}

// Path returns the socket's path.
func (s *Server) Path() string { return s.path }

// Asks returns the channel on which the server hands over each request
// it has decoded and validated. Whoever serves the socket (procman's
// supervisor) takes them one at a time and answers each on its Reply.
func (s *Server) Asks() <-chan Ask { return s.asks }

// Serve answers connections until Close is called, then returns nil. It
// returns an error only when accepting fails for good.
func (s *Server) Serve() error {
	delay := time.Duration(0)
	for {
		select {
		case s.slots <- struct{}{}:
		case <-s.done:
			return nil
		}
		c, err := s.accept()
		if err != nil {
			<-s.slots
			select {
			case <-s.done:
				return nil
			default:
			}
			if !temporary(err) {
				return fmt.Errorf("control socket: %w", err)
			}
			// Out of descriptors, say: wait a little, as net/http does,
			// rather than spin or give up.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.done:
				t.Stop()
				return nil
			}
			continue
		}
		delay = 0
		if !s.track(c) {
			<-s.slots
			continue
		}
		go func() {
			// A stream gives its slot back as soon as it is under way.
			free := sync.OnceFunc(func() { <-s.slots })
			defer free()
			defer s.wg.Done()
			defer s.untrack(c)
			s.handle(c, free)
		}()
	}
}

// accept waits for a connection and returns it non-blocking, in the
// runtime's poller like the listener, so that its deadlines work. Closing
// the listener ends the wait with an error.
func (s *Server) accept() (*os.File, error) {
	var nfd int
	var op string
	var err error
	if rerr := s.raw.Read(func(fd uintptr) bool {
		for {
			nfd, op, err = accept(int(fd))
			// A client that gave up while queued is no reason to
			// wake Serve: take the next one.
			if err != unix.EINTR && err != unix.ECONNABORTED {
				return err != unix.EAGAIN
			}
		}
	}); rerr != nil {
		return nil, rerr
	}
	if err != nil {
		return nil, fmt.Errorf("accept unix %s: %w", s.path, os.NewSyscallError(op, err))
	}
	return os.NewFile(uintptr(nfd), s.path), nil
}

func temporary(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EINTR)
}

// track registers a connection so that Close can cut its wait for a
// request short; it sets the connection's deadline here, under the lock,
// so that a Close in between cannot be overridden.
func (s *Server) track(c *os.File) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return false
	}
	c.SetDeadline(time.Now().Add(s.timeout))
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c *os.File) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

// Close stops accepting, lets the connections in progress finish (one
// still waiting for its request line gets an error reply at once), and
// removes the socket file unless another file has taken its place. Streams
// get up to two seconds to send what their feeds still hold (a feed ends
// with io.EOF once procman's stream has ended, which should happen before
// Close); then they are cut, their feeds and sessions Closed, so that a
// client that does not read cannot hold Close up. It is safe to call more
// than once and from any goroutine.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		drained := make(chan struct{})
		s.mu.Lock()
		s.closed = true
		close(s.done)
		for c := range s.conns {
			c.SetReadDeadline(time.Now())
		}
		if len(s.streams) == 0 {
			close(drained)
		} else {
			s.drained = drained
		}
		s.mu.Unlock()
		s.ln.Close()
		t := time.NewTimer(s.grace)
		select {
		case <-drained:
		case <-t.C:
		}
		t.Stop()
		s.mu.Lock()
		s.cutting = true
		for st := range s.streams {
			st.end()
		}
		s.mu.Unlock()
		s.wg.Wait()
		s.closeErr = s.remove()
	})
	return s.closeErr
}

func (s *Server) remove() error {
	id, _, err := lstatID(s.path)
	if err != nil {
		return nil // gone already
	}
	if id != s.id {
		return nil // not ours any more
	}
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove control socket: %w", err)
	}
	return nil
}

var (
	errStopping      = errors.New("procman is stopping")
	errTooLong       = fmt.Errorf("request longer than %d bytes", MaxRequest)
	errTooManyStream = errors.New("too many clients attached or following")
)

// handle serves one connection; free gives its maxConns slot back.
func (s *Server) handle(c *os.File, free func()) {
	// The reader is kept for a stream: a client may send its first
	// frames right behind the request line.
	br := bufio.NewReader(c)
	req, err := s.request(c, br)
	switch {
	case err != nil:
		s.reply(c, Answer{Err: err})
	case req.Op != OpAttach && req.Op != OpLogs:
		s.reply(c, s.ask(req))
	default:
		// Taken before the supervisor sees the request, so that a
		// refused one costs it nothing.
		select {
		case s.streamSlots <- struct{}{}:
		default:
			s.reply(c, Answer{Err: errTooManyStream})
			return
		}
		defer func() { <-s.streamSlots }()
		s.stream(c, br, req, s.ask(req), free)
	}
}

// reply writes a's Response line, and Closes a Feed or Session that came
// with it: a reply is the end of the connection.
func (s *Server) reply(c *os.File, a Answer) {
	a.discard()
	resp := Response{V: Version, OK: true, Instances: a.Instances}
	if a.Err != nil {
		resp = failure(a.Err)
	}
	data, err := json.Marshal(resp)
	if err != nil {
		data, _ = json.Marshal(failure(err))
	}
	c.SetWriteDeadline(time.Now().Add(s.timeout))
	c.Write(append(data, '\n')) // a client that left gets nothing
}

// discard Closes what a carries to stream, which nobody will read.
func (a Answer) discard() {
	if a.Feed != nil {
		a.Feed.Close()
	}
	if a.Session != nil {
		a.Session.Close()
	}
}

// request reads, decodes and validates the connection's request.
func (s *Server) request(c *os.File, br *bufio.Reader) (Request, error) {
	if err := s.checkPeer(c); err != nil {
		return Request{}, err
	}
	line, err := readRequest(br)
	if err != nil {
		select {
		case <-s.done:
			return Request{}, errStopping
		default:
		}
		return Request{}, err
	}
	return ParseRequest(line)
}

// checkPeer refuses a client of another user. The socket's mode already
// keeps them out; this holds even if the file's mode or directory were
// changed behind procman's back. Root is let in: it could anyway. The
// kernel vouches for the client's user: SO_PEERCRED on Linux,
// LOCAL_PEERCRED on macOS and FreeBSD.
func (s *Server) checkPeer(c *os.File) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var uid int
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		uid, credErr = peerUID(int(fd))
	}); err != nil {
		return err
	}
	if credErr != nil {
		return fmt.Errorf("peer credentials: %w", credErr)
	}
	if uid != s.uid && uid != 0 {
		return errors.New("permission denied: this procman answers only its own user")
	}
	return nil
}

// readRequest reads one line of at most MaxRequest bytes, and nothing
// after it. A client that shuts down its side after the request needs no
// newline.
func readRequest(br *bufio.Reader) ([]byte, error) {
	line, err := readLine(br, MaxRequest)
	switch {
	case err == errLineTooLong:
		return nil, errTooLong
	case err == nil:
		return line, nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		if len(line) > 0 {
			return nil, errors.New("incomplete request: no newline before the timeout")
		}
		return nil, errors.New("no request before the timeout")
	case errors.Is(err, io.EOF) && len(line) > 0:
		return line, nil
	case errors.Is(err, io.EOF):
		return nil, errors.New("empty request")
	}
	return nil, fmt.Errorf("read request: %w", plainErr(err))
}

// ask hands req to the supervisor and waits for its reply. The supervisor
// takes requests between its other work and answers before it takes up
// anything else, so both waits are normally short; the timer covers a
// supervisor that has returned (and a caller that has not closed the
// server yet).
func (s *Server) ask(req Request) Answer {
	reply := make(chan Answer, 1)
	t := time.NewTimer(s.askWait)
	defer t.Stop()
	select {
	case s.asks <- Ask{Request: req, Reply: reply}:
	case <-s.done:
		return Answer{Err: errStopping}
	case <-t.C:
		return Answer{Err: errors.New("procman did not take the request in time")}
	}
	select {
	case a := <-reply:
		return a
	case <-t.C:
		s.discardLate(reply)
		return Answer{Err: errors.New("procman did not answer in time")}
	}
}

// discardLate Closes the Feed or Session of an answer that comes after
// its client was told the request timed out, so that the supervisor does
// not keep feeding a stream nobody reads. It waits until Close at most.
func (s *Server) discardLate(reply <-chan Answer) {
	s.wg.Add(1) // the caller's connection is counted: Close cannot be waiting at zero
	go func() {
		defer s.wg.Done()
		select {
		case a := <-reply:
			a.discard()
		case <-s.done:
			select {
			case a := <-reply:
				a.discard()
			default:
			}
		}
	}()
}

func failure(err error) Response {
	return Response{V: Version, Error: err.Error()}
}

// plainErr turns the *fs.PathError of a read or write on a socket into the
// error package net gives, which procman's messages have always shown:
// "read: connection reset by peer", "i/o timeout". The file's name in
// the path error is the socket's path, which the message around it says
// already.
func plainErr(err error) error {
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return err
	}
	if errno, ok := pe.Err.(syscall.Errno); ok {
		return os.NewSyscallError(pe.Op, errno)
	}
	return pe.Err
}
