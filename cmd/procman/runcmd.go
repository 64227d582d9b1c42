package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"

	"github.com/procman/procman/supervisor"
	"github.com/urfave/cli/v2"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run one command (a one-off task) with the app's environment",
		ArgsUsage: "COMMAND [ARGS...]",
		Description: "A single argument naming a Procfile entry runs that entry's command\n" +
			"with /bin/sh -c; anything else is executed directly, without a shell.\n" +
			"Flags go before COMMAND: everything from COMMAND on is the command's.\n" +
			"Exits with the command's status (128+N if it died of signal N).",
		Flags:  withGlobals(portFlag()),
		Action: runAction,
	}
}

func runAction(c *cli.Context) error {
	args := c.Args().Slice()
	if len(args) == 0 {
		return usageErrorf("run: no command given (usage: procman run COMMAND [ARGS...])")
	}
	signals, stop := subscribe() // as early as start does, for the same reason
	defer stop()
	proj, err := readProject(c)
	if err != nil {
		return err
	}
	argv := args
	if len(args) == 1 {
		entry, err := lookupEntry(proj, args[0])
		if err != nil {
			return err
		}
		if entry != "" {
			argv = []string{"/bin/sh", "-c", entry}
		}
	}
	osEnv := os.Environ()
	environ, vars, err := proj.loadEnv(osEnv)
	if err != nil {
		return err
	}
	base, _, err := basePort(c, environMap(osEnv), vars)
	if err != nil {
		return err
	}
	environ = setVars(environ, "PORT="+strconv.Itoa(base))

	status, err := supervisor.Exec(supervisor.ExecConfig{
		Dir:         proj.root,
		Argv:        argv,
		Env:         environ,
		Signals:     signals,
		Interactive: isTerminal(os.Stdin),
	})
	if err != nil {
		// exec.Error reads `exec: "x": executable file not found in $PATH`;
		// the shell's form is what users know.
		var ee *exec.Error
		if errors.As(err, &ee) {
			err = fmt.Errorf("%s: %w", ee.Name, ee.Err)
		}
		return &failure{err: err, status: status}
	}
	if status != 0 {
		return exitStatus(status)
	}
	return nil
}

// lookupEntry returns the command of the Procfile entry called name, or ""
// when there is none. Without -f, a missing Procfile only means that name
// is not an entry; a Procfile that exists must be valid.
func lookupEntry(proj project, name string) (string, error) {
	pf, err := proj.parseProcfile()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !proj.procfileGiven {
			return "", nil
		}
		return "", err
	}
	e, ok := pf.Lookup(name)
	if !ok {
		return "", nil
	}
	return e.Command, nil
}
