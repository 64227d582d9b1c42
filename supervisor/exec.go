package supervisor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

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
}

// Exec runs one command in the foreground, as `procman run` does: procman's
// stdin, stdout and stderr are the child's; SIGINT, SIGTERM, SIGHUP,
// SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH are forwarded to it; every other
// child procman has (orphans, as PID 1) is reaped. It returns the child's
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
