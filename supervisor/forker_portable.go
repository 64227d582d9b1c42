//go:build !linux || procman_portable

package supervisor

import "runtime"

// newForker returns the portable forker.
func newForker() forker { return plainForker{} }

// plainForker forks from the calling goroutine, with the process's file
// descriptor table: what every Unix offers.
type plainForker struct{}

func (plainForker) startAll(r *reaper, spawns []spawn) (pids []int, errs []error) {
	pids, errs = make([]int, len(spawns)), make([]error, len(spawns))
	for i, s := range spawns {
		fds := make([]uintptr, len(s.files))
		for j, f := range s.files {
			// Fd puts the file in blocking mode, as a child expects of
			// its stdio; procman's own ends are separate descriptions.
			fds[j] = f.Fd()
		}
		pids[i], errs[i] = r.forkExec(s, fds)
		for _, f := range s.files {
			runtime.KeepAlive(f)
		}
	}
	return pids, errs
}

func (plainForker) close() {}
