//go:build linux && !procman_portable

package supervisor

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The Linux fork thread, an accelerator for plainForker. Children get
// SIGKILL when the thread that forked them dies (Pdeathsig is tied to the
// thread, not the process). All forks therefore happen on one goroutine
// locked to its OS thread for as long as the reaper runs, so the signal
// fires only when procman itself is gone (e.g. SIGKILLed).
//
// That thread also has a file descriptor table of its own. A fork copies
// the forking thread's table into the child and the child's exec closes
// the copies again, so forking from the process's table, which holds one
// pipe per running child, makes each start cost O(children) of kernel
// work and a start of N children O(N²): a tenth of the startup time of a
// thousand children here. The fork thread's table is made
// (unshare(CLONE_FILES)) when the reaper starts, and the copies it gets of
// the files the process held then are closed in it at once; a spawn's
// files reach it over a unix socket (SCM_RIGHTS) and are closed there as
// soon as the child runs. Where unshare is refused (a
// container's seccomp profile may), the fork thread shares the process's
// table, as any thread does. The thread ends, and its table with it, when
// the reaper stops.
type threadForker struct {
	mu      sync.Mutex // pairs each message on the socket with its request
	reqs    chan func()
	send    int  // the sending end, in the process's table
	recv    int  // the receiving end, in the fork thread's table
	private bool // the fork thread has a table of its own
	tid     int  // the fork thread, for tests
}

// newForker returns the fork thread, with a table of its own where the
// kernel allows it.
func newForker() forker { return newThreadForker(true) }

// newThreadForker starts a fork thread, with a table of its own if private
// and the kernel allows it.
func newThreadForker(private bool) *threadForker {
	f := &threadForker{reqs: make(chan func()), send: -1, recv: -1}
	// The runtime may use its poller's epoll and eventfd descriptors from
	// any thread, this one included (a collection started on it restarts
	// the world and polls): they must exist before the table is copied so
	// that they have the same numbers in both. A pollable pipe makes the
	// runtime create them.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	var pair [2]int
	if private {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		private = err == nil
		if private {
			pair = [2]int{fds[0], fds[1]}
		}
	}
	ready := make(chan bool)
	go func() {
		// Never unlocked: the thread must outlive every child it forks,
		// and ends with this goroutine (taking its own table with it).
		runtime.LockOSThread()
		f.tid = unix.Gettid()
		own := private && unix.Unshare(unix.CLONE_FILES) == nil
		if own {
			unix.Close(pair[0]) // this table's copy of the sending end
			dropCopies(pair[1])
		}
		ready <- own
		for req := range f.reqs {
			req()
		}
	}()
	f.private = <-ready
	switch {
	case f.private:
		f.send, f.recv = pair[0], pair[1]
		unix.Close(pair[1]) // the process's copy of the receiving end
	case private:
		unix.Close(pair[0])
		unix.Close(pair[1])
	}
	return f
}

// dropCopies closes, in the calling thread's own table, the copies of the
// files the process held when the table was made, except stdio, keep, and
// the runtime poller's descriptors (anonymous inodes: the runtime may use
// them on any thread). A copy would hold its file open: a pipe the
// process closes would never reach end of file.
//
// It lists the table with getdents and readlinkat rather than os.ReadDir
// and os.Readlink: their deeper calls grow the fork thread's stack, and
// the stack copy reads the frame tables of every function on it, which
// kept 128 KiB more of the binary resident for as long as procman runs.
func dropCopies(keep int) {
	dir, err := unix.Open("/proc/thread-self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	var names []string
	buf := make([]byte, 4096)
	for {
		n, err := unix.Getdents(dir, buf)
		if err != nil || n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	const anon = "anon_inode:"
	link := buf[:len(anon)] // readlink truncates: the prefix is enough
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil || fd <= 2 || fd == keep || fd == dir {
			continue
		}
		n, err := unix.Readlinkat(dir, name, link)
		if err != nil || string(link[:n]) == anon {
			continue
		}
		unix.Close(fd)
	}
	unix.Close(dir)
}

// close ends the fork thread. Only the reaper's stop calls it, once every
// child is gone.
func (f *threadForker) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.reqs)
	if f.send >= 0 {
		unix.Close(f.send)
		f.send = -1
	}
}

