//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// procman's guardian is a small process (a /bin/sh) that procman starts
// beside itself, outside its tree, to stop what procman started should
// procman die without stopping it. It is found by its argv: the word
// guardianWord followed by procman's pid. A procman without one (as PID 1,
// or a build from before the guardian) makes the guardian's figures "-".
const guardianWord = "procman-guardian"

// findGuardian returns the pid of the guardian of the procman with the
// given pid, if there is one.
func findGuardian(procman int) (int, bool) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == procman {
			continue
		}
		if guards(pid, procman) {
			return pid, true
		}
	}
	return 0, false
}

// guards says whether process pid is the guardian of procman: whether its
// argv holds guardianWord followed by procman's pid. A zombie's argv is
// empty: it guards nothing any more.
func guards(pid, procman int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	argv := bytes.Split(bytes.TrimSuffix(b, []byte{0}), []byte{0})
	want := []byte(strconv.Itoa(procman))
	for i := 0; i+1 < len(argv); i++ {
		if string(argv[i]) == guardianWord && bytes.Equal(argv[i+1], want) {
			return true
		}
	}
	return false
}

// guardianGone waits, after procman (p) has exited, for procman's guardian
// to exit too, as it should once procman stopped cleanly. It returns an
// error, after killing it, if the guardian is still running after
// waitLimit.
func guardianGone(p *process) error {
	procman := p.cmd.Process.Pid
	g, ok := findGuardian(procman)
	if !ok {
		return nil
	}
	end := time.Now().Add(waitLimit)
	for guards(g, procman) {
		if time.Now().After(end) {
			unix.Kill(g, unix.SIGKILL)
			return fmt.Errorf("procman's guardian (pid %d) was still running %v after procman exited", g, waitLimit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// guardianCPU returns the CPU time the guardian (pid g, or none when 0)
// has used, with the children it has reaped: a guardian written in shell
// may run a program (sleep, kill) for each check it makes.
func guardianCPU(g int) time.Duration {
	if g == 0 {
		return 0
	}
	total := cpuTime(g)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", g))
	if err != nil {
		return total
	}
	// Fields after the parenthesised command name: state is the 3rd
	// field of the line, cutime and cstime the 16th and 17th, in clock
	// ticks (USER_HZ, 100 a second on every Linux).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return total
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return total
	}
	for _, v := range f[13:15] {
		ticks, _ := strconv.ParseInt(v, 10, 64)
		total += time.Duration(ticks) * 10 * time.Millisecond
	}
	return total
}
