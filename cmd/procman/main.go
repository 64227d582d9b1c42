// Command procman runs the processes of a Procfile: a foreman-compatible
// supervisor for development machines and containers.
//
// This package is the only place that knows flags, os.Args, os.Environ,
// signals, exit statuses and the terminal; the packages it drives take
// plain values, writers and channels.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/procman/procman/settings"
	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() {
	var stdout, stderr io.Writer = os.Stdout, os.Stderr
	if daemon = daemonChild(); daemon != nil {
		// Until its app has started, a daemon's output and errors also go
		// to the procman start -D that waits for it.
		stdout, stderr = io.MultiWriter(os.Stdout, daemon), io.MultiWriter(os.Stderr, daemon)
	}
	os.Exit(run(os.Args, stdout, stderr))
}

// daemon links this procman to the procman start -D that started it, or is
// nil.
var daemon *daemonLink

// run executes procman with the command line args (args[0] is the program
// name), writing normal output to stdout and errors to stderr, and returns
// the exit status. An error is printed here and only here, as one line.
func run(args []string, stdout, stderr io.Writer) (status int) {
	defer func() {
		// A bug must not reach the user as a Go stack trace: say what
		// happened in one line and fail.
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "procman: internal error: %v\n", r)
			status = 1
		}
	}()
	err := runApp(args, stdout, stderr)
	if err != nil && !isStatus(err) {
		fmt.Fprintf(stderr, "procman: %s\n", oneLine(err.Error()))
	}
	return exitCode(err)
}

func runApp(args []string, stdout, stderr io.Writer) error {
	var notFound string
	app := newApp(stdout, stderr, &notFound)
	if len(args) == 0 {
		args = []string{"procman"}
	}
	if err := app.Run(normalizeArgs(app, args)); err != nil {
		var usage *usageError
		if errors.As(err, &usage) {
			usage.err = errors.New(flagAsTyped(usage.Error(), args))
		}
		return err
	}
	if notFound != "" {
		return usageErrorf("no help for unknown command %q", notFound)
	}
	return nil
}

func newApp(stdout, stderr io.Writer, notFound *string) *cli.App {
	app := &cli.App{
		Name:      "procman",
		Usage:     "run the processes of a Procfile (a better foreman)",
		UsageText: "procman [global options] command [command options] [arguments...]",
		Version:   version,
		Writer:    stdout,
		ErrWriter: stderr,
		Flags:     globalFlags(),
		Commands: []*cli.Command{
			startCommand(),
			runCommand(),
			checkCommand(),
			exportCommand(),
			psCommand(),
			restartCommand(),
			stopCommand(),
			scaleCommand(),
			killCommand(),
			quitCommand(),
			attachCommand(),
			logsCommand(),
			versionCommand(),
		},
		// urfave/cli would otherwise print its own messages and call
		// os.Exit; every error goes through exitCode and is printed once.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   onUsageError,
		CommandNotFound: func(_ *cli.Context, name string) {
			*notFound = name
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageErrorf("unknown command %q (see procman help)", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
	}
	for _, cmd := range app.Commands {
		if cmd.OnUsageError == nil {
			cmd.OnUsageError = onUsageError
		}
		// Without this, "procman start help" would show help instead of
		// starting a Procfile entry called help.
		cmd.HideHelpCommand = true
	}
	return app
}

func onUsageError(c *cli.Context, err error, isSubcommand bool) error {
	if isSubcommand && c.Command != nil {
		return usageErrorf("%s: %s", c.Command.Name, err)
	}
	return usageErrorf("%s", err)
}

// A usageError is bad input on the command line that package settings does
// not see (arguments, commands): procman started nothing.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// flagMessages match the flag package's messages about a flag, which
// name it with one dash whatever the user typed: submatch 1 is its name.
// They are compiled on first use, as only a usage error needs them: at
// package init they would cost every procman start their memory.
var flagMessages = sync.OnceValue(func() []*regexp.Regexp {
	return []*regexp.Regexp{
		regexp.MustCompile(`^(?:[a-z]+: )?flag provided but not defined: -(\S+)$`),
		regexp.MustCompile(`^(?:[a-z]+: )?flag needs an argument: -(\S+)$`),
		regexp.MustCompile(`^(?:[a-z]+: )?invalid (?:boolean )?value "(?:[^"\\]|\\.)*" for (?:flag )?-([^\s:]+): `),
	}
})

// flagAsTyped returns msg with the flag it names written as the user
// typed it in args: procman start --no-such-flag is reported as
// --no-such-flag, not -no-such-flag. Any other message is returned as it
// is.
func flagAsTyped(msg string, args []string) string {
	for _, re := range flagMessages() {
		m := re.FindStringSubmatchIndex(msg)
		if m == nil {
			continue
		}
		name := msg[m[2]:m[3]]
		for _, a := range args {
			if a == "--" {
				break
			}
			bare := strings.TrimLeft(a, "-")
			if n, _, _ := strings.Cut(bare, "="); isFlag(a) && n == name {
				return msg[:m[2]-1] + a[:len(a)-len(bare)] + msg[m[2]:]
			}
		}
		return msg
	}
	return msg
}

// A failure is an error that is not the user's input: procman could not do
// what the input asked (a fork failed, a pipe could not be made).
type failure struct {
	err    error
	status int // non-zero status to exit with; 1 if unset
}

func (e *failure) Error() string { return e.err.Error() }
func (e *failure) Unwrap() error { return e.err }

// An exitStatus is the status procman passes on from what it supervised
// (start, run). It is not printed: the processes' output already told the
// story.
type exitStatus int

func (s exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

// settled passes on an error from package settings: bad input (an
// *settings.InputError) exits 2 like any usage error; anything else (the
// working directory is gone) is procman's failure.
func settled(err error) error {
	var in *settings.InputError
	if err == nil || errors.As(err, &in) {
		return err
	}
	return &failure{err: err}
}

func isStatus(err error) bool {
	var s exitStatus
	return errors.As(err, &s)
}

// exitCode is the one place where errors become exit statuses:
//
//	0      success
//	N      start/run: the status of the process that decided it
//	1      procman failed at runtime (e.g. could not start a process)
//	2      bad input: usage, flags, Procfile, env files (usageError,
//	       settings.InputError, urfave/cli's own errors)
func exitCode(err error) int {
	var (
		s exitStatus
		f *failure
	)
	switch {
	case err == nil:
		return 0
	case errors.As(err, &s):
		return int(s)
	case errors.As(err, &f):
		if f.status != 0 {
			return f.status
		}
		return 1
	default:
		return 2
	}
}

// oneLine keeps every error on one line even when a library's message
// spans several.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.NewReplacer("\r\n", "; ", "\n", "; ", "\r", " ").Replace(s)
}
