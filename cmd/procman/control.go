package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/procman/procman/control"
	"github.com/procman/procman/settings"
	"github.com/urfave/cli/v2"
)

// callTimeout bounds a control command's whole exchange with procman:
// longer than the server's own limits, so that its error arrives.
const callTimeout = control.AskTimeout + 30*time.Second

// socketFlag is --socket, for start and every control command.
func socketFlag() cli.Flag {
	return &cli.StringFlag{
		Name:        "socket",
		Usage:       "the control socket is at `PATH`",
		EnvVars:     []string{"PROCMAN_SOCKET"},
		DefaultText: "ROOT/" + control.SocketName + ", or a private directory under $XDG_RUNTIME_DIR or the temp dir when ROOT is not writable",
	}
}

// socketPath finds the control socket of the procman that runs in root,
// as start and the control commands all do: socket (from --socket,
// PROCMAN_SOCKET or .procman) if set, else control.DefaultPath. private
// says that the path is in procman's private directory, which start must
// create.
func socketPath(socket, root string) (path string, private bool, err error) {
	if socket != "" {
		abs, err := filepath.Abs(socket)
		if err != nil {
			return "", false, &failure{err: fmt.Errorf("--socket %q: %w", socket, err)}
		}
		return abs, false, nil
	}
	rt := os.Getenv("XDG_RUNTIME_DIR")
	if !filepath.IsAbs(rt) {
		rt = os.TempDir()
	}
	path = control.DefaultPath(root, rt)
	return path, filepath.Dir(path) != root, nil
}

// listenControl opens the control socket of the procman about to start in
// root and serves it in the background. The caller relays the server's
// Asks to supervisor.Run and closes the server when Run returns, which
// removes the socket. Another procman listening there is an error, and
// nothing must start then.
func listenControl(socket, root string) (*control.Server, error) {
	path, private, err := socketPath(socket, root)
	if err != nil {
		return nil, err
	}
	if private {
		if err := control.MakePrivateDir(filepath.Dir(path)); err != nil {
			return nil, &failure{err: err}
		}
	}
	srv, err := control.Listen(path)
	var inUse *control.InUseError
	switch {
	case errors.As(err, &inUse):
		return nil, &failure{err: fmt.Errorf("another procman is running in %s (socket %s)", root, path)}
	case err != nil:
		return nil, &failure{err: fmt.Errorf("%w (choose another with --socket)", err)}
	}
	// Serve fails only if accepting fails for good; procman's processes
	// matter more than its remote control, so they run on regardless.
	go srv.Serve()
	return srv, nil
}

// attachFlag is start's --attach.
func attachFlag() cli.Flag {
	return &cli.StringFlag{
		Name:  "attach",
		Usage: "give procman's stdin to the processes of type `NAME` (for a debugger prompt); the others keep an empty pipe",
	}
}

// callControl sends req to the procman that runs in the project's root.
func callControl(c *cli.Context, req control.Request) (control.Response, error) {
	sock, err := findSocket(c)
	if err != nil {
		return control.Response{}, err
	}
	req.V = control.Version
	resp, err := control.Call(sock.path, req, callTimeout)
	if err != nil {
		return resp, sock.error(err)
	}
	return resp, nil
}

// A socket is where a control command finds the procman it talks to.
type socket struct {
	path  string
	root  string // the project's root
	named bool   // by --socket, PROCMAN_SOCKET or .procman
}

// findSocket finds the control socket of the procman that runs in the
// project's root. The project's .procman may set the socket for start;
// its clients must look in the same place.
func findSocket(c *cli.Context) (socket, error) {
	s, err := settings.Load(readFlags(c))
	if err != nil {
		return socket{}, settled(err)
	}
	proj, err := s.Project()
	if err != nil {
		return socket{}, settled(err)
	}
	path, _, err := socketPath(s.Socket(), proj.Root)
	return socket{path: path, root: proj.Root, named: s.Socket() != ""}, err
}

// error is the error of a control command whose exchange with procman
// failed with err.
func (s socket) error(err error) error {
	switch {
	case errors.Is(err, control.ErrNotRunning) && s.named:
		return &failure{err: fmt.Errorf("no procman is running on socket %s", s.path)}
	case errors.Is(err, control.ErrNotRunning):
		return &failure{err: fmt.Errorf("no procman is running in %s (nothing listens on %s)", s.root, s.path)}
	}
	return &failure{err: err}
}

