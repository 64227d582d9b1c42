package main

import (
	"strconv"

	"github.com/procman/procman/settings"
	"github.com/urfave/cli/v2"
)

// globalFlags are accepted by every command, before or after its name
// (normalizeArgs moves them after it).
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{
			Name:        "procfile",
			Aliases:     []string{"f"},
			Usage:       "read the processes from `FILE`; its directory becomes the root",
			DefaultText: "Procfile, or DIR/Procfile with -d",
		},
		&cli.StringFlag{
			Name:        "root",
			Aliases:     []string{"d"},
			Usage:       "run the processes in `DIR`",
			DefaultText: "the Procfile's directory",
		},
		&cli.StringSliceFlag{
			Name:        "env",
			Aliases:     []string{"e"},
			Usage:       "read environment variables from `FILE`[,FILE...] (repeatable; a later file wins; the real environment wins over all)",
			DefaultText: "ROOT/.env if it exists",
		},
	}
}

// withGlobals returns flags with the global flags in front, so that each
// command parses them itself.
func withGlobals(flags ...cli.Flag) []cli.Flag {
	return append(globalFlags(), flags...)
}

// portFlag defines -p for the commands that compute ports.
func portFlag() cli.Flag {
	return &cli.StringFlag{
		Name:        "port",
		Aliases:     []string{"p"},
		Usage:       "base `PORT`: the first process type gets PORT, the next PORT+100, ...",
		DefaultText: "$PORT, else PORT from the env files, else " + strconv.Itoa(settings.DefaultPort),
	}
}

// formationFlag defines -m for the commands that take a formation.
func formationFlag() cli.Flag {
	return &cli.StringFlag{
		Name:        "formation",
		Aliases:     []string{"m", "concurrency"},
		Usage:       "how many of each process type to run: `SPEC` like web=2,worker=1; all=N for the rest",
		DefaultText: "all=1",
	}
}

// timeoutFlag defines -t for start and export, with its usage.
func timeoutFlag(usage string) cli.Flag {
	return &cli.StringFlag{
		Name:    "timeout",
		Aliases: []string{"t"},
		Value:   settings.DefaultTimeout,
		Usage:   usage,
	}
}

// policyFlags defines start's lifecycle flags; check accepts and validates
// the same.
func policyFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{
			Name:  "no-release",
			Usage: "do not run the Procfile's release entry (by default it runs first, to completion, and nothing else starts unless it exits 0)",
		},
		&cli.StringSliceFlag{
			Name:  "can-die",
			Usage: "process types `NAME`[,NAME...] that may exit with status 0 without stopping the others (repeatable)",
		},
		&cli.BoolFlag{
			Name:  "any-can-die",
			Usage: "every process type may exit with status 0 without stopping the others",
		},
		&cli.StringSliceFlag{
			Name:  "restart",
			Usage: "restart process types `NAME`[:MODE][,...] (or all) when they exit on their own, with growing delays; MODE is on-failure or always (repeatable)",
		},
		&cli.StringFlag{
			Name:  "restart-policy",
			Value: settings.DefaultRestartPolicy,
			Usage: "`MODE` of the --restart names given without one: on-failure (non-zero exit or signal) or always",
		},
		&cli.StringFlag{
			Name:        "max-restarts",
			Usage:       "after `N` restarts in a row, a process's next exit stops the app",
			DefaultText: "no limit",
		},
		&cli.StringSliceFlag{
			Name:  "after",
			Usage: "with `NAME=DEP`[,...], start NAME only once every DEP instance is ready (listens on its PORT), and stop it before them (repeatable)",
		},
	}
}

// readFlags reads the flags of c's command into the plain values package
// settings takes; a flag the command does not define reads as not set.
// A flag set by its environment variable (--socket by PROCMAN_SOCKET)
// counts as set.
func readFlags(c *cli.Context) settings.Flags {
	str := func(name string) settings.String {
		return settings.String{Value: c.String(name), Set: c.IsSet(name)}
	}
	boolean := func(name string) settings.Bool {
		return settings.Bool{Value: c.Bool(name), Set: c.IsSet(name)}
	}
	list := func(name string) settings.List {
		return settings.List{Values: c.StringSlice(name), Set: c.IsSet(name)}
	}
	return settings.Flags{
		Procfile:      str("procfile"),
		Root:          str("root"),
		Env:           list("env"),
		Formation:     str("formation"),
		Port:          str("port"),
		Timeout:       str("timeout"),
		Timestamp:     boolean("timestamp"),
		NoTimestamp:   boolean("no-timestamp"),
		Color:         boolean("color"),
		NoColor:       boolean("no-color"),
		PTY:           str("pty"),
		LogFormat:     str("log-format"),
		TimeFormat:    str("time-format"),
		Quiet:         list("quiet"),
		Socket:        str("socket"),
		Attach:        str("attach"),
		NoRelease:     boolean("no-release"),
		CanDie:        list("can-die"),
		AnyCanDie:     boolean("any-can-die"),
		Restart:       list("restart"),
		RestartPolicy: str("restart-policy"),
		MaxRestarts:   str("max-restarts"),
		After:         list("after"),
		App:           str("app"),
		Template:      str("template"),
	}
}
