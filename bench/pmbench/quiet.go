//go:build linux

package main

import (
	"bytes"
	"os"
	"strconv"
	"time"
)

// The figures are wall times: another program busy on the same machine
// (a build, someone else's tests) inflates them. Before each timed run the
// benchmark waits, for a while, until the CPUs have been mostly idle for a
// short sample, and counts the runs it had to start anyway.
const (
	quietSample = 200 * time.Millisecond
	quietIdle   = 0.85 // fraction of CPU time idle during the sample
	quietWait   = 20 * time.Second
)

// cpuTimes returns the idle and total jiffies of all CPUs from /proc/stat.
func cpuTimes() (idle, total uint64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 5 || string(f[0]) != "cpu" {
		return 0, 0, false
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	return idle, total, true
}

// waitQuiet waits until a sample finds the machine idle enough, or until
// quietWait has passed; it reports whether the machine was quiet.
func waitQuiet() bool {
	end := time.Now().Add(quietWait)
	for {
		i0, t0, ok := cpuTimes()
		if !ok {
			return true // no /proc/stat: nothing to judge by
		}
		time.Sleep(quietSample)
		i1, t1, _ := cpuTimes()
		if t1 > t0 && float64(i1-i0)/float64(t1-t0) >= quietIdle {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}
