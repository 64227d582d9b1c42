package supervisor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ExecConfig says what Exec runs.
type ExecConfig struct {
	Dir     string
	Argv    []string // executed directly, Argv[0] looked up in PATH
	Env     []string
	Signals <-chan os.Signal // what procman receives; see Config.Signals
	// Interactive keeps the child in procman's process group, so that a
	// terminal's job control (Ctrl-C, Ctrl-Z, reading the terminal) works
	// on it as on procman. The terminal then already delivers SIGINT and
	// SIGQUIT to the child, so Exec does not forward those two again.
	Interactive bool
	// Warn receives a warning (one line, no newline) that does not stop
	// the command: procman's guardian could not start. Nil drops it.
	Warn func(msg string)
}

func (cfg ExecConfig) warn(msg string) {
	if cfg.Warn != nil {
		cfg.Warn(msg)
	}
}

// execGrace is how long the guardian of a killed `procman run` waits after
// its SIGTERM before it sends SIGKILL: start's default grace period.
const execGrace = 5 * time.Second

// Exec runs one command in the foreground, as `procman run` does: procman's
// stdin, stdout and stderr are the child's; SIGINT, SIGTERM, SIGHUP,
// SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH are forwarded to it; every other
// child procman has (orphans, as PID 1) is reaped. Unless Interactive (or
// procman is PID 1), the command runs in a process group of its own that
// procman's guardian stops if procman is killed. It returns the child's
// exit code, or 128+N if it died of signal N.
func Exec(cfg ExecConfig) (int, error) {
	if len(cfg.Argv) == 0 {
		return 2, errors.New("no command to run")
	}
	// The real environment wins over env files, so the child's PATH is
	// procman's own whenever procman has one: LookPath's answer holds.
	path, err := exec.LookPath(cfg.Argv[0])
	if err != nil {
		return 127, err
	}
	r := newReaper()
	defer r.stop()
	// A command in a process group of its own has a guardian, as start's
	// processes do: if procman is killed, the guardian stops the group
	// (SIGTERM, execGrace, SIGKILL). As PID 1 none is needed, and an
	// interactive command is in procman's own group, which the guardian
	// must not signal (it may hold the shell script that ran procman).
	var g *guardian
	if !cfg.Interactive && os.Getpid() != 1 {
		if g, err = startGuardian(r, execGrace); err != nil {
			cfg.warn(fmt.Sprintf("%v; if procman is killed, the command may outlive it", err))
		}
		defer g.bye()
	}
	sys := &syscall.SysProcAttr{Setpgid: !cfg.Interactive}
	pid, err := r.start(spawn{
		argv:  append([]string{path}, cfg.Argv[1:]...),
		env:   cfg.Env,
		dir:   cfg.Dir,
		files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		sys:   sys,
	})
	if err != nil {
		return 126, fmt.Errorf("%s: %w", cfg.Argv[0], err)
	}
	target := -pid // the child's process group
	if cfg.Interactive {
		target = pid
	} else {
		g.add([]int{pid})
	}
	for {
		select {
		case b := <-r.batches:
			for _, e := range b.exits {
				if e.pid == pid {
					return exitCode(e.status), nil
				}
			}
		case received := <-cfg.Signals:
			sig, ok := received.(syscall.Signal)
			if !ok {
				continue
			}
			switch sig {
			case syscall.SIGINT, syscall.SIGQUIT:
				if !cfg.Interactive {
					unix.Kill(target, sig)
				}
			case syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH:
				unix.Kill(target, sig)
			case syscall.SIGTSTP:
				// With a terminal the child got its own SIGTSTP; procman
				// handles the signal, so it must stop itself to give the
				// shell its prompt back.
				if os.Getpid() != 1 {
					if !cfg.Interactive {
						unix.Kill(target, syscall.SIGSTOP)
					}
					unix.Kill(os.Getpid(), syscall.SIGSTOP)
				}
			case syscall.SIGCONT:
				if !cfg.Interactive && os.Getpid() != 1 {
					unix.Kill(target, syscall.SIGCONT)
				}
			}
		}
	}
}
