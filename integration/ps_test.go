package integration

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ps(1) is how the tests see processes where there is no /proc (macOS,
// FreeBSD). The options used here mean the same to Linux's procps, macOS's
// and FreeBSD's ps, so TestPsAgreesWithProc checks this reader on Linux.

// psStats lists the given processes, or every process when none is given.
// A start time is lstart's, in whole seconds.
func psStats(pids ...int) (map[int]stat, error) {
	out, err := ps(pids, "pid", "ppid", "pgid", "stat", "lstart", "comm")
	if err != nil {
		return nil, err
	}
	all := make(map[int]stat)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		// pid ppid pgid stat Dow Mon DD HH:MM:SS YYYY comm...
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		var s stat
		pid, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, fmt.Errorf("ps: %q: %v", sc.Text(), err)
		}
		s.ppid, _ = strconv.Atoi(f[1])
		s.pgid, _ = strconv.Atoi(f[2])
		s.state = f[3][0]
		started, err := time.ParseInLocation("Mon Jan 2 15:04:05 2006", strings.Join(f[4:9], " "), time.Local)
		if err != nil {
			return nil, fmt.Errorf("ps: %q: %v", sc.Text(), err)
		}
		s.start = uint64(started.Unix())
		s.comm = strings.Join(f[9:], " ")
		all[pid] = s
	}
	return all, sc.Err()
}

// psArgs lists every process's argv, as words (an argument that holds a
// space becomes two).
func psArgs() (map[int][]string, error) {
	out, err := ps(nil, "pid", "args")
	if err != nil {
		return nil, err
	}
	all := make(map[int][]string)
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		if pid, err := strconv.Atoi(f[0]); err == nil {
			all[pid] = f[1:]
		}
	}
	return all, sc.Err()
}

// ps runs ps for the columns given, without headers, at full width, in
// the C locale (lstart's format).
func ps(pids []int, columns ...string) ([]byte, error) {
	args := []string{"-ww"}
	if len(pids) == 0 {
		args = append(args, "-A")
	}
	for _, pid := range pids {
		args = append(args, "-p", strconv.Itoa(pid))
	}
	for _, c := range columns {
		args = append(args, "-o", c+"=")
	}
	cmd := exec.Command("ps", args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && len(pids) > 0 && len(bytes.TrimSpace(out)) == 0 {
		return nil, nil // ps -p exits 1 when no such process exists
	}
	if err != nil {
		return nil, fmt.Errorf("ps %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}
