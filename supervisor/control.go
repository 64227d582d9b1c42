package supervisor

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A Request asks the running supervisor to do something: the operations
// behind `procman ps`, `stop`, `restart`, `scale`, `quit` and `attach`.
// The owner answers each on Reply (which must have room for one value) as
// soon as the operation is under way; ps answers with the current table.
type Request struct {
	Op      string         // "ps", "stop", "restart", "scale", "quit" or "attach"
	Targets []string       // stop, restart: "web" (every instance) or "web.2"; attach: one of them
	Counts  map[string]int // scale: the new count per type
	// attach: take the instance from a client attached already, and the
	// client's window size (0 when it has none).
	Force      bool
	Cols, Rows int
	Reply      chan<- Reply
}

// A Reply answers a Request: an error, or the instances (for ps, and the
// instances a stop, restart or scale acted on), or the attach's session.
type Reply struct {
	Err       error
	Instances []Status
	Session   *Session
}

// Status describes one instance for `procman ps`.
type Status struct {
	Label    string    `json:"label"`
	Name     string    `json:"name"`
	State    string    `json:"state"` // a State: pending, running, stopping, exited, restarting, stopped
	Pid      int       `json:"pid,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Restarts int       `json:"restarts"`
	Port     int       `json:"port,omitempty"`
	Ready    bool      `json:"ready"`
	Exit     string    `json:"exit,omitempty"` // "exited with code 1", "terminated by SIGKILL"
}

func (s *supervisor) request(req Request) {
	var r Reply
	switch req.Op {
	case "ps":
		r.Instances = s.table(s.procs)
	case "stop", "restart":
		ps, err := s.resolve(req.Targets)
		if err != nil {
			r.Err = err
			break
		}
		for _, p := range ps {
			if req.Op == "stop" {
				s.stopOne(p, userStop)
			} else {
				s.restartOne(p)
			}
		}
		r.Instances = s.table(ps)
	case "scale":
		r.Instances, r.Err = s.scale(req.Counts)
	case "attach":
		r.Session, r.Err = s.attach(req)
	case "quit":
		s.event("signal", "quit requested, stopping")
		s.beginStop(cause{code: 128 + int(syscall.SIGTERM), what: "quit"})
	default:
		r.Err = fmt.Errorf("unknown operation %q", req.Op)
	}
	if s.stop != nil && req.Op != "ps" && req.Op != "quit" && req.Op != "attach" && r.Err == nil {
		r.Err = errors.New("procman is stopping")
	}
	select {
	case req.Reply <- r:
	default: // a caller without room for its reply gets none
	}
}

func (s *supervisor) table(ps []*proc) []Status {
	out := make([]Status, 0, len(ps))
	for _, p := range ps {
		if p.release && p.gen == 0 {
			continue
		}
		st := Status{Label: p.Label, Name: p.Name, State: p.state.String(), Restarts: p.total,
			Port: p.Port, Ready: p.ready}
		if p.gen > 0 {
			st.Pid, st.Started = p.pid, p.started
		}
		if p.gen > 0 && (p.state == Exited || p.state == Restarting || p.state == Stopped) {
			st.Exit = describe(p.status)
		}
		out = append(out, st)
	}
	return out
}

// resolve maps "web" to every instance of web and "web.2" to that one.
func (s *supervisor) resolve(targets []string) ([]*proc, error) {
	if len(targets) == 0 {
		return nil, errors.New("name a process type or instance")
	}
	var out []*proc
	seen := make(map[*proc]bool)
	for _, t := range targets {
		found := false
		for _, p := range s.procs {
			if p.release || p.why == scaledDown || (t != p.Name && t != p.Label) {
				continue
			}
			found = true
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
		if !found {
			return nil, fmt.Errorf("no process %q (have %s)", t, strings.Join(s.labels(), ", "))
		}
	}
	return out, nil
}

func (s *supervisor) labels() []string {
	var l []string
	for _, p := range s.procs {
		if !p.release && p.why != scaledDown {
			l = append(l, p.Label)
		}
	}
	return l
}

// stopOne stops one instance gracefully (SIGTERM, its own grace, SIGKILL);
// why says what follows its exit.
func (s *supervisor) stopOne(p *proc, w why) {
	if s.stop != nil {
		return
	}
	switch p.state {
	case Running:
		p.why = w
		p.setState(Stopping)
		unix.Kill(-p.pid, syscall.SIGTERM)
		gen := p.gen
		p.stopTimer = s.later(s.cfg.Grace, func() {
			if p.gen == gen && p.state == Stopping {
				unix.Kill(-p.pid, syscall.SIGKILL)
			}
		})
		s.event("stopping", fmt.Sprintf("sending SIGTERM to %s", p.Label))
	case Stopping:
		p.why = w
	case Pending, Exited, Restarting, Stopped:
		// Not running: a scheduled restart or a wait for its turn is
		// called off; a stopped instance stays stopped.
		p.why = w
		if p.state != Stopped {
			p.setState(Stopped)
		}
		if w == scaledDown {
			s.remove(p)
		}
	}
}

func (s *supervisor) restartOne(p *proc) {
	if s.stop != nil {
		return
	}
	switch p.state {
	case Running, Stopping:
		s.stopOne(p, userRestart)
	default:
		p.restarts = 0
		s.restartNow(p)
	}
}

// scale brings each named type to its new count: new instances get the
// next numbers (and so the next ports), the highest numbers go first.
func (s *supervisor) scale(counts map[string]int) ([]Status, error) {
	if s.cfg.NewProcess == nil {
		return nil, errors.New("scaling is not available")
	}
	names := make([]string, 0, len(counts))
	for name, n := range counts {
		if n < 0 {
			return nil, fmt.Errorf("%s=%d: count must not be negative", name, n)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	// An instance stopped with procman stop does not count: scale starts
	// the stopped ones again first (lowest numbers first), then adds new
	// numbers after the highest. Every new process is made before anything
	// starts, so an unknown type changes nothing.
	var added, woken []*proc
	for _, name := range names {
		all := s.instances(name)
		live, stopped := splitStopped(all)
		next := 1
		if len(all) > 0 {
			next = all[len(all)-1].num + 1
		}
		for need := counts[name] - len(live); need > 0; need-- {
			if len(stopped) > 0 {
				woken = append(woken, stopped[0])
				stopped = stopped[1:]
				continue
			}
			p, err := s.cfg.NewProcess(name, next)
			if err != nil {
				return nil, err
			}
			next++
			added = append(added, s.newProc(p))
			s.cfg.Log.Widen(len(p.Label))
		}
	}
	// Start before stopping any: a start that fails (out of file
	// descriptors or processes) takes back what it started, and the
	// formation stays as it was.
	for _, p := range added {
		s.insert(p)
	}
	err := s.startDue()
	for _, p := range woken {
		if err == nil {
			p.restarts = 0
			p.why = notStopped
			err = s.start(p)
		}
	}
	if err != nil {
		s.takeBack(added, woken)
		s.event("scale", fmt.Sprintf("scale failed, the formation is unchanged: %v", err))
		return nil, fmt.Errorf("%w; the formation is unchanged", err)
	}
	var touched []*proc
	for _, name := range names {
		live, _ := splitStopped(s.instances(name))
		for i := len(live) - 1; i >= counts[name]; i-- {
			s.stopOne(live[i], scaledDown)
			touched = append(touched, live[i])
		}
	}
	return s.table(append(append(touched, woken...), added...)), nil
}

// takeBack undoes a scale that could not start everything: the new
// instances go, the stopped ones it started stop again.
func (s *supervisor) takeBack(added, woken []*proc) {
	for _, p := range added {
		if p.gen > 0 {
			s.stopOne(p, scaledDown)
		} else {
			s.remove(p)
		}
	}
	for _, p := range woken {
		if p.state == Running {
			s.stopOne(p, userStop)
		} else {
			p.why = userStop
		}
	}
}

// splitStopped separates the instances procman stop stopped from the
// others, keeping their order.
func splitStopped(ps []*proc) (live, stopped []*proc) {
	for _, p := range ps {
		if p.state == Stopped {
			stopped = append(stopped, p)
		} else {
			live = append(live, p)
		}
	}
	return live, stopped
}

// instances lists the live instances of a type, by number.
func (s *supervisor) instances(name string) []*proc {
	var out []*proc
	for _, p := range s.procs {
		if p.Name == name && !p.release && p.why != scaledDown {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].num < out[j].num })
	return out
}

func (s *supervisor) newProc(p Process) *proc {
	num := 1
	if i := strings.LastIndexByte(p.Label, '.'); i >= 0 {
		if n, err := strconv.Atoi(p.Label[i+1:]); err == nil {
			num = n
		}
	}
	return &proc{Process: p, level: s.levels[p.Name], num: num, input: noInput}
}

// insert adds p after the last instance of its type, keeping ps in
// Procfile order.
func (s *supervisor) insert(p *proc) {
	at := len(s.procs)
	for i, q := range s.procs {
		if q.Name == p.Name {
			at = i + 1
		}
	}
	s.procs = append(s.procs, nil)
	copy(s.procs[at+1:], s.procs[at:])
	s.procs[at] = p
}

func (s *supervisor) remove(p *proc) {
	for i, q := range s.procs {
		if q == p {
			s.procs = append(s.procs[:i], s.procs[i+1:]...)
			return
		}
	}
}

// jitter spreads restarts of processes that failed together by ±20%.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}
