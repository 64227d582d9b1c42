package supervisor

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/procman/procman/logmux"
	"golang.org/x/sys/unix"
)

// A Process is one instance to run: a copy of a Procfile process type.
type Process struct {
	Name    string   // the process type, "web"
	Label   string   // the instance, "web.1"; unique within a Config
	Command string   // run as /bin/sh -c Command
	Env     []string // the complete environment, PORT and PS included
	Port    int      // the instance's PORT, 0 when it has none
}

// A Config says what Run supervises and how.
type Config struct {
	Dir       string        // working directory of every process
	Processes []Process     // started in this order
	Grace     time.Duration // from SIGTERM to SIGKILL when stopping
	Log       *logmux.Mux   // receives every child's output and procman's events
	PTY       bool          // give each child a pty instead of a pipe
	Cols      uint16        // pty window size; 0 means 80x24
	Rows      uint16
	// Signals carries the signals procman receives. The caller subscribes
	// (signal.Notify) before calling Run, so none is lost while processes
	// start: SIGINT and SIGTERM stop; SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT and
	// SIGWINCH are forwarded to every process group; SIGTSTP and SIGCONT
	// suspend and resume the app; SIGTTIN, SIGTTOU and SIGPIPE are ignored.
	Signals <-chan os.Signal
}

// Run starts every process, supervises them until one exits on its own or
// a stop signal arrives, stops them all (SIGTERM to every process group,
// then SIGKILL to whatever is left when the grace period ends), waits until
// no child, grandchild or orphan of procman is left and all output is
// written, and returns procman's exit status: the code of the process whose
// exit began the stop, 128+N if it died of signal N, 128+S when procman was
// stopped by signal S. An error means procman itself failed (a process
// could not be started); everything started is stopped before it returns.
func Run(cfg Config) (int, error) {
	if len(cfg.Processes) == 0 {
		return 0, errors.New("no processes to run")
	}
	s := newSupervisor(cfg)
	defer s.close()
	return s.run()
}

// State is where an instance is in its lifecycle. Only the owner goroutine
// changes it.
type State int

// The states of an instance.
const (
	Pending  State = iota // not started yet
	Running               // started; pid is its process group
	Stopping              // procman sent it SIGTERM or SIGKILL
	Exited                // reaped; status holds how it ended
)

var stateNames = [...]string{"pending", "running", "stopping", "exited"}

func (s State) String() string { return stateNames[s] }

// A proc is the owner's record of one instance.
type proc struct {
	Process
	state   State
	pid     int // also its process group id
	status  unix.WaitStatus
	stopped bool // procman asked it to stop: its exit is not a crash
	drained bool // its output reached the stream
	// reported is set once its exit event is written; that waits for its
	// output to drain (or for drainWait) so the last line comes first.
	reported bool
}

// A cause says why the app is stopping, and so what procman exits with.
type cause struct {
	code int
	what string // for the log line
}

// drainWait bounds how long an exit report waits for the exited process's
// last output, which a grandchild holding the pipe can delay forever.
const drainWait = 100 * time.Millisecond

// rescanEvery is how often, during the grace period, procman looks for
// orphans that were handed to it after the stop began.
const rescanEvery = 250 * time.Millisecond

type supervisor struct {
	cfg   Config
	procs []*proc
	byPid map[int]*proc

	reaper  *reaper
	stdin   [2]*os.File // an empty pipe held open for every child's stdin
	drained chan *proc
	late    chan *proc // a proc's drainWait has passed

	stopping *cause
	killed   bool // SIGKILL already sent to everything
	grace    *time.Timer
	rescan   *time.Ticker // while grace runs
	noneLeft bool         // the reaper found no child at all since the last kill
	termed   map[int]bool // orphans already sent SIGTERM
	isInit   bool
}

func newSupervisor(cfg Config) *supervisor {
	s := &supervisor{
		cfg:     cfg,
		byPid:   make(map[int]*proc),
		drained: make(chan *proc, len(cfg.Processes)),
		late:    make(chan *proc, len(cfg.Processes)),
		termed:  make(map[int]bool),
		isInit:  os.Getpid() == 1,
	}
	for _, p := range cfg.Processes {
		s.procs = append(s.procs, &proc{Process: p})
	}
	return s
}

func (s *supervisor) close() {
	if s.reaper != nil {
		s.reaper.stop()
	}
	for _, f := range s.stdin {
		if f != nil {
			f.Close()
		}
	}
	if s.grace != nil {
		s.grace.Stop()
	}
	if s.rescan != nil {
		s.rescan.Stop()
	}
}

