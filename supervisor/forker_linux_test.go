//go:build linux && !procman_portable

package supervisor

import (
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fdCount counts the open descriptors listed in dir (/proc/.../fd).
func fdCount(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// processFDs counts the descriptors of the process's table. /proc/self/fd
// would show the table of the process's first thread, which may be the
// fork thread; this goroutine's own (locked) thread is not.
func processFDs(t *testing.T) int {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return fdCount(t, "/proc/thread-self/fd")
}

// forkThread returns r's fork thread.
func forkThread(t *testing.T, r *reaper) *threadForker {
	t.Helper()
	f, ok := r.forker.(*threadForker)
	if !ok {
		t.Fatalf("the reaper forks with %T, not the fork thread", r.forker)
	}
	return f
}

// The fork thread's table holds none of the pipes the process holds, so a
// fork does not copy them: starting N children costs O(N), not O(N²).
// Its children still get exactly the files they are given.
func TestForkThreadHasItsOwnTable(t *testing.T) {
	r := newReaper()
	defer r.stop()
	forks := forkThread(t, r)
	if !forks.private {
		t.Skip("unshare(CLONE_FILES) refused here: the fork thread shares the process's table")
	}
	holdPipes(t, 200)
	talk(t, r)
	process := processFDs(t)
	thread := fdCount(t, "/proc/self/task/"+strconv.Itoa(forks.tid)+"/fd")
	if process < 400 || thread >= 100 {
		t.Errorf("process holds %d descriptors, the fork thread %d: want at least 400 and under 100", process, thread)
	}
}

// Where unshare is refused, the fork thread shares the process's table and
// starts work the same.
func TestForkThreadSharingTheTable(t *testing.T) {
	f := newThreadForker(false)
	if f.private {
		t.Fatal("a forker asked to share the table has its own")
	}
	r := newReaper()
	defer r.stop()
	r.forker.close()
	r.forker = f
	talk(t, r)
	if n, p := fdCount(t, "/proc/self/task/"+strconv.Itoa(f.tid)+"/fd"), processFDs(t); n != p {
		t.Errorf("the sharing fork thread sees %d descriptors, the process %d", n, p)
	}
}

// The passing socket leaves nothing behind on the fork thread: after many
// starts its table is as small as before.
func TestForkThreadClosesPassedFiles(t *testing.T) {
	r := newReaper()
	defer r.stop()
	forks := forkThread(t, r)
	if !forks.private {
		t.Skip("unshare(CLONE_FILES) refused here")
	}
	dir := "/proc/self/task/" + strconv.Itoa(forks.tid) + "/fd"
	talk(t, r)
	before := fdCount(t, dir)
	for range 20 {
		talk(t, r)
	}
	if after := fdCount(t, dir); after != before {
		t.Errorf("fork thread held %d descriptors, now %d", before, after)
	}
	var st unix.Stat_t
	if err := unix.Fstat(forks.send, &st); err != nil {
		t.Errorf("the sending end is gone from the process's table: %v", err)
	}
}

// The fork thread and its table are gone once the reaper stops: importing
// or running the supervisor leaves no thread behind.
func TestForkThreadEndsWithTheReaper(t *testing.T) {
	r := newReaper()
	f := forkThread(t, r)
	talk(t, r)
	task := "/proc/self/task/" + strconv.Itoa(f.tid)
	if _, err := os.Stat(task); err != nil {
		t.Fatalf("fork thread %d not running: %v", f.tid, err)
	}
	r.stop()
	end := time.Now().Add(deadline)
	for {
		if _, err := os.Stat(task); os.IsNotExist(err) {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("fork thread %d still running after the reaper stopped", f.tid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
