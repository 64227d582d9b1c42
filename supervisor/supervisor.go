package supervisor

import (
	"errors"
	"fmt"
	"os"
	"slices"
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
	Dir       string          // working directory of every process
	Processes []Process       // started in this order
	Grace     time.Duration   // from SIGTERM to SIGKILL when stopping
	Log       *logmux.Mux     // receives every child's output and procman's events
	PTY       bool            // give each child a pty instead of a pipe
	PTYFor    map[string]bool // give the processes of these types a pty, whatever PTY says
	Cols      uint16          // pty window size; 0 means 80x24
	Rows      uint16
	// Signals carries the signals procman receives. The caller subscribes
	// (signal.Notify) before calling Run, so none is lost while processes
	// start: SIGINT and SIGTERM stop; SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT and
	// SIGWINCH are forwarded to every process group; SIGTSTP and SIGCONT
	// suspend and resume the app; SIGTTIN, SIGTTOU and SIGPIPE are ignored.
	Signals <-chan os.Signal

	// Policy says what happens when a process exits on its own; the zero
	// Policy is foreman's rule: any exit stops the app.
	Policy Policy
	// Release, when set, runs to completion before anything else starts;
	// the others start only if it exits 0 (Heroku's release phase).
	Release *Process
	// Requests carries control requests (ps, stop, restart, scale, quit);
	// nil when procman has no control socket.
	Requests <-chan Request
	// NewProcess makes instance num of a process type, for live scaling;
	// nil disables scaling.
	NewProcess func(name string, num int) (Process, error)
	// Stdin, when set, is the stdin of the processes of type Attach (for
	// `start --attach`). Every other process on a pipe gets a pipe of its
	// own, empty until a client attaches (`procman attach`) and types; a
	// process on a pty reads its pty.
	Stdin  *os.File
	Attach string
	// Started, when set, is called once, from Run's goroutine, as soon as
	// every process of the formation has started (after the release phase,
	// and after the processes they wait for are ready): for `start -D`,
	// which returns then. It is not called when the app stops first.
	Started func()
}

// A Policy holds the lifecycle rules of a run, by process type.
type Policy struct {
	// CanDie names types whose exit with status 0 stops nothing; AnyCanDie
	// extends that to every type.
	CanDie    map[string]bool
	AnyCanDie bool
	// Restart names types restarted when they exit on their own, with
	// exponential backoff; the value says when.
	Restart map[string]RestartMode
	// MaxRestarts is how many restarts in a row a process gets before the
	// first-exit rule applies; negative means no limit.
	MaxRestarts int
	// After says which types wait for which: After["worker"] = ["web"]
	// starts worker only once every web instance is ready. Stopping goes
	// in the reverse order. It must be acyclic (procfile checks).
	After map[string][]string
	// Backoff is the first restart delay (default 1s), doubled after each
	// restart in a row up to BackoffMax (default 30s), with ±20% jitter.
	Backoff, BackoffMax time.Duration
	// Steady is how long a process must stay up for its backoff to start
	// again from Backoff (default 10s).
	Steady time.Duration
}

// RestartMode says when a process is restarted.
type RestartMode int

// The restart modes.
const (
	OnFailure RestartMode = iota + 1 // after a non-zero exit or a signal
	Always                           // after any exit
)

// Run starts every process, supervises them until one exits on its own
// (subject to Policy) or a stop signal arrives, stops them all (SIGTERM to
// every process group, then SIGKILL to whatever is left when the grace
// period ends), waits until no child, grandchild or orphan of procman is
// left and all output is written, and returns procman's exit status: the
// code of the process whose exit began the stop, 128+N if it died of
// signal N, 128+S when procman was stopped by signal S. An error means
// procman itself failed (a process could not be started); everything
// started is stopped before it returns.
//
// Run assumes it is the process's only reaper while it runs: it waits for
// every child of the process (wait4(-1)), so no other code may start or
// wait for children meanwhile, and two Runs must not overlap. On Linux it
// makes the process a child subreaper (unless it is PID 1) and restores
// the flag when it returns. Unless the process is PID 1 it also starts a
// guardian (a /bin/sh outside the process's session, see guardian.go) that
// stops the processes if the process dies without stopping them, and that
// exits before Run returns. Everything Run sets up (threads, pipes,
// goroutines, the guardian) is gone when it returns.
func Run(cfg Config) (int, error) {
	if len(cfg.Processes) == 0 && cfg.Release == nil {
		return 0, errors.New("no processes to run")
	}
	s := newSupervisor(cfg)
	defer s.close()
	return s.run()
}

