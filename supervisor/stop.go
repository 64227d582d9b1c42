package supervisor

import (
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A stop is the app's stop under way. It goes by levels (the types others
// wait for stop last): each level gets SIGTERM and a grace period, then
// SIGKILL for what is left of it; the last level's grace runs on until
// nothing procman started is left, as grandchildren and orphans may
// outlive its processes. A second stop signal kills everything at once.
// Only the owner goroutine touches it.
type stop struct {
	cause
	level    int          // the level being stopped
	killed   bool         // SIGKILL already sent to everything
	grace    *time.Timer  // the current level's grace period
	rescan   *time.Ticker // while grace runs: look for new orphans
	noneLeft bool         // the reaper found no child at all since the last signal
	since    uint64       // reaper passes before the last signal: older batches are stale
	termed   map[int]bool // orphans (by pid) and old groups (by -pgid) already sent SIGTERM
	goneAt   time.Time    // when no child and no group was first found left
	began    time.Time    // when the stop began
	hurry    bool         // a second stop signal: do not wait for output
}

// stopTimers ends the grace period and the orphan rescans.
func (st *stop) stopTimers() {
	if st.grace != nil {
		st.grace.Stop()
		st.grace = nil
		st.rescan.Stop()
	}
}

// beginStop stops the app: SIGTERM to every process group, level by level
// (the types others wait for last), and to any orphan handed to procman.
func (s *supervisor) beginStop(c cause) {
	if s.stop != nil {
		return
	}
	s.stop = &stop{cause: c, termed: make(map[int]bool), began: time.Now()}
	for _, p := range s.procs {
		s.prober.forget(p)
		if p.state == Running || p.state == Stopping {
			p.why = appStop
		}
	}
	s.stop.level = s.maxLevel() + 1
	s.nextLevel()
}

func (s *supervisor) maxLevel() int {
	m := 0
	for i, p := range s.procs {
		if i == 0 || p.level > m {
			m = p.level
		}
	}
	return m
}

func (s *supervisor) minLevel() int {
	m := 0
	for i, p := range s.procs {
		if i == 0 || p.level < m {
			m = p.level
		}
	}
	return m
}

// nextLevel moves the stop on to the next level once every process of the
// current one has exited. The last level's grace runs on until nothing is
// left at all, as grandchildren and orphans may outlive its processes.
func (s *supervisor) nextLevel() {
	if s.stop == nil || s.stop.killed {
		return
	}
	for {
		if s.stop.grace != nil {
			if s.stop.level == s.minLevel() || s.levelRunning(s.stop.level) {
				return
			}
			s.stop.stopTimers()
		}
		if s.stop.level <= s.minLevel() {
			return
		}
		s.stop.level--
		s.termLevel()
	}
}

func (s *supervisor) levelRunning(level int) bool {
	for _, p := range s.procs {
		if p.level == level && (p.state == Running || p.state == Stopping) {
			return true
		}
	}
	return false
}

// termLevel sends SIGTERM to the current level and starts its grace.
func (s *supervisor) termLevel() {
	level := s.stop.level
	inLevel := func(p *proc) bool { return p.level == level }
	running := false
	for _, p := range s.procs {
		if inLevel(p) && p.state == Running {
			p.setState(Stopping)
			running = true
		}
	}
	if running {
		s.event("stopping", "sending SIGTERM to all processes")
	}
	switch {
	case level == s.minLevel() && s.isInit && !ownProc():
		// kill(-1) (see signalOrphans) reaches every process of the
		// namespace, this level's groups included: each gets one SIGTERM.
		// Earlier levels are gone by now (SIGKILL ended their grace).
		s.signalOrphans(syscall.SIGTERM)
	case level == s.minLevel():
		s.signalGroups(syscall.SIGTERM, inLevel)
		s.signalOrphans(syscall.SIGTERM)
	default:
		s.signalGroups(syscall.SIGTERM, inLevel)
	}
	s.awaitNone()
	s.stop.grace = time.NewTimer(s.cfg.Grace)
	s.stop.rescan = time.NewTicker(rescanEvery)
}

// killLevel ends the current level's grace: SIGKILL to what is left of it.
func (s *supervisor) killLevel() {
	s.stop.stopTimers()
	if s.stop.level == s.minLevel() {
		s.killAll()
		return
	}
	level := s.stop.level
	s.event("kill", "sending SIGKILL to the processes still running")
	s.signalGroups(syscall.SIGKILL, func(p *proc) bool { return p.level == level })
	s.awaitNone()
	s.stop.level--
	s.termLevel()
}

// awaitNone forgets that no child was left: a signal was just sent, and
// only a reaper pass that starts after this may say so again.
func (s *supervisor) awaitNone() {
	s.stop.noneLeft = false
	s.stop.since = s.reaper.passes.Load()
	s.reaper.poke()
}

// killAll sends SIGKILL to every process group and every orphan.
func (s *supervisor) killAll() {
	if s.stop.killed {
		return
	}
	s.stop.killed = true
	s.stop.stopTimers()
	s.event("kill", "sending SIGKILL to all processes")
	s.signalGroups(syscall.SIGKILL, s.all)
	s.signalOrphans(syscall.SIGKILL)
	s.awaitNone()
}

// signalOrphans reaches processes that left their group (a daemon that
// called setsid): procman's children, being their subreaper, or as PID 1
// everything in the namespace. Members of a Procfile process's group are
// skipped: the group signal reached them, and a second SIGTERM means "stop
// now" to many programs (procman among them). As PID 1, SIGKILL, and
// SIGTERM when /proc is not the namespace's own, go to kill(-1), which
// reaches the whole namespace and nothing outside it.
func (s *supervisor) signalOrphans(sig syscall.Signal) {
	if s.isInit && (sig != syscall.SIGTERM || !ownProc()) {
		if sig != syscall.SIGTERM || !s.stop.termed[-1] {
			unix.Kill(-1, sig)
		}
		s.stop.termed[-1] = true
		return
	}
	groups := make(map[int]bool)
	for _, p := range s.procs {
		if p.gen > 0 {
			groups[p.pid] = true
		}
	}
	// Groups of earlier runs of restarted processes, whose members
	// outlived their leaders.
	for pg := range s.groups {
		if !groups[pg] && (sig != syscall.SIGTERM || !s.stop.termed[-pg]) {
			s.stop.termed[-pg] = true
			unix.Kill(-pg, sig)
		}
	}
	for _, pid := range strays(os.Getpid(), s.isInit, groups) {
		if sig == syscall.SIGTERM && s.stop.termed[pid] {
			continue
		}
		s.stop.termed[pid] = true
		unix.Kill(pid, sig)
	}
}

// finished says whether the stop is complete: no child of procman is left
// (so no descendant either, as procman is their subreaper) and every
// process's output has been written.
func (s *supervisor) finished() bool {
	if !s.stop.noneLeft {
		return false
	}
	if s.pruneGroups(); !s.reapsAll && len(s.groups) > 0 {
		return false // members outlive their leaders, and procman is not their parent
	}
	if s.stop.goneAt.IsZero() {
		s.stop.goneAt = time.Now()
	}
	for _, p := range s.procs {
		if p.gen > 0 && !p.drained && time.Now().Before(s.drainBy()) {
			return false
		}
	}
	// Whatever is still undrained will not be: a process that left its
	// group holds the pipe, or procman's own reader has stopped reading.
	// A write under way is waited for as long as it moves; one blocked
	// for drainSlack means the reader has stopped, and procman gives up on
	// its output, so that it exits (Close would wait for ever).
	if s.cfg.Log.Stalled(0) {
		if !s.cfg.Log.Stalled(drainSlack) {
			return false
		}
		s.cfg.Log.Abandon()
	}
	for _, p := range s.procs {
		if p.state == Exited && !p.reported {
			s.report(p)
		}
	}
	return true
}

// drainBy is how long a stop waits for the last output once nothing
// procman started is left: at least drainSlack, and up to the end of the
// grace period, but not at all after a second stop signal. The bound keeps
// a stalled reader of procman's output (procman start | less, left
// alone) or a daemon holding a pipe from keeping procman alive.
func (s *supervisor) drainBy() time.Time {
	if s.stop.hurry {
		return s.stop.goneAt
	}
	by := s.stop.goneAt.Add(drainSlack)
	if end := s.stop.began.Add(s.cfg.Grace); end.After(by) {
		by = end
	}
	return by
}

// drainSlack is the least wait for output after the last process is gone.
const drainSlack = time.Second

// polling says whether the stop must look again after groupPoll: nothing
// tells the owner when the last process groups empty (where procman is not
// the parent of every descendant) or when drainBy has passed.
func (s *supervisor) polling() bool {
	return s.stop != nil && s.stop.noneLeft
}

// pruneGroups forgets the process groups that have no member left, and
// tells the guardian, which must not signal them once their numbers may
// be reused.
func (s *supervisor) pruneGroups() {
	var empty []int
	for pg, leaderGone := range s.groups {
		if leaderGone && unix.Kill(-pg, 0) == unix.ESRCH {
			empty = append(empty, pg)
			delete(s.groups, pg)
		}
	}
	// During a stop the guardian is about to be told "bye", and it checks
	// that a group has members before it signals it; a shell taking a
	// thousand names off its list one by one would only slow the stop.
	if s.stop == nil {
		s.guard.remove(empty)
	}
}

// groupPoll is how often a stop looks whether the last process groups
// have emptied, where procman is not the parent of their members (no
// subreaper) and so hears nothing of their exits.
const groupPoll = 20 * time.Millisecond
