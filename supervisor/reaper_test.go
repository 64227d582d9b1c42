//go:build linux && !procman_portable

package supervisor

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReaperStress starts 200 short-lived children concurrently, alongside
// children that leave an orphan behind and children whose exec fails, and
// checks that the single reaper hands every managed exit status to the
// owner exactly once, reaps every orphan as an orphan, and that no start
// loses its child to the reaper (which ForkExec would see as ECHILD).
func TestReaperStress(t *testing.T) {
	const (
		quick     = 200 // exit at once with a known status
		producers = 40  // each leaves an orphan that waits for release
		failing   = 10  // exec fails: ForkExec reaps the child itself
	)
	// Orphans come back to the test process only if it is a subreaper, as
	// procman is.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("become a subreaper: %v", err)
	}
	t.Cleanup(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
	if left := children(os.Getpid()); len(left) > 0 {
		t.Fatalf("test process already has children %v", left)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	// Every orphan holds the read end of this pipe on fd 3 and exits when
	// the test closes the write end: no orphan can exit before the test has
	// seen that all of them were handed to it.
	release, hold, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer release.Close()
	defer hold.Close()

	r := newReaper()
	defer r.stop()

	// A started child and the status it must end with.
	type want struct {
		pid  int
		code int
	}
	type job struct {
		argv []string
		code int // exitCode of the status the reaper must report
		fail bool
	}
	var jobs []job
	for i := range quick {
		code := i % 120
		argv := []string{"/bin/sh", "-c", fmt.Sprintf("exit %d", code)}
		if i%25 == 0 { // some die of a signal rather than exit
			argv, code = []string{"/bin/sh", "-c", "kill -KILL $$"}, 128+int(syscall.SIGKILL)
		}
		jobs = append(jobs, job{argv: argv, code: code})
	}
	for i := range producers {
		// The background subshell outlives sh and becomes an orphan.
		code := 200 + i
		jobs = append(jobs, job{argv: []string{"/bin/sh", "-c", fmt.Sprintf("(read x <&3) & exit %d", code)}, code: code})
	}
	for range failing {
		jobs = append(jobs, job{argv: []string{"/nonexistent/procman-test"}, fail: true})
	}

	var (
		mu      sync.Mutex
		started []want
		errs    []error
		wg      sync.WaitGroup
	)
	for _, j := range jobs {
		wg.Go(func() {
			pid, err := r.start(spawn{
				argv:  j.argv,
				dir:   "/",
				files: []*os.File{devnull, devnull, devnull, release},
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case j.fail && err == nil:
				errs = append(errs, fmt.Errorf("%s: started (pid %d), want an exec error", j.argv[0], pid))
			case j.fail:
			case err != nil:
				errs = append(errs, fmt.Errorf("%q: %w", j.argv, err))
			default:
				started = append(started, want{pid, j.code})
			}
		})
	}

	// Collect exits while the starts are still going on: the reaper must
	// not block on the owner, nor the owner on the starts.
	got := make(map[want]int)
	received := 0
	managed := quick + producers
	timeout := time.After(30 * time.Second)
	for received < managed {
		select {
		case b := <-r.batches:
			for _, e := range b.exits {
				got[want{e.pid, exitCode(e.status)}]++
				received++
			}
		case <-timeout:
			t.Fatalf("timed out: %d of %d managed exits received", received, managed)
		}
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}

	// Every managed exit arrived once, with its own status. A pid can be
	// reused once its first owner is reaped, so compare multisets.
	wantCount := make(map[want]int)
	for _, w := range started {
		wantCount[w]++
	}
	for w, n := range wantCount {
		if got[w] != n {
			t.Errorf("pid %d, status %d: delivered %d times, want %d", w.pid, w.code, got[w], n)
		}
	}
	for w, n := range got {
		if wantCount[w] == 0 {
			t.Errorf("pid %d, status %d: delivered %d times, never started", w.pid, w.code, n)
		}
	}

	// The orphans are still alive and are the test process's children now.
	if orphans := children(os.Getpid()); len(orphans) != producers {
		t.Errorf("children after every managed exit: want %d orphans, have %d (%v)", producers, len(orphans), orphans)
	}
	hold.Close()

	// Once they exit, the reaper reaps them all (none is left, not even a
	// zombie) and reports none of them as a managed exit.
	for noneLeft := false; !noneLeft; {
		r.poke()
		select {
		case b := <-r.batches:
			noneLeft = b.noneLeft
			for _, e := range b.exits {
				t.Errorf("orphan or duplicate reported as a managed exit: pid %d, status %d", e.pid, exitCode(e.status))
			}
		case <-timeout:
			t.Fatalf("timed out waiting for the orphans to be reaped; children left: %v", children(os.Getpid()))
		}
	}
	if left := children(os.Getpid()); len(left) > 0 {
		t.Errorf("children left after the reaper found none: %v", left)
	}
}