// State is where an instance is in its lifecycle, as `procman ps` shows
// it. Only the owner goroutine changes it, through setState.
type State int

// The states of an instance.
const (
	Pending    State = iota // not started yet: waiting for the release phase or for the types it starts after
	Running                 // started; pid is its process group
	Stopping                // procman sent its group SIGTERM
	Exited                  // reaped; status holds how it ended
	Restarting              // exited on its own; started again when its backoff ends
	Stopped                 // stopped by `procman stop` (or never started): stays so until `procman restart`
)

var stateNames = [...]string{"pending", "running", "stopping", "exited", "restarting", "stopped"}

func (s State) String() string { return stateNames[s] }

// transitions lists the moves an instance can make: start, stop, exit,
// and what follows an exit (a restart after backoff, a requested restart,
// staying stopped).
var transitions = map[State][]State{
	Pending:    {Running, Stopped},
	Running:    {Stopping, Exited},
	Stopping:   {Exited},
	Exited:     {Running, Restarting, Stopped},
	Restarting: {Running, Stopped},
	Stopped:    {Running},
}

// badTransition is called for a move transitions does not allow, which
// is a bug in the supervisor; the tests make it fail loudly.
var badTransition = func(p *proc, to State) {}

// setState moves p to state to.
func (p *proc) setState(to State) {
	if !slices.Contains(transitions[p.state], to) {
		badTransition(p, to)
	}
	p.state = to
}

// Why a process was told to stop, so that its exit is not taken for a
// crash and the owner knows what comes next.
type why int

const (
	notStopped  why = iota
	appStop         // the whole app is stopping
	userStop        // `procman stop`: stay stopped
	userRestart     // `procman restart`: start again once exited
	scaledDown      // `procman scale`: remove once exited
)

// A proc is the owner's record of one instance.
type proc struct {
	Process
	state    State
	pid      int // also its process group id
	gen      int // counts starts, so stale events of an earlier run are ignored
	status   unix.WaitStatus
	why      why
	started  time.Time
	ready    bool
	restarts int // restarts in a row, for backoff and MaxRestarts
	total    int // restarts in all, for ps
	// drained: its output reached the stream. reported: its exit event is
	// written, which waits for the drain (or drainWait) so the last line
	// comes first.
	drained, reported bool
	level             int         // stop order: higher levels stop first
	release           bool        // the release phase
	pty               bool        // its output and input are a pty
	input             input       // procman's end of its stdin while it runs
	session           *Session    // the client attached to it, or nil
	stopTimer         *time.Timer // a requested stop's grace
	num               int         // the instance number, from the label
	// foreign: the sockets that listened on its PORT before its last
	// start, another program's; they do not make it ready.
	foreign []uint64
}

// A cause says why the app is stopping, and so what procman exits with.
type cause struct {
	code int
	what string
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

	reaper *reaper
	wake   chan func() // work for the owner from timers and probes
	quit   chan struct{}

	released bool        // the release phase is over (or there is none)
	stop     *stop       // the app's stop, once it has begun
	held     []os.Signal // signals taken during a start, not yet acted on
	isInit   bool
	// suspended: SIGTSTP stopped the app, and a SIGCONT resumes it.
	suspended bool
	levels    map[string]int // stop level by type
	prober    *prober

	guard *guardian
	// groups holds every process group started and not yet seen empty,
	// including those of earlier runs of a restarted process; true once
	// its leader was reaped, when it may empty at any time.
	groups map[int]bool
	// reapsAll: every descendant of procman is its child once orphaned
	// (procman is PID 1 or a subreaper), so no child left means nothing
	// left. Otherwise the stop also waits for every group to be empty.
	reapsAll     bool
	wasSubreaper bool // the flag as Run found it, restored when it returns
}

