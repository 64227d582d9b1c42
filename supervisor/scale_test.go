//go:build linux

package supervisor

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// scaleChildren is how many children TestThousandChildren runs. Each is a
// sh that execs sleep, so even under -race the children cost little; the
// supervisor's code is what the race detector slows down.
const scaleChildren = 1000

// scaleLines is how many lines each child prints before it idles.
const scaleLines = 3

// scaleDeadline bounds each wait. Starting a thousand processes on two
// busy cores takes seconds, so the harness's usual deadline is too tight;
// a hang still fails instead of blocking.
const scaleDeadline = 3 * time.Minute

// TestThousandChildren runs 1000 children that each print a few lines and
// exit on SIGTERM: every child starts, every line arrives whole and in its
// child's order, every child is gone after the stop, and the test process
// holds the same file descriptors as before. It is not a timing test.
func TestThousandChildren(t *testing.T) {
	// Each child costs procman a pipe while it runs (and two for a moment
	// while it starts); the Go runtime has raised the soft limit to the
	// hard one already.
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < 3*scaleChildren {
		t.Skipf("open-file limit %d is too low for %d children", lim.Cur, scaleChildren)
	}
	// The netpoller's own descriptors are created on first use and kept:
	// create them now so they are not counted as a leak.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	before := openFDs(t)

	var id [8]byte
	rand.Read(id[:])
	token := "PROCMAN_SCALE_TOKEN=" + hex.EncodeToString(id[:])
	var procs []Process
	for i := 1; i <= scaleChildren; i++ {
		label := "w." + strconv.Itoa(i)
		var cmd strings.Builder
		for k := 1; k <= scaleLines; k++ {
			fmt.Fprintf(&cmd, `echo "line %d of $PS"; `, k)
		}
		// sleep dies of SIGTERM, as a cooperative server exits.
		cmd.WriteString("exec sleep 3600")
		procs = append(procs, Process{Name: "w", Label: label, Command: cmd.String(),
			Env: append(os.Environ(), "PS="+label, token)})
	}
	h := startWith(t, 10*time.Second, func(c *Config) { c.Processes = procs })

	// Every line of every child, whole: the stream is complete once the
	// last child's last line is in, whatever the order between children.
	want := scaleChildren * scaleLines
	waitScale(t, h, fmt.Sprintf("%d lines", want), func() bool {
		return strings.Count(h.out.String(), " | line ") >= want
	})
	h.sigs <- syscall.SIGTERM
	var code int
	select {
	case r := <-h.done:
		if r.err != nil {
			t.Fatalf("Run: %v", r.err)
		}
		code = r.code
	case <-time.After(scaleDeadline):
		t.Fatalf("Run did not return %v after SIGTERM", scaleDeadline)
	}
	if code != 143 {
		t.Errorf("exit status: want 143, have %d", code)
	}

	out := h.out.String()
	pids := checkScaleOutput(t, out)

	// Every child is gone: none is left alive or as a zombie of the test
	// process, and no process carries this run's token.
	for label, pid := range pids {
		if alive(pid) && hasEnv(pid, token) {
			t.Errorf("%s (pid %d) still running", label, pid)
		}
	}
	if left := children(os.Getpid()); len(left) > 0 {
		t.Errorf("test process still has children %v", left)
	}
	if left := withEnv(token); len(left) > 0 {
		t.Errorf("processes of this run still running: %v", left)
	}

	after := openFDs(t)
	if leaked := difference(after, before); len(leaked) > 0 {
		t.Errorf("%d file descriptors leaked: %s", len(leaked), strings.Join(leaked, ", "))
	}
}

var (
	childLine = regexp.MustCompile(`^(w\.\d+) +\| line (\d+) of (w\.\d+)$`)
	startLine = regexp.MustCompile(`^system +\| (w\.\d+) started with pid (\d+)$`)
	exitLine  = regexp.MustCompile(`^system +\| (w\.\d+) terminated by SIGTERM$`)
)

// checkScaleOutput checks the stream of TestThousandChildren line by line
// and returns each child's pid, from its "started" event.
func checkScaleOutput(t *testing.T, out string) map[string]int {
	t.Helper()
	pids := make(map[string]int)
	next := make(map[string]int) // the number of the line each child must print next
	terminated := make(map[string]bool)
	bad := 0
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if m := childLine.FindStringSubmatch(line); m != nil {
			k, _ := strconv.Atoi(m[2])
			if m[1] != m[3] || k != next[m[1]]+1 {
				if bad++; bad <= 10 {
					t.Errorf("out of order or under the wrong label: %q", line)
				}
			}
			next[m[1]] = k
			continue
		}
		if m := startLine.FindStringSubmatch(line); m != nil {
			pids[m[1]], _ = strconv.Atoi(m[2])
			continue
		}
		if m := exitLine.FindStringSubmatch(line); m != nil {
			terminated[m[1]] = true
			continue
		}
		if !strings.HasPrefix(line, "system ") {
			if bad++; bad <= 10 {
				t.Errorf("unexpected line: %q", line)
			}
		}
	}
	missing := 0
	for i := 1; i <= scaleChildren; i++ {
		label := "w." + strconv.Itoa(i)
		var why []string
		if pids[label] == 0 {
			why = append(why, "no start event")
		}
		if next[label] != scaleLines {
			why = append(why, fmt.Sprintf("%d of %d lines", next[label], scaleLines))
		}
		if !terminated[label] {
			why = append(why, "no exit by SIGTERM")
		}
		if len(why) > 0 {
			if missing++; missing <= 10 {
				t.Errorf("%s: %s", label, strings.Join(why, ", "))
			}
		}
	}
	if missing > 10 {
		t.Errorf("... and %d more children", missing-10)
	}
	return pids
}

// waitScale is harness.waitFor with scaleDeadline, reporting progress
// instead of the whole (long) stream when it times out.
func waitScale(t *testing.T, h *harness, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(scaleDeadline)
	for !cond() {
		if time.Now().After(end) {
			out := h.out.String()
			t.Fatalf("timed out waiting for %s: %d lines, %d started, stream ends:\n%s", what,
				strings.Count(out, " | line "), strings.Count(out, " started with pid "), tail(out, 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// openFDs lists the test process's open descriptors with what each refers
// to, "7 -> pipe:[1234]".
func openFDs(t *testing.T) map[string]string {
	t.Helper()
	// /proc/self shows the first thread's table, which may be the fork
	// thread's own; this locked thread shares the process's.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ents, err := os.ReadDir("/proc/thread-self/fd")
	if err != nil {
		t.Fatalf("list open files: %v", err)
	}
	fds := make(map[string]string, len(ents))
	for _, e := range ents {
		// The descriptor ReadDir itself used is gone by now; Readlink
		// fails for it and it is skipped.
		if target, err := os.Readlink("/proc/thread-self/fd/" + e.Name()); err == nil {
			fds[e.Name()] = target
		}
	}
	return fds
}

// difference lists the descriptors open in after but not in before.
func difference(after, before map[string]string) []string {
	var extra []string
	for fd, target := range after {
		if before[fd] != target {
			extra = append(extra, fd+" -> "+target)
		}
	}
	sort.Strings(extra)
	return extra
}

// hasEnv says whether process pid has kv in its environment.
func hasEnv(pid int, kv string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	for _, e := range strings.Split(string(b), "\x00") {
		if e == kv {
			return true
		}
	}
	return false
}

// withEnv lists the processes that have kv in their environment.
func withEnv(kv string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err == nil && pid != os.Getpid() && hasEnv(pid, kv) {
			pids = append(pids, pid)
		}
	}
	return pids
}
