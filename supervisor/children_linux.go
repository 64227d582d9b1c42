//go:build linux && !procman_portable

package supervisor

import (
	"bytes"
	"os"
	"strconv"
)

// strays lists the processes that no group signal reaches: those outside
// the given process groups that are children of self (orphans handed to
// procman) or, with all set, any process but self (procman as PID 1, with
// the namespace's own /proc). Used only when stopping.
func strays(self int, all bool, groups map[int]bool) []int {
	var candidates []string
	if !all {
		candidates = ownChildren(self)
	}
	if candidates == nil {
		entries, err := os.ReadDir("/proc")
		if err != nil {
			return nil
		}
		for _, e := range entries {
			candidates = append(candidates, e.Name())
		}
	}
	var pids []int
	for _, name := range candidates {
		pid, err := strconv.Atoi(name)
		if err != nil || pid == self {
			continue
		}
		stat, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue
		}
		ppid, ok1 := statField(stat, 1)
		pgid, ok2 := statField(stat, 2)
		if ok1 && ok2 && !groups[pgid] && (all || ppid == self) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// ownChildren lists self's children from /proc/self/task/*/children, so a
// stop does not read the stat of every process on the machine; nil when
// the kernel lacks those files (the caller then scans all of /proc). The
// kernel does not promise the list is complete while children come and
// go; the rescans during the grace period and the final SIGKILL cover a
// miss.
func ownChildren(self int) []string {
	dir := "/proc/" + strconv.Itoa(self) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	kids := []string{}
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/children")
		if err != nil {
			return nil
		}
		for _, f := range bytes.Fields(b) {
			kids = append(kids, string(f))
		}
	}
	return kids
}

// ownProc says whether /proc shows procman's own pid namespace; under
// `unshare --pid --fork` without --mount-proc it shows the parent's, whose
// pids must not be signalled.
func ownProc() bool {
	self, err := os.Readlink("/proc/self")
	return err == nil && self == strconv.Itoa(os.Getpid())
}

// statField reads field i after the command name of /proc/PID/stat (0 is
// the state, 1 the parent pid, 2 the process group). The command name may
// itself hold spaces and parentheses, hence the last ')'.
func statField(stat []byte, i int) (int, bool) {
	j := bytes.LastIndexByte(stat, ')')
	if j < 0 {
		return 0, false
	}
	fields := bytes.Fields(stat[j+1:])
	if len(fields) <= i {
		return 0, false
	}
	n, err := strconv.Atoi(string(fields[i]))
	return n, err == nil
}