func newSupervisor(cfg Config) *supervisor {
	s := &supervisor{
		cfg:    cfg,
		byPid:  make(map[int]*proc),
		wake:   make(chan func(), 64),
		quit:   make(chan struct{}),
		groups: make(map[int]bool),
		isInit: os.Getpid() == 1,
	}
	if cfg.Policy.Backoff <= 0 {
		s.cfg.Policy.Backoff = time.Second
	}
	if cfg.Policy.BackoffMax <= 0 {
		s.cfg.Policy.BackoffMax = 30 * time.Second
	}
	if cfg.Policy.Steady <= 0 {
		s.cfg.Policy.Steady = 10 * time.Second
	}
	if cfg.Release != nil {
		s.procs = append(s.procs, &proc{Process: *cfg.Release, release: true, input: noInput})
	} else {
		s.released = true
	}
	s.levels = stopLevels(cfg.Policy.After)
	for _, p := range cfg.Processes {
		s.procs = append(s.procs, s.newProc(p))
	}
	return s
}

// stopLevels gives each type its place in the stop order: a type that
// others wait for stops after them.
func stopLevels(after map[string][]string) map[string]int {
	level := make(map[string]int)
	var visit func(name string, depth int)
	visit = func(name string, depth int) {
		if depth > len(after) { // a cycle; procfile rejects those earlier
			return
		}
		for _, dep := range after[name] {
			if level[dep] >= level[name]-1 {
				// dep must stop after name: give it a lower level.
				level[dep] = level[name] - 1
				visit(dep, depth+1)
			}
		}
	}
	for name := range after {
		visit(name, 0)
	}
	return level
}

func (s *supervisor) close() {
	close(s.quit)
	s.guard.bye()
	if s.reaper != nil {
		s.reaper.stop()
	}
	if hasSubreaper && !s.isInit && !s.wasSubreaper {
		setSubreaper(false)
	}
	if s.stop != nil {
		s.stop.stopTimers()
	}
	for _, p := range s.procs {
		if p.stopTimer != nil {
			p.stopTimer.Stop()
		}
		if p.session != nil {
			p.session.end(Ending{Reason: "procman has stopped"})
		}
		p.closeInput()
	}
}

// later runs f in the owner after d, unless the run is over by then.
func (s *supervisor) later(d time.Duration, f func()) *time.Timer {
	return time.AfterFunc(d, func() {
		select {
		case s.wake <- f:
		case <-s.quit:
		}
	})
}

func (s *supervisor) run() (int, error) {
	// The reaper (and with it the Linux fork thread, whose descriptor
	// table is a copy of the process's) before any pipe.
	s.reaper = newReaper()
	s.reapsAll = s.isInit
	if !s.isInit {
		// The guardian before procman becomes a subreaper: otherwise it
		// would come back to procman as an orphan. As PID 1 none is needed:
		// the kernel kills the whole namespace when PID 1 dies.
		was, err := setSubreaper(false)
		if err != nil {
			return 1, err
		}
		s.wasSubreaper = was
		if s.guard, err = startGuardian(s.reaper, s.cfg.Grace); err != nil {
			s.event("warning", fmt.Sprintf("%v; if procman is killed, its processes may outlive it", err))
		}
		if hasSubreaper {
			// Orphans of our processes (a daemonising child) come back to
			// us, so they are stopped and reaped with the rest.
			if _, err := setSubreaper(true); err != nil {
				return 1, err
			}
			s.reapsAll = true
		}
	}
	s.prober = newProber(s)

	var startErr error
	if err := s.startDue(); err != nil {
		startErr = err
		s.beginStop(cause{code: 1, what: err.Error()})
	}
	if len(s.cfg.Policy.After) > 0 {
		s.later(waitHint, s.hintWaiting)
	}
	code := s.loop()
	return code, startErr
}

// allStarted reports whether every process of the formation has started
// once: the release phase is over and nothing waits for its turn.
func (s *supervisor) allStarted() bool {
	if !s.released {
		return false
	}
	for _, p := range s.procs {
		if p.state == Pending && p.gen == 0 && p.why == notStopped && !p.release {
			return false
		}
	}
	return true
}

