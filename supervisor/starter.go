package supervisor

import (
	"os"
	"syscall"
)

// A spawn describes one fork+exec.
type spawn struct {
	argv  []string
	env   []string
	dir   string
	files []*os.File // the child's fds 0, 1, 2...
	sys   *syscall.SysProcAttr
}

// A forker forks and execs children for a reaper. It registers each pid
// with r.watch while holding r.mu across the fork, so that the reaper never
// reaps a child before it is watched (and takes it for an orphan). The
// portable forker (forker.go) forks from the calling goroutine; Linux has
// an accelerator (forker_linux.go) that forks on a thread of its own.
type forker interface {
	// startAll starts every spawn, reporting each one's pid or error.
	startAll(r *reaper, spawns []spawn) (pids []int, errs []error)
	// close releases what the forker holds; it forks nothing afterwards.
	close()
}

// start forks and execs s and registers the pid with the reaper before
// the reaper can see its exit.
func (r *reaper) start(s spawn) (int, error) {
	pids, errs := r.startAll([]spawn{s})
	return pids[0], errs[0]
}

// startAll starts every spawn as start does, all handed to the forker at
// once.
func (r *reaper) startAll(spawns []spawn) (pids []int, errs []error) {
	return r.forker.startAll(r, spawns)
}

// forkExec forks and execs s with the given descriptors as the child's
// files, and registers the pid with r. Both forkers end here.
func (r *reaper) forkExec(s spawn, fds []uintptr) (int, error) {
	attr := &syscall.ProcAttr{Dir: s.dir, Env: s.env, Files: fds, Sys: s.sys}
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := syscall.ForkExec(s.argv[0], s.argv, attr)
	if err == nil {
		r.watch(pid)
	}
	return pid, err
}