func (s *supervisor) run() (int, error) {
	if !s.isInit {
		// Orphans of our processes (a daemonising child) come back to us,
		// so they are stopped and reaped with the rest.
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return 1, fmt.Errorf("become a subreaper: %w", err)
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 1, err
	}
	s.stdin = [2]*os.File{r, w}
	s.reaper = newReaper()

	var startErr error
	for _, p := range s.procs {
		if err := s.start(p); err != nil {
			startErr = fmt.Errorf("start %s: %w", p.Label, err)
			s.beginStop(cause{code: 1, what: startErr.Error()})
			break
		}
	}
	code := s.loop()
	return code, startErr
}

// loop is the owner: the only goroutine that changes process state or
// sends signals. It returns procman's exit status once the app has stopped.
func (s *supervisor) loop() int {
	broken := s.cfg.Log.Broken()
	for {
		if s.stopping != nil && s.finished() {
			return s.stopping.code
		}
		var graceC, rescanC <-chan time.Time
		if s.grace != nil {
			graceC = s.grace.C
			rescanC = s.rescan.C
		}
		select {
		case b := <-s.reaper.batches:
			s.noneLeft = b.noneLeft
			for _, e := range b.exits {
				s.exited(e)
			}

		case p := <-s.drained:
			p.drained = true
			if p.state == Exited {
				s.settle(p)
			}
		case p := <-s.late:
			s.settle(p)
		case sig := <-s.cfg.Signals:
			if sig, ok := sig.(syscall.Signal); ok {
				s.signal(sig)
			}
		case <-broken:
			broken = nil
			s.beginStop(cause{code: 128 + int(syscall.SIGPIPE), what: "output closed"})
		case <-graceC:
			s.grace = nil
			s.killAll()
		case <-rescanC:
			// A dying process may have orphaned a daemon that had left its
			// group; it is procman's child now and gets its SIGTERM too.
			// No SIGCHLD tells of that, hence the look during the grace.
			s.signalOrphans(syscall.SIGTERM)
		}
	}
}

// finished says whether the stop is complete: no child of procman is left
// (so no descendant either, as procman is their subreaper) and every
// process's output has been written.
func (s *supervisor) finished() bool {
	if !s.noneLeft {
		return false
	}
	for _, p := range s.procs {
		if p.state != Pending && !p.drained {
			return false
		}
		if p.state == Exited && !p.reported {
			s.settle(p)
		}
	}
	return true
}

func (s *supervisor) start(p *proc) error {
	var out, childOut *os.File
	var err error
	sys := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if s.cfg.PTY {
		cols, rows := s.cfg.Cols, s.cfg.Rows
		if cols == 0 || rows == 0 {
			cols, rows = 80, 24
		}
		out, childOut, err = logmux.OpenPTY(cols, rows)
		// A session leader with the pty as its terminal: that already
		// makes it a process group leader (Setpgid too would fail).
		sys.Setsid, sys.Setctty, sys.Ctty = true, true, 1
	} else {
		out, childOut, err = os.Pipe()
		sys.Setpgid = true
	}
	if err != nil {
		return err
	}
	pid, err := s.reaper.start(spawn{
		argv:  []string{"/bin/sh", "-c", p.Command},
		env:   p.Env,
		dir:   s.cfg.Dir,
		files: []*os.File{s.stdin[0], childOut, childOut},
		sys:   sys,
	})
	childOut.Close()
	if err != nil {
		out.Close()
		return err
	}
	p.pid, p.state, p.status = pid, Running, 0
	p.stopped, p.drained, p.reported = false, false, false
	s.byPid[pid] = p
	s.cfg.Log.Event(logmux.Event{Proc: p.Label, Kind: "started", Pid: pid,
		Msg: fmt.Sprintf("%s started with pid %d", p.Label, pid)})
	go func() {
		s.cfg.Log.Copy(p.Label, pid, out)
		out.Close()
		s.drained <- p
	}()
	return nil
}

// exited handles the reaped leader of a process group.
func (s *supervisor) exited(e exit) {
	p := s.byPid[e.pid]
	if p == nil {
		return
	}
	delete(s.byPid, e.pid)
	p.state, p.status = Exited, e.status
	if p.drained {
		s.settle(p)
		return
	}
	time.AfterFunc(drainWait, func() { s.late <- p })
}