// startChunk bounds the spawns handed to the fork thread at once: their
// files wait in the fork thread's table, and each fork copies that table.
const startChunk = 64

// startAll hands the spawns to the fork thread a chunk at a time rather
// than one by one: each hand-over is two thread wake-ups, which on a
// machine busy with the children already started wait for a CPU.
func (f *threadForker) startAll(r *reaper, spawns []spawn) (pids []int, errs []error) {
	pids, errs = make([]int, len(spawns)), make([]error, len(spawns))
	for lo := 0; lo < len(spawns); lo += startChunk {
		chunk := spawns[lo:min(lo+startChunk, len(spawns))]
		var fds []int
		for _, s := range chunk {
			for _, f := range s.files {
				// Fd puts the file in blocking mode, as a child expects
				// of its stdio; procman's own ends are separate
				// descriptions.
				fds = append(fds, int(f.Fd()))
			}
		}
		err := f.fork(fds, func(fds []int) {
			for i, s := range chunk {
				files := make([]uintptr, len(s.files))
				for j := range files {
					files[j] = uintptr(fds[j])
				}
				fds = fds[len(files):]
				if s.sys == nil {
					s.sys = &syscall.SysProcAttr{}
				}
				s.sys.Pdeathsig = syscall.SIGKILL
				pids[lo+i], errs[lo+i] = r.forkExec(s, files)
			}
		})
		if err != nil {
			for i := range chunk {
				errs[lo+i] = err
			}
		}
		for _, s := range chunk {
			for _, f := range s.files {
				runtime.KeepAlive(f)
			}
		}
	}
	return pids, errs
}

// fork runs do on the fork thread with fds (descriptors of the process's
// table) as descriptors of the fork thread's table, and waits for it.
// Those copies are closed when do returns.
func (f *threadForker) fork(fds []int, do func(fds []int)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.private {
		f.run(func() { do(fds) })
		return nil
	}
	uniq := make([]int, 0, len(fds))
	for _, fd := range fds {
		if !slices.Contains(uniq, fd) {
			uniq = append(uniq, fd)
		}
	}
	if err := unix.Sendmsg(f.send, []byte{0}, unix.UnixRights(uniq...), nil, 0); err != nil {
		return fmt.Errorf("pass files to the fork thread: %w", err)
	}
	var err error
	f.run(func() {
		var got []int
		got, err = f.receive(len(uniq))
		defer func() {
			for _, fd := range got {
				unix.Close(fd)
			}
		}()
		if err != nil {
			return
		}
		mine := make([]int, len(fds))
		for i, fd := range fds {
			mine[i] = got[slices.Index(uniq, fd)]
		}
		do(mine)
	})
	return err
}

// receive reads one message of n descriptors on the fork thread.
func (f *threadForker) receive(n int) ([]int, error) {
	var b [1]byte
	oob := make([]byte, unix.CmsgSpace(4*n))
	for {
		_, oobn, flags, _, err := unix.Recvmsg(f.recv, b[:], oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("receive files on the fork thread: %w", err)
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, fmt.Errorf("receive files on the fork thread: %w", err)
		}
		var fds []int
		for _, m := range msgs {
			got, err := unix.ParseUnixRights(&m)
			if err == nil {
				fds = append(fds, got...)
			}
		}
		if len(fds) != n || flags&unix.MSG_CTRUNC != 0 {
			return fds, errors.New("receive files on the fork thread: descriptors lost")
		}
		return fds, nil
	}
}

// run runs g on the fork thread and waits for it.
func (f *threadForker) run(g func()) {
	done := make(chan struct{})
	f.reqs <- func() { g(); close(done) }
	<-done
}
