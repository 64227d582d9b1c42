package supervisor

import (
	"bytes"
	"os"
	"strconv"
)

// children lists the pids whose parent is ppid, from /proc.
func children(ppid int) []int { return strays(ppid, false, nil) }

// strays lists the processes that no group signal reaches: those outside
// the given process groups that are children of self (orphans handed to
// procman) or, with all set, any process but self (procman as PID 1, with
// the namespace's own /proc). Used only when stopping.
func strays(self int, all bool, groups map[int]bool) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
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
