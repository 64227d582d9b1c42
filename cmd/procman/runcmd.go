package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/procman/procman/settings"
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
	cfg, err := settings.Exec(readFlags(c), os.Environ(), args)
	if err != nil {
		return settled(err)
	}
	cfg.Signals = signals
	cfg.Interactive = isTerminal(os.Stdin)
	cfg.Warn = func(msg string) { fmt.Fprintf(c.App.ErrWriter, "procman: %s\n", msg) }
	status, err := supervisor.Exec(cfg)
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
