package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/procman/procman/logmux"
	"github.com/procman/procman/procfile"
	"github.com/procman/procman/supervisor"
	"github.com/urfave/cli/v2"
)

func startCommand() *cli.Command {
	return &cli.Command{
		Name:      "start",
		Usage:     "run the Procfile's processes until one exits or procman is stopped",
		ArgsUsage: "[NAME|NAME=N ...]",
		Description: "Without arguments, starts every process type once (or as -m says). With\n" +
			"NAME arguments, starts only those types; NAME=N runs N copies.\n" +
			"Exits with the status of the process whose exit stopped the others\n" +
			"(128+N if it died of signal N), or 128+S when procman is stopped by signal S.",
		Flags: append(withGlobals(
			formationFlag(),
			portFlag(),
			&cli.StringFlag{
				Name:    "timeout",
				Aliases: []string{"t"},
				Value:   "5",
				Usage:   "`SECONDS` to wait after SIGTERM before SIGKILL (fractions allowed)",
			},
			&cli.BoolFlag{Name: "timestamp", Value: true, Usage: "show the time on every line"},
			&cli.BoolFlag{Name: "no-timestamp", Usage: "do not show the time"},
			&cli.BoolFlag{
				Name:        "color",
				Aliases:     []string{"c"},
				Usage:       "colour the labels even when stdout is not a terminal",
				DefaultText: "only on a terminal, and not with NO_COLOR or TERM=dumb",
			},
			&cli.BoolFlag{Name: "no-color", Usage: "never colour the labels"},
			&cli.StringFlag{
				Name:  "pty",
				Value: "auto",
				Usage: "give each process a pseudo-terminal: `MODE` auto (when stdout is a terminal), always or never",
			},
			&cli.StringFlag{
				Name:  "log-format",
				Value: "text",
				Usage: "`FORMAT` of the output stream: text or json (one object per line)",
			},
			&cli.StringFlag{
				Name:  "time-format",
				Value: "clock",
				Usage: "`FORMAT` of timestamps: clock (15:04:05) or rfc3339 (with milliseconds)",
			},
			&cli.StringSliceFlag{
				Name:    "quiet",
				Aliases: []string{"q"},
				Usage:   "hide the output of process types `NAME`[,NAME...] (procman's own lines stay)",
			},
			socketFlag(),
			attachFlag(),
		), policyFlags()...),
		Action: startAction,
	}
}

// startOptions are start's output and stopping flags, validated.
type startOptions struct {
	grace      time.Duration
	timestamps bool
	color      choice
	pty        choice
	json       bool
	timeLayout string
	quiet      []string
}

func readStartOptions(c *cli.Context) (startOptions, error) {
	var o startOptions
	var err error
	if o.grace, err = parseTimeout(c.String("timeout")); err != nil {
		return o, err
	}

	if c.Bool("no-timestamp") && c.IsSet("timestamp") && c.Bool("timestamp") {
		return o, usageErrorf("--timestamp and --no-timestamp contradict each other")
	}
	o.timestamps = c.Bool("timestamp") && !c.Bool("no-timestamp")

	switch {
	case c.Bool("color") && c.Bool("no-color"):
		return o, usageErrorf("--color and --no-color contradict each other")
	case c.Bool("color"):
		o.color = choiceOn
	case c.Bool("no-color") || c.IsSet("color"): // --color=false
		o.color = choiceOff
	}

	switch v := c.String("pty"); v {
	case "auto":
		o.pty = choiceAuto
	case "always":
		o.pty = choiceOn
	case "never":
		o.pty = choiceOff
	default:
		return o, usageErrorf("--pty %q: must be auto, always or never", v)
	}

	switch v := c.String("log-format"); v {
	case "text":
	case "json":
		o.json = true
	default:
		return o, usageErrorf("--log-format %q: must be text or json", v)
	}

	switch v := c.String("time-format"); v {
	case "clock":
		o.timeLayout = logmux.DefaultTimeLayout
	case "rfc3339":
		o.timeLayout = logmux.RFC3339Milli
	default:
		return o, usageErrorf("--time-format %q: must be clock or rfc3339", v)
	}

	for _, name := range c.StringSlice("quiet") {
		if name = strings.TrimSpace(name); name != "" {
			o.quiet = append(o.quiet, name)
		}
	}
	return o, nil
}