func noArgs(c *cli.Context) error {
	if c.Args().Present() {
		return usageErrorf("%s takes no arguments, have %q", c.Command.Name, c.Args().First())
	}
	return nil
}

func psCommand() *cli.Command {
	return &cli.Command{
		Name:  "ps",
		Usage: "list the processes of the procman running here",
		Description: "Shows every instance with its state, pid, uptime, restarts, port and\n" +
			"readiness. --json prints the same as a JSON array, for scripts.",
		Flags: withGlobals(socketFlag(),
			&cli.BoolFlag{Name: "json", Usage: "print a JSON array of instances instead of a table"}),
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			resp, err := callControl(c, control.Request{Op: control.OpPs})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				return enc.Encode(append([]control.Instance{}, resp.Instances...))
			}
			return control.WriteTable(c.App.Writer, resp.Instances, time.Now())
		},
	}
}

// targetCommand makes restart and stop, which act on named instances.
func targetCommand(op, usage, description string) *cli.Command {
	return &cli.Command{
		Name:        op,
		Usage:       usage,
		ArgsUsage:   "NAME|NAME.N ...",
		Description: description,
		Flags:       withGlobals(socketFlag()),
		Action: func(c *cli.Context) error {
			if !c.Args().Present() {
				return usageErrorf("%s: name a process type or instance (web, web.1)", op)
			}
			_, err := callControl(c, control.Request{Op: op, Targets: c.Args().Slice()})
			return err
		},
	}
}

func restartCommand() *cli.Command {
	return targetCommand(control.OpRestart, "restart processes of the procman running here",
		"Stops each named instance gracefully (SIGTERM, the grace period, SIGKILL),\n"+
			"then starts it again; NAME means every instance of the type. The others\n"+
			"keep running. A stopped instance is started.")
}

func stopCommand() *cli.Command {
	return targetCommand(control.OpStop, "stop processes of the procman running here, leaving the rest up",
		"Stops each named instance gracefully (SIGTERM, the grace period, SIGKILL);\n"+
			"NAME means every instance of the type. It stays stopped until restarted,\n"+
			"and its exit does not stop the others.")
}

func scaleCommand() *cli.Command {
	return &cli.Command{
		Name:      "scale",
		Usage:     "change how many instances of process types the procman running here runs",
		ArgsUsage: "NAME=N[,NAME=N...]",
		Description: "New instances get the next numbers and ports by the usual rule;\n" +
			"the highest-numbered instances are stopped gracefully and removed.",
		Flags: withGlobals(socketFlag()),
		Action: func(c *cli.Context) error {
			counts, err := settings.Scale(c.Args().Slice())
			if err != nil {
				return settled(err)
			}
			_, err = callControl(c, control.Request{Op: control.OpScale, Counts: counts})
			return err
		},
	}
}

// stopAllCommand makes quit and kill, which both stop the app as SIGTERM
// to procman would.
func stopAllCommand(name, usage string) *cli.Command {
	return &cli.Command{
		Name:  name,
		Usage: usage,
		Description: "Stops every process as SIGTERM to procman would (SIGTERM, the grace\n" +
			"period, SIGKILL), and procman exits. It returns once procman has exited\n" +
			"and removed its socket: nothing of the app runs any more.",
		Flags: withGlobals(socketFlag()),
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			sock, err := findSocket(c)
			if err != nil {
				return err
			}
			if _, err := control.Call(sock.path, control.Request{V: control.Version, Op: control.OpQuit}, callTimeout); err != nil {
				return sock.error(err)
			}
			return waitGone(sock.path, callTimeout)
		},
	}
}

// waitGone waits until no procman listens on path: the one told to quit
// has stopped its app and exited (it removes its socket last).
func waitGone(path string, timeout time.Duration) error {
	end := time.Now().Add(timeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		_, err := control.Call(path, control.Request{V: control.Version, Op: control.OpPs}, time.Until(end))
		if errors.Is(err, control.ErrNotRunning) {
			return nil
		}
		if !time.Now().Before(end) {
			return &failure{err: fmt.Errorf("procman is still stopping after %s", timeout)}
		}
		time.Sleep(wait)
	}
}

func quitCommand() *cli.Command {
	return stopAllCommand("quit", "stop every process and the procman running here")
}

func killCommand() *cli.Command {
	return stopAllCommand("kill", "stop every process and the procman running here (the same as quit)")
}