// startDue starts every pending process whose turn has come: after the
// release phase, and once the types it waits for are ready. A process
// without a port is ready once started, which may let others start: hence
// the passes until nothing more starts.
func (s *supervisor) startDue() error {
	for !s.interrupted() {
		var due []*proc
		for _, p := range s.procs {
			if s.isDue(p) {
				due = append(due, p)
			}
		}
		if len(due) == 0 {
			return nil
		}
		if err := s.startAll(due); err != nil {
			return err
		}
		again := false
		for _, p := range due {
			again = again || p.ready
		}
		if !again {
			return nil
		}
	}
	return nil
}

// isDue reports whether p's turn to start has come.
func (s *supervisor) isDue(p *proc) bool {
	if p.state != Pending || p.why != notStopped || (!s.released && !p.release) || (s.released && p.release) {
		return false
	}
	if p.gen > 0 || s.stop != nil {
		return false // a restart timer's business, or too late
	}
	return s.depsReady(p.Name)
}

// waitHint is how long a process may wait for its turn before procman
// says what it waits for: a dependency that never listens on its PORT is
// never ready, and the user should hear why nothing happens.
const waitHint = 10 * time.Second

func (s *supervisor) hintWaiting() {
	if s.stop != nil {
		return
	}
	for _, p := range s.procs {
		if p.state != Pending || p.gen > 0 || p.why != notStopped || !s.released {
			continue
		}
		for _, dep := range s.cfg.Policy.After[p.Name] {
			for _, q := range s.procs {
				if q.Name == dep && !q.release && q.why != scaledDown && !q.ready {
					what := "nothing listens on :%d yet"
					if len(q.foreign) > 0 {
						what = "only another program listens on :%d"
					}
					s.event("waiting", fmt.Sprintf("%s is waiting for %s: %s is not ready ("+what+")", p.Label, dep, q.Label, q.Port))
					break
				}
			}
		}
	}
}

// depsReady says whether every instance of every type name waits for is
// ready. A type with no instances does not hold anything up.
func (s *supervisor) depsReady(name string) bool {
	for _, dep := range s.cfg.Policy.After[name] {
		for _, q := range s.procs {
			if q.Name == dep && !q.release && q.why != scaledDown && !q.ready {
				return false
			}
		}
	}
	return true
}

// loop is the owner: the only goroutine that changes process state or
// sends signals. It returns procman's exit status once the app has stopped.
func (s *supervisor) loop() int {
	broken := s.cfg.Log.Broken()
	for {
		for len(s.held) > 0 {
			sig := s.held[0]
			s.held = s.held[1:]
			if sig, ok := sig.(syscall.Signal); ok {
				s.signal(sig)
			}
		}
		if s.stop != nil && s.finished() {
			return s.stop.code
		}
		if s.cfg.Started != nil && s.stop == nil && s.allStarted() {
			s.cfg.Started()
			s.cfg.Started = nil
		}
		var graceC, rescanC, pollC <-chan time.Time
		if s.stop != nil && s.stop.grace != nil {
			graceC = s.stop.grace.C
			rescanC = s.stop.rescan.C
		}
		if s.polling() {
			pollC = time.After(groupPoll)
		}
		select {
		case b := <-s.reaper.batches:
			if s.stop != nil && b.seq > s.stop.since {
				s.stop.noneLeft = b.noneLeft
			}
			for _, e := range b.exits {
				s.exited(e)
			}
			s.pruneGroups()
			s.nextLevel()
		case <-pollC:
		case f := <-s.wake:
			f()
		case sig := <-s.cfg.Signals:
			if sig, ok := sig.(syscall.Signal); ok {
				s.signal(sig)
			}
		case req := <-s.cfg.Requests:
			s.request(req)
		case <-broken:
			broken = nil
			s.beginStop(cause{code: 128 + int(syscall.SIGPIPE), what: "output closed"})
		case <-graceC:
			s.killLevel()
		case <-rescanC:
			// A dying process may have orphaned a daemon that had left its
			// group; it is procman's child now and gets its SIGTERM too.
			// No SIGCHLD tells of that, hence the look during the grace.
			if s.stop.level == s.minLevel() {
				s.signalOrphans(syscall.SIGTERM)
			}
		}
	}
}

// start starts p alone; its error does not name p (startAll's does).
func (s *supervisor) start(p *proc) error {
	return errors.Unwrap(s.startAll([]*proc{p}))
}

