//go:build linux

package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

// The floor: what any supervisor written in Go could reach on this machine
// at best. It takes procman's arguments (start -f PROCFILE -m w=N), forks
// and execs the same N children the same way (/bin/sh -c COMMAND, PS set,
// each in its own process group) from one goroutine, and does nothing else:
// no pipes, no output, no bookkeeping. On SIGTERM it signals every group
// and reaps them all. Startup is measured for it as for procman, so the
// table shows how much of procman's time is its own and how much is the
// children's.
func spawnFloor(args []string) (status int, err error) {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	procfile := fs.String("f", "", "")
	formation := fs.String("m", "", "")
	fs.String("t", "", "")
	if len(args) == 0 || args[0] != "start" {
		return 0, errors.New("floor: want start -f PROCFILE -m w=N")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 0, err
	}
	_, count, _ := strings.Cut(*formation, "=")
	n, err := strconv.Atoi(count)
	if err != nil {
		return 0, fmt.Errorf("floor: -m %q", *formation)
	}
	command, err := firstCommand(*procfile)
	if err != nil {
		return 0, err
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	env := os.Environ()
	attr := &syscall.ProcAttr{Files: []uintptr{0, 1, 2}, Sys: &syscall.SysProcAttr{Setpgid: true}}
	pids := make([]int, 0, n)
	for i := 1; i <= n; i++ {
		attr.Env = append(env[:len(env):len(env)], "PS=w."+strconv.Itoa(i))
		pid, err := syscall.ForkExec("/bin/sh", []string{"/bin/sh", "-c", command}, attr)
		if err != nil {
			return 0, fmt.Errorf("floor: %w", err)
		}
		pids = append(pids, pid)
	}
	<-term
	for _, pid := range pids {
		syscall.Kill(-pid, syscall.SIGTERM)
	}
	for range pids {
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(-1, &ws, 0, nil); err != nil && err != syscall.EINTR {
			break
		}
	}
	return 128 + int(syscall.SIGTERM), nil
}

// firstCommand returns the command of a Procfile's first line ("w: CMD").
func firstCommand(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return "", fmt.Errorf("floor: %s is empty", path)
	}
	_, command, ok := strings.Cut(sc.Text(), ": ")
	if !ok {
		return "", fmt.Errorf("floor: %s: want NAME: COMMAND", path)
	}
	return command, nil
}
