package supervisor

import (
	"os"
	"runtime"
	"sync"
	"syscall"
)

// Children get SIGKILL when the thread that forked them dies (Pdeathsig is
// tied to the thread, not the process). All forks therefore happen on one
// goroutine locked to its OS thread for the life of procman, so the signal
// fires only when procman itself is gone (e.g. SIGKILLed).
var (
	forkOnce sync.Once
	forks    chan func()
)

// onForkThread runs f on the locked fork thread and waits for it.
func onForkThread(f func()) {
	forkOnce.Do(func() {
		forks = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: the thread must outlive every child
			for f := range forks {
				f()
			}
		}()
	})
	done := make(chan struct{})
	forks <- func() { f(); close(done) }
	<-done
}

// A spawn describes one fork+exec.
type spawn struct {
	argv  []string
	env   []string
	dir   string
	files []*os.File // the child's fds 0, 1, 2...
	sys   *syscall.SysProcAttr
}

// start forks and execs s on the fork thread and registers the pid with
// the reaper before the reaper can see its exit.
func (r *reaper) start(s spawn) (int, error) {
	fds := make([]uintptr, len(s.files))
	for i, f := range s.files {
		// Fd puts the file in blocking mode, as a child expects of its
		// stdio; procman's own ends are separate descriptions.
		fds[i] = f.Fd()
	}
	attr := &syscall.ProcAttr{Dir: s.dir, Env: s.env, Files: fds, Sys: s.sys}
	var pid int
	var err error
	onForkThread(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		pid, err = syscall.ForkExec(s.argv[0], s.argv, attr)
		if err == nil {
			r.watch(pid)
		}
	})
	for _, f := range s.files {
		runtime.KeepAlive(f)
	}
	return pid, err
}
