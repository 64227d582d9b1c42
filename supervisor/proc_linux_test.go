//go:build linux

package supervisor

import (
	"bytes"
	"os"
	"strconv"
)

// children lists the pids whose parent is ppid, from /proc (both builds:
// the tests that use it run on Linux only).
func children(ppid int) []int {
	dir := "/proc/" + strconv.Itoa(ppid) + "/task"
	tasks, _ := os.ReadDir(dir)
	var pids []int
	for _, t := range tasks {
		b, _ := os.ReadFile(dir + "/" + t.Name() + "/children")
		for _, f := range bytes.Fields(b) {
			if pid, err := strconv.Atoi(string(f)); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}
