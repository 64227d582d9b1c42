package main

import (
	"fmt"
	"os"

	"github.com/procman/procman/logmux"
	"github.com/procman/procman/settings"
	"github.com/procman/procman/supervisor"
	"github.com/urfave/cli/v2"
)

func startCommand() *cli.Command {
	return &cli.Command{
		Name:      "start",
		Usage:     "run the Procfile's processes until one exits or procman is stopped",
		ArgsUsage: "[NAME|NAME=N ...]",
		Description: "Without arguments, starts every process type once (or as -m says). With\n" +
			"NAME arguments, starts only those types; NAME=N runs N copies, and\n" +
			"commas work as in -m (procman start web=2,worker=1).\n" +
			"Exits with the status of the process whose exit stopped the others\n" +
			"(128+N if it died of signal N), 128+S when procman is stopped by signal S,\n" +
			"or 141 (128+SIGPIPE) when its stdout is closed (procman start | head).",
		Flags: append(withGlobals(
			formationFlag(),
			portFlag(),
			timeoutFlag("`SECONDS` to wait after SIGTERM before SIGKILL (fractions allowed)"),
			&cli.BoolFlag{Name: "timestamp", Value: settings.DefaultTimestamp, Usage: "show the time on every line"},
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
				Value: settings.DefaultPTY,
				Usage: "give each process a pseudo-terminal: `MODE` auto (when stdout is a terminal), always or never",
			},
			&cli.StringFlag{
				Name:  "log-format",
				Value: settings.DefaultLogFormat,
				Usage: "`FORMAT` of the output stream: text or json (one object per line)",
			},
			&cli.StringFlag{
				Name:  "time-format",
				Value: settings.DefaultTimeFormat,
				Usage: "`FORMAT` of timestamps: clock (15:04:05) or rfc3339 (with milliseconds)",
			},
			&cli.StringSliceFlag{
				Name:    "quiet",
				Aliases: []string{"q"},
				Usage:   "hide the output of process types `NAME`[,NAME...] (procman's own lines stay)",
			},
			socketFlag(),
			attachFlag(),
			&cli.BoolFlag{
				Name:    "daemon",
				Aliases: []string{"D"},
				Usage:   "run in the background, detached from the terminal; return once every process has started",
			},
			&cli.StringFlag{
				Name:        "log-file",
				Usage:       "with -D: append the output stream to `FILE` (never rotated)",
				DefaultText: "none; procman logs shows the recent lines",
			},
		), policyFlags()...),
		Action: startAction,
	}
}

func startAction(c *cli.Context) error {
	// Subscribe first: a SIGTERM that arrives while the Procfile is read
	// must stop the app as soon as it starts, not kill procman outright.
	signals, stop := subscribe()
	defer stop()
	s, err := settings.Load(readFlags(c))
	if err != nil {
		return settled(err)
	}
	st, err := s.Start(os.Environ(), c.Args().Slice())
	if err != nil {
		// The error may be about a value from .foreman, which the user
		// did not know procman reads.
		printNotices(c.App.ErrWriter, s)
		return settled(err)
	}
	background := c.Bool("daemon")
	switch {
	case background && st.Config.Attach != "":
		return usageErrorf("start: -D and --attach do not go together: a daemon has no terminal to give")
	case c.IsSet("log-file") && !background:
		return usageErrorf("start: --log-file needs -D (in the foreground the stream is standard output)")
	case c.IsSet("log-file") && c.String("log-file") == "":
		return usageErrorf("start: --log-file \"\": empty file name")
	case background && daemon == nil:
		return daemonize(c, c.String("log-file"))
	}
	srv, err := listenControl(s.Socket(), st.Config.Dir)
	if err != nil {
		return err
	}
	defer srv.Close()

	stdout := c.App.Writer
	tty := isTerminal(stdout)
	cfg, opts := st.Config, st.Output
	opts.Color = useColor(choiceOf(st.Color), tty, os.Getenv)
	mux := logmux.New(stdout, opts)
	// What settings has to say (.foreman was read, a key of it ignored)
	// goes first on the stream, where the user looks, as system lines.
	for _, n := range s.Notices() {
		kind := "note"
		if n.Warning {
			kind = "warning"
		}
		mux.Event(logmux.Event{Kind: kind, Msg: n.Msg})
	}
	cfg.Log = mux
	cfg.PTY = st.PTY.Decide(tty)
	cfg.Cols, cfg.Rows = windowSize(stdout, os.Stdin, c.App.ErrWriter)
	cfg.Signals = signals
	reqs, done := make(chan supervisor.Request), make(chan struct{})
	defer close(done)
	go relay(srv.Asks(), reqs, done, stream{mux: mux, json: opts.JSON, types: st.Types})
	cfg.Requests = reqs
	if daemon != nil {
		cfg.Started = daemon.started
	}
	if cfg.Attach != "" {
		cfg.Stdin = os.Stdin
	}
	status, err := supervisor.Run(cfg)
	// A closed stdout (procman start | head) makes Close fail too; the
	// status already says how the run ended.
	_ = mux.Close()
	// Followers (procman logs -f) get the last lines, then the end.
	mux.EndFeeds()
	if n := mux.Dropped(); n > 0 {
		fmt.Fprintf(c.App.ErrWriter, "procman: standard output was not being read; %d bytes of output were dropped so that procman could exit\n", n)
	}
	if err != nil {
		return &failure{err: err, status: status}
	}
	if status != 0 {
		return exitStatus(status)
	}
	return nil
}

// choiceOf is settings' choice as the terminal code's.
func choiceOf(c settings.Choice) choice {
	switch c {
	case settings.On:
		return choiceOn
	case settings.Off:
		return choiceOff
	}
	return choiceAuto
}
