package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/procman/procman/control"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

func attachCommand() *cli.Command {
	return &cli.Command{
		Name:      "attach",
		Usage:     "connect this terminal to a process of the procman running here",
		ArgsUsage: "NAME.N|NAME",
		Description: "Shows the process's output as it comes and sends what you type to its\n" +
			"input (its pty, or its stdin pipe), for a debugger prompt. The process's\n" +
			"window size follows this terminal. Ctrl-b d (see --detach-keys) detaches\n" +
			"and leaves it running. When the process exits, attach says how and exits\n" +
			"with its status. One client is attached to a process at a time.",
		Flags: withGlobals(socketFlag(),
			&cli.BoolFlag{Name: "force", Usage: "take the process over from a client attached already"},
			&cli.StringFlag{
				Name:  "detach-keys",
				Value: control.DefaultDetachKeys,
				Usage: "the `KEYS` that detach, comma separated: ctrl-a..ctrl-z, ctrl-@, ctrl-[, ctrl-\\, ctrl-], ctrl-^, ctrl-_ or a character",
			}),
		Action: attachAction,
	}
}

func attachAction(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageErrorf("attach: name one process (web.1, or web when it runs once)")
	}
	keys, err := control.ParseDetachKeys(c.String("detach-keys"))
	if err != nil {
		return usageErrorf("--detach-keys %q: %v", c.String("detach-keys"), err)
	}
	sock, err := findSocket(c)
	if err != nil {
		return err
	}
	req := control.Request{V: control.Version, Op: control.OpAttach, Targets: c.Args().Slice(), Force: c.Bool("force")}
	stdin, out := os.Stdin, c.App.Writer
	resize := make(chan [2]int, 1)
	if fd := int(stdin.Fd()); term.IsTerminal(fd) {
		if w, h, err := term.GetSize(fd); err == nil {
			req.Cols, req.Rows = w, h
		}
		old, err := term.MakeRaw(fd)
		if err != nil {
			return &failure{err: fmt.Errorf("attach: terminal: %w", err)}
		}
		defer term.Restore(fd, old)
		// Raw mode turns the terminal's "\n" to "\r\n" off, which the
		// process (whose own pty leaves its bytes alone) counts on.
		if isTerminal(out) {
			out = crlf{out}
		}
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		go followSize(fd, winch, resize)
	}
	res, err := control.Attach(sock.path, req, stdin, out, keys, resize)
	if err != nil {
		return sock.error(err)
	}
	if fd := int(stdin.Fd()); term.IsTerminal(fd) {
		// Back to a cooked terminal before procman's own line; the
		// deferred Restore does it again, harmlessly.
		fmt.Fprint(c.App.ErrWriter, "\r\n")
	}
	switch {
	case res.Detached:
		fmt.Fprintf(c.App.ErrWriter, "procman: detached from %s, which is still running\n", c.Args().First())
		return nil
	case res.Ending.Exited:
		fmt.Fprintf(c.App.ErrWriter, "procman: %s\n", res.Ending.Reason)
		if res.Ending.Status != 0 {
			return exitStatus(res.Ending.Status)
		}
		return nil
	}
	return &failure{err: fmt.Errorf("detached: %s", res.Ending.Reason)}
}

// followSize sends the terminal's size on resize each time it changes.
func followSize(fd int, winch <-chan os.Signal, resize chan [2]int) {
	for range winch {
		w, h, err := term.GetSize(fd)
		if err != nil {
			continue
		}
		select {
		case <-resize: // an older size not sent yet
		default:
		}
		resize <- [2]int{w, h}
	}
}

// crlf writes "\r\n" for every "\n", as a terminal's output processing
// (ONLCR) would outside raw mode.
type crlf struct{ w io.Writer }

func (c crlf) Write(p []byte) (int, error) {
	if bytes.IndexByte(p, '\n') < 0 {
		return c.w.Write(p)
	}
	if _, err := c.w.Write(bytes.ReplaceAll(p, []byte("\n"), []byte("\r\n"))); err != nil {
		return 0, err
	}
	return len(p), nil
}
