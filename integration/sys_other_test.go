//go:build !linux

package integration

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// What sys_linux_test.go reads from /proc, read with ps(1) on systems
// without it (macOS, FreeBSD).

func requireUnshare(t *testing.T) {
	t.Helper()
	t.Skipf("procman as PID 1 of a new pid namespace (unshare --pid) is Linux's; this is %s", runtime.GOOS)
}

// enterPID1 is never reached: requireUnshare skips every PID 1 test.
func (p *procman) enterPID1() {
	p.t.Helper()
	p.t.Fatalf("no pid namespaces on %s", runtime.GOOS)
}

func readStat(pid int) (stat, bool) {
	all, err := psStats(pid)
	if err != nil {
		return stat{}, false
	}
	s, ok := all[pid]
	return s, ok
}

// allStats reads every process's stat; nil when ps fails.
func allStats() map[int]stat {
	all, _ := psStats()
	return all
}

// allArgs reads every process's argv; nil when ps fails.
func allArgs() map[int][]string {
	all, _ := psArgs()
	return all
}

// nsMembers is never reached: only a PID 1 test sets a namespace.
func nsMembers(string, int) []int { return nil }

func (tr tree) hostPid(nsPid int) (int, bool) { return nsPid, true }

// pipeCapacity returns the capacity of a pipe on macOS and FreeBSD before
// it grows: PIPE_SIZE, 16 KiB. (Neither says how large a pipe has grown.)
func pipeCapacity(uintptr) (int, error) { return 16 << 10, nil }

// fionread is FIONREAD, _IOR('f', 127, int) on macOS and FreeBSD alike,
// which golang.org/x/sys/unix does not define for them.
const fionread = 0x4004667f

// pipeQueued returns how many bytes wait in a pipe to be read.
func pipeQueued(fd uintptr) (int, error) {
	return unix.IoctlGetInt(int(fd), fionread)
}

// peakRSS has no figure for a running process here; the test reads the
// peak from wait4's rusage once procman has exited.
func peakRSS(*testing.T, int) (int, bool) { return 0, false }
