package supervisor

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"github.com/procman/procman/logmux"
	"golang.org/x/sys/unix"
)

// A Session is a client attached to one running instance (`procman
// attach`): it reads the instance's raw output as the child writes it, and
// what it types goes to the instance's input, its pty or its stdin pipe.
// One client is attached to an instance at a time. The session ends when
// the instance exits (Ending says how), when another client takes over,
// when procman stops, or when the client closes it. Its methods are safe
// for concurrent use; none of them waits for the supervisor's owner.
type Session struct {
	label  string
	output *logmux.Feed // the instance's raw output
	pty    bool

	// The input side: one goroutine (write) owns fd, a duplicate of the
	// instance's pty master or stdin pipe, and closes it when it ends.
	in   chan inputOp
	done chan struct{} // closed by Close or end: no more input
	// detach tells the owner that the client left (Close), so that it
	// forgets the session and gives the pty its size back.
	detach func()

	mu        sync.Mutex
	ending    Ending
	closeOnce sync.Once
}

// An Ending says why a session ended other than by its client.
type Ending struct {
	Exited bool   // the instance ended; Status is its exit status
	Status int    // its code, or 128+N when signal N ended it
	Reason string // one line: "web.1 exited with code 3"
}

// An inputOp is bytes to write to the instance's input, or (with data nil)
// a new window size for its pty.
type inputOp struct {
	data       []byte
	cols, rows uint16
}

// inputQueue bounds the input waiting to be written while the instance
// does not read: a client that types (or pastes) more blocks in Input.
const inputQueue = 64

var errDetached = errors.New("the session has ended")

// attachRecent is how many of its last lines an attached client sees
// first, so that a prompt shown before it came is on its screen.
const attachRecent = 10

// newSession starts a session on p with fd (the session's own duplicate
// of p's input, or -1 when p's input is not procman's: --attach).
func newSession(p *proc, output *logmux.Feed, fd int, detach func()) *Session {
	ss := &Session{
		label:  p.Label,
		output: output,
		pty:    p.pty,
		in:     make(chan inputOp, inputQueue),
		done:   make(chan struct{}),
		detach: detach,
	}
	go ss.write(fd)
	return ss
}

// Next returns the instance's next output, waiting for it; io.EOF once the
// session has ended and every byte of output before its end was returned.
func (ss *Session) Next(stop <-chan struct{}) ([]byte, error) {
	return ss.output.Next(stop)
}

// Input hands p to the instance's input. It waits while the instance does
// not read and inputQueue writes are waiting already, and fails once the
// session has ended.
//
// A pty's line discipline turns the Enter key's '\r' into '\n' and echoes
// what is typed; for an instance on a pipe the session does both, so that
// a prompt there reads a line as it would on a terminal (without line
// editing).
func (ss *Session) Input(p []byte) error {
	select {
	case <-ss.done:
		return errDetached
	default:
	}
	data := append([]byte(nil), p...)
	if !ss.pty {
		for i, c := range data {
			if c == '\r' {
				data[i] = '\n'
			}
		}
	}
	select {
	case ss.in <- inputOp{data: data}:
		if !ss.pty {
			ss.output.Echo(data)
		}
		return nil
	case <-ss.done:
		return errDetached
	}
}

// Resize gives the instance's pty the client's window size (the kernel
// tells its foreground process with SIGWINCH). An instance on a pipe has
// no window: nothing happens.
func (ss *Session) Resize(cols, rows int) {
	if !ss.pty || cols <= 0 || rows <= 0 || cols > 0xffff || rows > 0xffff {
		return
	}
	select {
	case ss.in <- inputOp{cols: uint16(cols), rows: uint16(rows)}:
	case <-ss.done:
	}
}

// Ending says how the session ended; it is set once Next has returned
// io.EOF (zero when the client closed it).
func (ss *Session) Ending() Ending {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.ending
}

// Close ends the session from the client's side: it detaches, and the
// instance runs on.
func (ss *Session) Close() {
	if ss.finish(Ending{}) {
		ss.output.Close()
		ss.detach()
	}
}

// end ends the session from procman's side, after the output that came
// before (the owner calls it).
func (ss *Session) end(e Ending) {
	if ss.finish(e) {
		ss.output.End()
	}
}

