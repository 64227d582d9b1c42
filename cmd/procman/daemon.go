package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

// `procman start -D` starts the same command line again as a daemon: in a
// session of its own, stdin /dev/null, stdout and stderr the --log-file
// (or /dev/null), with two pipes to the procman that started it, which
// waits and then returns:
//
//	fd 3  the output stream and procman's error lines, until the app has
//	      started; shown only if it fails to start
//	fd 4  one byte, 'R', once every process has started
//
// The daemon knows it is one by daemonEnv in its environment, which it
// takes out at once, so that its processes do not see it.
const daemonEnv = "PROCMAN_DAEMON"

// failedStart bounds what start -D keeps of a daemon's output, to show
// when the app fails to start: its last lines are the ones that tell why.
const failedStart = 64 << 10

// daemonize starts the daemon and waits until its app has started, or
// until it exits, and says which.
func daemonize(c *cli.Context, logFile string) error {
	exe, err := self()
	if err != nil {
		return &failure{err: fmt.Errorf("-D: cannot find procman's own executable: %w", err)}
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return &failure{err: err}
	}
	defer null.Close()
	out := null
	if logFile != "" {
		// Appending: rotation by copy and truncate (logrotate's
		// copytruncate) keeps working; procman never rotates it.
		if out, err = os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
			return &failure{err: fmt.Errorf("--log-file: %w", err)}
		}
		defer out.Close()
	}
	streamR, streamW, err := os.Pipe()
	if err != nil {
		return &failure{err: err}
	}
	defer streamR.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		streamW.Close()
		return &failure{err: err}
	}
	defer readyR.Close()
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), daemonEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, out, out
	cmd.ExtraFiles = []*os.File{streamW, readyW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	streamW.Close()
	readyW.Close()
	if err != nil {
		return &failure{err: fmt.Errorf("-D: %w", err)}
	}
	told := make(chan []byte, 1)
	go func() { told <- tail(streamR, failedStart) }()
	var b [1]byte
	if n, _ := readyR.Read(b[:]); n == 1 && b[0] == 'R' {
		fmt.Fprintf(c.App.Writer, "procman is running in the background (pid %d): procman ps, procman logs -f, procman attach NAME, procman quit\n", cmd.Process.Pid)
		cmd.Process.Release()
		return nil
	}
	// The daemon exited (or closed its end) without starting the app:
	// what it wrote says why.
	said := <-told
	werr := cmd.Wait()
	c.App.ErrWriter.Write(said)
	var exit *exec.ExitError
	switch {
	case errors.As(werr, &exit) && exit.ExitCode() > 0:
		return exitStatus(exit.ExitCode())
	case errors.As(werr, &exit):
		return &failure{err: fmt.Errorf("-D: procman died in the background: %v", exit)}
	case werr != nil:
		return &failure{err: werr}
	}
	return &failure{err: errors.New("-D: the app stopped before every process had started")}
}

// self returns the program to start again: the one this procman was run
// as, by its name in PATH or its path, else the running executable.
func self() (string, error) {
	arg0 := os.Args[0]
	if strings.Contains(arg0, "/") {
		return filepath.Abs(arg0)
	}
	if p, err := exec.LookPath(arg0); err == nil {
		return filepath.Abs(p)
	}
	return os.Executable()
}

// tail reads r to its end and returns the last max bytes, from a line's
// start when it can.
func tail(r io.Reader, max int) []byte {
	var kept []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		kept = append(kept, buf[:n]...)
		if len(kept) > 2*max {
			kept = append(kept[:0], kept[len(kept)-max:]...)
		}
		if err != nil {
			break
		}
	}
	if len(kept) > max {
		kept = kept[len(kept)-max:]
		if i := strings.IndexByte(string(kept), '\n'); i >= 0 {
			kept = kept[i+1:]
		}
	}
	return kept
}

// A daemonLink is the daemon's side of the two pipes: it copies what is
// written to it (the stream, procman's errors) to fd 3 until started
// closes both.
type daemonLink struct {
	mu           sync.Mutex
	stream, done *os.File
}

// daemonChild returns the link when this procman is a daemon started by
// start -D, and takes daemonEnv out of the environment; otherwise nil.
func daemonChild() *daemonLink {
	if os.Getenv(daemonEnv) == "" {
		return nil
	}
	os.Unsetenv(daemonEnv)
	// Inherited without close-on-exec: the app's processes must not
	// hold them, or start -D would wait for them too.
	unix.CloseOnExec(3)
	unix.CloseOnExec(4)
	return &daemonLink{stream: os.NewFile(3, "start -D stream"), done: os.NewFile(4, "start -D ready")}
}

// Write copies p to the starting procman while it waits; it never fails,
// so that the stream's other writer goes on.
func (d *daemonLink) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stream != nil {
		d.stream.Write(p)
	}
	return len(p), nil
}

// started tells the procman that started this one that the app runs.
func (d *daemonLink) started() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stream == nil {
		return
	}
	d.done.Write([]byte{'R'})
	d.done.Close()
	d.stream.Close()
	d.stream, d.done = nil, nil
}