// A launch is one process being started: its end of the output pipe (or
// pty) and what to fork.
type launch struct {
	p      *proc
	out    *os.File
	closed func() // call once out is closed
	spawn  spawn
	pty    bool
	// stdin is the child's end of its own stdin pipe, closed once it
	// started; input is procman's end (see proc.input).
	stdin *os.File
	input input
}

// startAll starts ps, in batches of startBatch, each forked in one
// hand-over to the forker. If one cannot start, the others still do and
// its error is returned. A stop signal that arrives meanwhile ends the
// start before the next batch: a process with side effects at start is
// not started after the user said stop. The rest stay pending.
func (s *supervisor) startAll(ps []*proc) error {
	// Whatever listens on a process's PORT before it starts is another
	// program's (or an earlier run's that lingers).
	var before listeners
	for _, p := range ps {
		if p.Port != 0 {
			before, _ = listeningPorts()
			break
		}
	}
	var firstErr error
	for lo := 0; lo < len(ps) && !s.interrupted(); lo += startBatch {
		err := s.startBatch(ps[lo:min(lo+startBatch, len(ps))], before)
		if firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// startBatch bounds the processes forked at once: their pipes are open
// while they wait, and signals are looked at between batches.
const startBatch = 64

// startBatch starts ps, forked in one hand-over to the forker.
func (s *supervisor) startBatch(ps []*proc, before listeners) error {
	var firstErr error
	launches := make([]launch, 0, len(ps))
	spawns := make([]spawn, 0, len(ps))
	for _, p := range ps {
		l, err := s.prepare(p)
		if err != nil {
			firstErr = fmt.Errorf("start %s: %w", p.Label, err)
			break
		}
		launches = append(launches, l)
		spawns = append(spawns, l.spawn)
	}
	pids, errs := s.reaper.startAll(spawns)
	var started []int
	for i, l := range launches {
		l.spawn.files[1].Close() // the child's end
		if l.stdin != nil {
			l.stdin.Close()
		}
		if errs[i] != nil {
			l.out.Close()
			l.closed()
			l.input.close()
			if firstErr == nil {
				firstErr = fmt.Errorf("start %s: %w", l.p.Label, errs[i])
			}
			continue
		}
		l.p.foreign = slices.Clone(before[l.p.Port])
		s.started(l, pids[i])
		started = append(started, pids[i])
	}
	for _, pg := range started {
		s.groups[pg] = false
	}
	s.guard.add(started)
	return firstErr
}

// interrupted takes the signals that arrived while processes start, to be
// acted on once the start is over, and reports whether one of them (or an
// earlier cause) stops the app.
func (s *supervisor) interrupted() bool {
	for {
		select {
		case sig := <-s.cfg.Signals:
			s.held = append(s.held, sig)
		default:
			return s.stop != nil || slices.ContainsFunc(s.held, func(sig os.Signal) bool {
				return sig == syscall.SIGINT || sig == syscall.SIGTERM
			})
		}
	}
}

// prepare opens p's output pipe (or pty) and says how to fork it.
func (s *supervisor) prepare(p *proc) (launch, error) {
	var out, childOut *os.File
	var duplex bool
	var err error
	closed := func() {}
	sys := &syscall.SysProcAttr{}
	var tty *os.File
	usePTY := s.cfg.PTY || s.cfg.PTYFor[p.Name]
	if usePTY {
		out, childOut, err = logmux.OpenPTY(s.windowSize())
		// A session leader with the pty as its terminal: that already
		// makes it a process group leader (Setpgid too would fail).
		sys.Setsid, sys.Setctty, sys.Ctty = true, true, 1
		tty = childOut
	} else {
		out, childOut, duplex, closed, err = outputPipe()
		sys.Setpgid = true
	}
	if err != nil {
		return launch{}, err
	}
	stdin, own, input, err := s.inputOf(p, out, childOut, tty != nil || duplex)
	if err != nil {
		out.Close()
		childOut.Close()
		closed()
		return launch{}, err
	}
	l := launch{p: p, out: out, closed: closed, pty: usePTY, input: input, spawn: spawn{
		argv:  []string{"/bin/sh", "-c", p.Command},
		env:   p.Env,
		dir:   s.cfg.Dir,
		files: []*os.File{stdin, childOut, childOut},
		sys:   sys,
	}}
	if own {
		l.stdin = stdin
	}
	return l, nil
}

// started records that l's process runs as pid, relays its output and
// watches its port.
func (s *supervisor) started(l launch, pid int) {
	p, out := l.p, l.out
	p.gen++
	gen := p.gen
	p.setState(Running)
	p.pid, p.status, p.why = pid, 0, notStopped
	p.drained, p.reported, p.ready = false, false, false
	p.started = time.Now()
	p.pty, p.input = l.pty, l.input
	s.byPid[pid] = p
	s.cfg.Log.Event(logmux.Event{Proc: p.Label, Kind: "started", Pid: pid,
		Msg: fmt.Sprintf("%s started with pid %d", p.Label, pid)})
	go func() {
		s.cfg.Log.Copy(p.Label, pid, out)
		out.Close()
		l.closed()
		select {
		case s.wake <- func() { s.drained(p, gen) }:
		case <-s.quit:
		}
	}()
	if p.Port == 0 {
		p.ready = true
		return
	}
	if len(p.foreign) > 0 {
		s.cfg.Log.Event(logmux.Event{Proc: p.Label, Kind: "warning", Pid: pid, Port: p.Port,
			Msg: fmt.Sprintf("%s: port %d is already in use by another program; %s is ready only once it listens there itself", p.Label, p.Port, p.Label)})
	}
	s.prober.watch(p)
}

func (s *supervisor) drained(p *proc, gen int) {
	if p.gen != gen {
		return
	}
	p.drained = true
	if p.state == Exited {
		s.settle(p)
	}
}

// exited handles the reaped leader of a process group.
func (s *supervisor) exited(e exit) {
	p := s.byPid[e.pid]
	if p == nil {
		return
	}
	s.groups[e.pid] = true
	delete(s.byPid, e.pid)
	p.closeInput()
	p.setState(Exited)
	p.status, p.ready = e.status, false
	s.prober.forget(p)
	if p.stopTimer != nil {
		p.stopTimer.Stop()
	}
	if p.drained {
		s.settle(p)
		return
	}
	gen := p.gen
	s.later(drainWait, func() {
		if p.gen == gen {
			s.settle(p)
		}
	})
}

// settle acts on p's exit once its last output is written (or drainWait
// has passed): it reports the exit and decides what follows.
func (s *supervisor) settle(p *proc) {
	if p.reported || p.state != Exited {
		return
	}
	s.endSession(p)
	if s.stop == nil && p.why == notStopped && s.restartDue(p) {
		p.reported = true // the restart event tells of the exit
		s.scheduleRestart(p)
		return
	}
	s.report(p)
	if s.stop != nil {
		return
	}
	code := exitCode(p.status)
	switch p.why {
	case userStop:
		p.setState(Stopped)
		return
	case userRestart:
		s.restartNow(p)
		return
	case scaledDown:
		s.remove(p)
		return
	}
	pol := s.cfg.Policy
	switch {
	case p.release && code == 0:
		s.released = true
		if err := s.startDue(); err != nil {
			s.beginStop(cause{code: 1, what: err.Error()})
		}
		return
	case p.release:
		s.beginStop(cause{code: code, what: "release phase failed"})
		return
	case code == 0 && (pol.AnyCanDie || pol.CanDie[p.Name]):
		p.ready = true // a may-exit process that finished is done, and ready
		if err := s.startDue(); err != nil {
			s.beginStop(cause{code: 1, what: err.Error()})
			return
		}
		s.stopIfIdle()
		return
	}
	if mode := pol.Restart[p.Name]; mode == Always || (mode == OnFailure && code != 0) {
		s.event("restart", fmt.Sprintf("%s gave up after %d %s", p.Label, p.restarts, plural(p.restarts, "restart")))
	}
	// The first-exit rule: a process ending on its own stops the app, and
	// its status becomes procman's.
	s.beginStop(cause{code: code, what: p.Label + " " + describe(p.status)})
}

// stopIfIdle ends the run once nothing is running or due to run again,
// as when every process may exit and all have.
func (s *supervisor) stopIfIdle() {
	for _, p := range s.procs {
		if p.state != Exited || p.why == userStop {
			return
		}
	}
	s.beginStop(cause{code: 0, what: "all processes exited"})
}

// restartDue says whether p's exit calls for a restart under the policy.
// A process that stayed up for Steady starts its count (and backoff) anew.
func (s *supervisor) restartDue(p *proc) bool {
	pol := s.cfg.Policy
	code := exitCode(p.status)
	mode := pol.Restart[p.Name]
	if p.release || (code == 0 && (pol.AnyCanDie || pol.CanDie[p.Name])) {
		return false
	}
	if mode != Always && (mode != OnFailure || code == 0) {
		return false
	}
	if time.Since(p.started) >= pol.Steady {
		p.restarts = 0
	}
	return pol.MaxRestarts < 0 || p.restarts < pol.MaxRestarts
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func (s *supervisor) scheduleRestart(p *proc) {
	delay := s.cfg.Policy.Backoff << p.restarts
	if delay > s.cfg.Policy.BackoffMax || delay <= 0 {
		delay = s.cfg.Policy.BackoffMax
	}
	delay = jitter(delay)
	p.restarts++
	p.total++
	p.setState(Restarting)
	e := exitEvent(p, "restart")
	e.Delay = delay
	e.Msg = fmt.Sprintf("%s %s; restarting in %.2fs (restart %d)", p.Label, describe(p.status), delay.Seconds(), p.restarts)
	s.cfg.Log.Event(e)
	gen := p.gen
	s.later(delay, func() {
		if p.gen != gen || p.state != Restarting || s.stop != nil {
			return // never restarted while procman is stopping
		}
		if err := s.start(p); err != nil {
			s.beginStop(cause{code: 1, what: fmt.Sprintf("restart %s: %v", p.Label, err)})
		}
	})
}

// restartNow starts p again at once (a requested restart).
func (s *supervisor) restartNow(p *proc) {
	p.total++
	if err := s.start(p); err != nil {
		s.event("restart", fmt.Sprintf("restart %s: %v", p.Label, err))
		p.why = userStop
		if p.state != Stopped {
			p.setState(Stopped)
		}
	}
}

// report writes p's exit event.
func (s *supervisor) report(p *proc) {
	p.reported = true
	s.cfg.Log.Event(exitEvent(p, "exited"))
}

// exitEvent describes p's exit: its code, or the signal that ended it.
func exitEvent(p *proc, kind string) logmux.Event {
	e := logmux.Event{Proc: p.Label, Kind: kind, Pid: p.pid, Msg: p.Label + " " + describe(p.status)}
	if p.status.Signaled() {
		e.Signal = unix.SignalName(p.status.Signal())
	} else {
		e.Code = p.status.ExitStatus()
	}
	return e
}

func (s *supervisor) signal(sig syscall.Signal) {
	name := unix.SignalName(sig)
	switch sig {
	case syscall.SIGINT, syscall.SIGTERM:
		if s.stop != nil {
			s.stop.hurry = true
			if !s.stop.killed {
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
		s.signalGroups(sig, s.all)
	case syscall.SIGTSTP:
		if s.isInit {
			return // PID 1 cannot be stopped; neither is the app
		}
		s.event("signal", "SIGTSTP received, suspending all processes")
		s.signalGroups(syscall.SIGSTOP, s.all)
		s.suspended = true
		unix.Kill(os.Getpid(), unix.SIGSTOP)
	case syscall.SIGCONT:
		// Only a resume after our own suspend is news; tools such as
		// timeout(1) send SIGCONT after every signal.
		if s.isInit || !s.suspended {
			return
		}
		s.suspended = false
		s.event("signal", "SIGCONT received, resuming all processes")
		s.signalGroups(syscall.SIGCONT, s.all)
	}
	// SIGTTIN, SIGTTOU and SIGPIPE: procman reads no terminal and learns
	// of a closed stdout from the write error, so there is nothing to do.
}

func (s *supervisor) event(kind, msg string) {
	s.cfg.Log.Event(logmux.Event{Kind: kind, Msg: msg})
}

func (s *supervisor) all(*proc) bool { return true }

// signalGroups sends sig to the process group of every started process
// that which selects, including groups whose leader has exited: its
// grandchildren may live on.
func (s *supervisor) signalGroups(sig syscall.Signal, which func(*proc) bool) {
	for _, p := range s.procs {
		if p.gen > 0 && which(p) {
			unix.Kill(-p.pid, sig)
		}
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