// finish records e and stops the input, once; it reports whether this call
// did.
func (ss *Session) finish(e Ending) bool {
	first := false
	ss.closeOnce.Do(func() {
		first = true
		ss.mu.Lock()
		ss.ending = e
		ss.mu.Unlock()
		close(ss.done)
	})
	return first
}

// write writes the queued input to fd until the session ends, then closes
// fd. A write the instance does not make room for waits in poll(2), a
// little at a time, so that the end of the session is noticed; only on a
// blocking descriptor (macOS's pty master) does it wait in write(2) until
// the instance reads or exits.
func (ss *Session) write(fd int) {
	defer func() {
		if fd >= 0 {
			unix.Close(fd)
		}
	}()
	for {
		var op inputOp
		select {
		case op = <-ss.in:
		case <-ss.done:
			return
		}
		if fd < 0 {
			continue // the input is procman's own terminal (--attach)
		}
		if op.data == nil {
			unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Col: op.cols, Row: op.rows})
			continue
		}
		if !ss.writeAll(fd, op.data) {
			return
		}
	}
}

// inputPoll is how long write waits for room at a time before it looks
// whether the session has ended, in milliseconds.
const inputPoll = 200

// writeAll writes data to fd; false means fd is of no more use (the
// instance's input is closed) or the session ended.
func (ss *Session) writeAll(fd int, data []byte) bool {
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if n > 0 {
			data = data[n:]
		}
		switch {
		case err == unix.EINTR || (err == nil && n >= 0):
		case err == unix.EAGAIN:
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
			unix.Poll(fds, inputPoll)
			select {
			case <-ss.done:
				return false
			default:
			}
		default:
			return false
		}
	}
	return true
}

// attach connects a client to the instance target names ("web.1", or
// "web" when web runs once); force takes it from a client attached
// already. cols and rows, when set, become its pty's window size.
func (s *supervisor) attach(req Request) (*Session, error) {
	if len(req.Targets) != 1 {
		return nil, errors.New("attach: name one process (web.1, or web when it runs once)")
	}
	if s.stop != nil {
		return nil, errors.New("procman is stopping")
	}
	ps, err := s.resolve(req.Targets)
	if err != nil {
		return nil, err
	}
	if len(ps) > 1 {
		return nil, fmt.Errorf("%s has %d instances: attach to one of them (%s.1 ... %s.%d)",
			req.Targets[0], len(ps), req.Targets[0], req.Targets[0], len(ps))
	}
	p := ps[0]
	if p.state != Running {
		return nil, fmt.Errorf("%s is not running: %s", p.Label, notRunning(p))
	}
	if old := p.session; old != nil {
		if !req.Force {
			return nil, fmt.Errorf("a client is attached to %s already (procman attach --force %s takes it over)", p.Label, p.Label)
		}
		p.session = nil
		old.end(Ending{Reason: "another client attached to " + p.Label + " with --force"})
	}
	fd, err := p.input.dup()
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", p.Label, err)
	}
	var ss *Session
	gen := p.gen
	ss = newSession(p, s.cfg.Log.TapRecent(p.Label, p.pid, attachRecent), fd, func() {
		select {
		case s.wake <- func() { s.detached(p, gen, ss) }:
		case <-s.quit:
		}
	})
	p.session = ss
	ss.Resize(req.Cols, req.Rows)
	return ss, nil
}

// notRunning says what an instance that does not run is doing.
func notRunning(p *proc) string {
	switch {
	case p.state == Exited:
		return "it " + describe(p.status)
	case p.gen > 0 && (p.state == Restarting || p.state == Stopped):
		return fmt.Sprintf("it is %s (it %s)", p.state, describe(p.status))
	}
	return "it is " + p.state.String()
}

// detached forgets a session its client closed and gives the pty back
// procman's own window size.
func (s *supervisor) detached(p *proc, gen int, ss *Session) {
	if p.session != ss {
		return
	}
	p.session = nil
	if p.gen == gen && p.pty {
		p.input.setWindowSize(s.windowSize())
	}
}

// windowSize is the size every pty starts with.
func (s *supervisor) windowSize() (cols, rows uint16) {
	cols, rows = s.cfg.Cols, s.cfg.Rows
	if cols == 0 || rows == 0 {
		cols, rows = 80, 24
	}
	return cols, rows
}

// endSession ends p's session, if it has one, with p's exit.
func (s *supervisor) endSession(p *proc) {
	if p.session == nil {
		return
	}
	p.session.end(Ending{Exited: true, Status: exitCode(p.status), Reason: p.Label + " " + describe(p.status)})
	p.session = nil
}

