package supervisor

import (
	"bytes"
	"os"
	"strconv"
)

// children lists the pids whose parent is ppid, from /proc. Used only when
// stopping, to reach orphans that left their process group.
func children(ppid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if parent, ok := statPPID(stat); ok && parent == ppid {
			pids = append(pids, pid)
		}
	}
	return pids
}

// statPPID reads the parent pid from /proc/PID/stat, whose second field
// (the command name) may itself hold spaces and parentheses.
func statPPID(stat []byte) (int, bool) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	fields := bytes.Fields(stat[i+1:])
	if len(fields) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(string(fields[1]))
	return ppid, err == nil
}