// settle acts on p's exit once its last output is written (or drainWait
// has passed): it reports the exit and applies the first-exit rule.
func (s *supervisor) settle(p *proc) {
	if p.reported || p.state != Exited {
		return
	}
	s.report(p)
	if s.stopping == nil && !p.stopped {
		// The first-exit rule: a process ending on its own stops the app,
		// and its status becomes procman's.
		s.beginStop(cause{code: exitCode(p.status), what: p.Label + " " + describe(p.status)})
	}
}

// report writes p's exit event.
func (s *supervisor) report(p *proc) {
	p.reported = true
	e := logmux.Event{Proc: p.Label, Kind: "exited", Pid: p.pid,
		Msg: p.Label + " " + describe(p.status)}
	if p.status.Signaled() {
		e.Signal = unix.SignalName(p.status.Signal())
	} else {
		e.Code = p.status.ExitStatus()
	}
	s.cfg.Log.Event(e)
}

func (s *supervisor) signal(sig syscall.Signal) {
	name := unix.SignalName(sig)
	switch sig {
	case syscall.SIGINT, syscall.SIGTERM:
		if s.stopping != nil {
			if !s.killed {
				s.event("signal", name+" received again, killing all processes")
				s.killAll()
			}
			return
		}
		s.event("signal", name+" received, stopping")
		s.beginStop(cause{code: 128 + int(sig), what: name})
	case syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGQUIT, syscall.SIGWINCH:
		if sig != syscall.SIGWINCH {
			s.event("signal", "forwarding "+name+" to all processes")
		}
		s.signalGroups(sig)
	case syscall.SIGTSTP:
		if s.isInit {
			return // PID 1 cannot be stopped; neither is the app
		}
		s.event("signal", "SIGTSTP received, suspending all processes")
		s.signalGroups(syscall.SIGSTOP)
		unix.Kill(os.Getpid(), unix.SIGSTOP)
	case syscall.SIGCONT:
		if s.isInit {
			return
		}
		s.event("signal", "SIGCONT received, resuming all processes")
		s.signalGroups(syscall.SIGCONT)
	}
	// SIGTTIN, SIGTTOU and SIGPIPE: procman reads no terminal and learns
	// of a closed stdout from the write error, so there is nothing to do.
}

func (s *supervisor) event(kind, msg string) {
	s.cfg.Log.Event(logmux.Event{Kind: kind, Msg: msg})
}

// signalGroups sends sig to the process group of every started process,
// including groups whose leader has exited: its grandchildren may live on.
func (s *supervisor) signalGroups(sig syscall.Signal) {
	for _, p := range s.procs {
		if p.state != Pending {
			unix.Kill(-p.pid, sig)
		}
	}
}

// beginStop sends SIGTERM to every process group and to any orphan handed
// to procman, and starts the grace period.
func (s *supervisor) beginStop(c cause) {
	if s.stopping != nil {
		return
	}
	s.stopping = &c
	s.event("stopping", "sending SIGTERM to all processes")
	for _, p := range s.procs {
		if p.state == Running {
			p.state, p.stopped = Stopping, true
		}
	}
	s.signalGroups(syscall.SIGTERM)
	s.signalOrphans(syscall.SIGTERM)
	s.noneLeft = false
	s.reaper.poke()
	s.grace = time.NewTimer(s.cfg.Grace)
	s.rescan = time.NewTicker(rescanEvery)
}

// killAll sends SIGKILL to every process group and every orphan.
func (s *supervisor) killAll() {
	if s.killed {
		return
	}
	s.killed = true
	if s.grace != nil {
		s.grace.Stop()
		s.grace = nil
	}
	s.rescan.Stop()
	s.event("kill", "sending SIGKILL to all processes")
	s.signalGroups(syscall.SIGKILL)
	s.signalOrphans(syscall.SIGKILL)
	s.noneLeft = false
	s.reaper.poke()
}

// signalOrphans reaches processes that left their group (a daemon that
// called setsid) but, procman being their subreaper or PID 1, are still
// its children. As PID 1, kill(-1) reaches everything in the namespace.
func (s *supervisor) signalOrphans(sig syscall.Signal) {
	if s.isInit {
		if sig != syscall.SIGTERM || !s.termed[-1] {
			unix.Kill(-1, sig)
		}
		s.termed[-1] = true
		return
	}
	for _, pid := range children(os.Getpid()) {
		if s.byPid[pid] != nil || (sig == syscall.SIGTERM && s.termed[pid]) {
			continue // a group leader (signalled with its group), or done
		}
		s.termed[pid] = true
		unix.Kill(pid, sig)
	}
}

// exitCode maps a wait status to a shell-style exit code.
func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

func describe(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "terminated by " + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("exited with code %d", ws.ExitStatus())
}