// closeInput lets go of procman's end of p's input once p has exited.
func (p *proc) closeInput() {
	p.input.close()
	p.input = noInput
}

// An input is procman's end of a running child's stdin. It is either a
// descriptor of its own, a stdin pipe's write end, which closeInput
// closes; or the file procman reads the child's output from, a pty's master
// or (see outputPipe) a socket, which the output's reader owns and closes
// at EOF. Sharing that file keeps procman at one descriptor per running
// child: fork copies procman's descriptor table, so each one held costs
// every later start.
type input struct {
	fd     int      // a pipe's write end, or -1
	shared *os.File // the output's file, or nil
}

// noInput is the input of a child whose stdin is not procman's: the
// release phase, a process of `start --attach` (procman's own stdin).
var noInput = input{fd: -1}

// dup returns a close-on-exec duplicate of the input for a session, or -1
// when there is none, or when its output has ended (the child closed every
// descriptor of it, so it reads no input either).
func (in input) dup() (int, error) {
	switch {
	case in.fd >= 0:
		fd, err := unix.FcntlInt(uintptr(in.fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return -1, os.NewSyscallError("fcntl", err)
		}
		return fd, nil
	case in.shared != nil:
		fd, err := dupFile(in.shared)
		if errors.Is(err, os.ErrClosed) {
			return -1, nil
		}
		return fd, err
	}
	return -1, nil
}

// setWindowSize sets the window size of a pty's input; a closed one is
// left alone.
func (in input) setWindowSize(cols, rows uint16) {
	if in.shared == nil {
		return
	}
	if raw, err := in.shared.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) {
			unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Col: cols, Row: rows})
		})
	}
}

// close closes the input's own descriptor, if it has one.
func (in input) close() {
	if in.fd >= 0 {
		unix.Close(in.fd)
	}
}

// inputOf returns, for a child about to start, its stdin, whether that is
// a pipe of its own whose read end the caller closes once the child has
// started, and procman's end of it. out and childOut are the child's output
// (procman's end and the child's); duplex says that they carry its input
// too, as a pty and the portable build's socket do. The processes of
// `start --attach` get procman's own stdin, and no input.
func (s *supervisor) inputOf(p *proc, out, childOut *os.File, duplex bool) (stdin *os.File, childOnly bool, in input, err error) {
	switch {
	case s.cfg.Stdin != nil && p.Name == s.cfg.Attach:
		return s.cfg.Stdin, false, noInput, nil
	case duplex:
		return childOut, false, input{fd: -1, shared: out}, nil
	}
	r, w, err := stdinPipe()
	if err != nil {
		return nil, false, noInput, fmt.Errorf("stdin pipe: %w", err)
	}
	return r, true, input{fd: w}, nil
}

// stdinPipe returns a pipe for a child's stdin: the read end, blocking as
// a child expects, and the write end, non-blocking for Session.write,
// which waits in poll(2) itself. Neither end goes into the runtime's
// poller (os.Pipe would register and deregister both, four more system
// calls for every child started), and both are close-on-exec, set under
// syscall.ForkLock as os.Pipe does where pipe2 is missing.
func stdinPipe() (r *os.File, w int, err error) {
	var p [2]int
	syscall.ForkLock.RLock()
	err = syscall.Pipe(p[:])
	if err == nil {
		syscall.CloseOnExec(p[0])
		syscall.CloseOnExec(p[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, -1, os.NewSyscallError("pipe", err)
	}
	if err := unix.SetNonblock(p[1], true); err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return nil, -1, os.NewSyscallError("fcntl", err)
	}
	return os.NewFile(uintptr(p[0]), "|0"), p[1], nil
}

// dupFile returns a close-on-exec duplicate of f's descriptor without
// changing f's blocking mode (f.Fd would), or os.ErrClosed once f is
// closed.
func dupFile(f *os.File) (int, error) {
	raw, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var dupErr error
	if raw.Control(func(u uintptr) {
		fd, dupErr = unix.FcntlInt(u, unix.F_DUPFD_CLOEXEC, 0)
	}) != nil {
		return -1, os.ErrClosed // the only error Control returns for a file
	}
	if dupErr != nil {
		return -1, os.NewSyscallError("fcntl", dupErr)
	}
	return fd, nil
}