// checkQuiet reports a --quiet name the Procfile does not define.
func checkQuiet(quiet []string, pf *procfile.Procfile) error {
	for _, name := range quiet {
		if _, ok := pf.Lookup(name); !ok {
			return usageErrorf("--quiet %q: unknown process type (%s)", name, describe(pf))
		}
	}
	return nil
}

func startAction(c *cli.Context) error {
	// Subscribe first: a SIGTERM that arrives while the Procfile is read
	// must stop the app as soon as it starts, not kill procman outright.
	signals, stop := subscribe()
	defer stop()
	conf, err := loadConfig(c)
	if err != nil {
		return err
	}
	opts, err := readStartOptions(c)
	if err != nil {
		return err
	}
	a, err := readApp(c)
	if err != nil {
		return err
	}
	proj, pf, environ, base, from, form := a.proj, a.pf, a.environ, a.base, a.from, a.form
	if err := checkQuiet(opts.quiet, pf); err != nil {
		return err
	}
	stdin, attach, err := readAttach(c, pf)
	if err != nil {
		return err
	}
	if form, err = form.Select(c.Args().Slice()); err != nil {
		return usageErrorf("start %s: %s", strings.Join(c.Args().Slice(), " "), err)
	}
	ins, err := instances(pf, form, base, from)
	if err != nil {
		return err
	}
	life, err := readLifecycle(c, conf, pf, ins, base, environ)
	if err != nil {
		return err
	}
	ins = life.instances
	if len(ins) == 0 {
		return usageErrorf("nothing to start: the formation runs no processes (%s)", describe(pf))
	}

	// process makes the first instances and, for procman scale, later ones.
	process := func(in procfile.Instance) supervisor.Process {
		return supervisor.Process{
			Name:    in.Name,
			Label:   in.Label(),
			Command: in.Command,
			Env:     setVars(environ, "PORT="+strconv.Itoa(in.Port), "PS="+in.Label()),
			Port:    in.Port,
		}
	}
	procs := make([]supervisor.Process, len(ins))
	for i, in := range ins {
		procs[i] = process(in)
	}
	srv, err := listenControl(c, proj.root)
	if err != nil {
		return err
	}
	defer srv.Close()

	stdout := c.App.Writer
	tty := isTerminal(stdout)
	cols, rows := windowSize(stdout, os.Stdin, c.App.ErrWriter)
	mux := logmux.New(stdout, logmux.Options{
		Color:      useColor(opts.color, tty, os.Getenv),
		Timestamps: opts.timestamps,
		TimeLayout: opts.timeLayout,
		JSON:       opts.json,
		Width:      life.width,
		Quiet:      slices.Clone(opts.quiet),
	})

	status, err := supervisor.Run(supervisor.Config{
		Dir:        proj.root,
		Processes:  procs,
		Grace:      opts.grace,
		Log:        mux,
		PTY:        opts.pty == choiceOn || (opts.pty == choiceAuto && tty),
		Cols:       cols,
		Rows:       rows,
		Signals:    signals,
		Policy:     life.policy,
		Release:    life.release,
		Requests:   srv.Requests(),
		NewProcess: scaler(pf, base, process),
		Stdin:      stdin,
		Attach:     attach,
	})
	// A closed stdout (procman start | head) makes Close fail too; the
	// status already says how the run ended.
	_ = mux.Close()
	if err != nil {
		return &failure{err: err, status: status}
	}
	if status != 0 {
		return exitStatus(status)
	}
	return nil
}

// describe lists the Procfile's types for messages.
func describe(pf *procfile.Procfile) string {
	return fmt.Sprintf("%s has %s", pf.Path, strings.Join(pf.Names(), ", "))
}
