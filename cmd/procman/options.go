package main

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/procman/procman/env"
	"github.com/procman/procman/procfile"
	"github.com/urfave/cli/v2"
)

// defaultPort is the base port when neither -p, $PORT nor an env file
// says otherwise (foreman's default).
const defaultPort = 5000

// maxPort is the highest TCP port.
const maxPort = 65535

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

// A project is what the global flags point at: where the Procfile is, where
// the processes run, and which env files to read.
type project struct {
	procfile      string // path as the user gave it (or the default), for messages
	procfileGiven bool   // -f was given: a missing file is always an error
	root          string // absolute directory the processes run in
	envFiles      []env.File
}

func readProject(c *cli.Context) (project, error) {
	var p project
	rootArg := c.String("root")
	if c.IsSet("root") {
		if rootArg == "" {
			return p, usageErrorf("-d \"\": empty directory name")
		}
		info, err := os.Stat(rootArg)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return p, usageErrorf("-d %q: no such directory", rootArg)
		case err != nil:
			return p, usageErrorf("-d %q: %s", rootArg, pathReason(err))
		case !info.IsDir():
			return p, usageErrorf("-d %q: not a directory", rootArg)
		}
	}

	p.procfile = c.String("procfile")
	p.procfileGiven = c.IsSet("procfile")
	switch {
	case p.procfileGiven && p.procfile == "":
		return p, usageErrorf("-f \"\": empty file name")
	case !p.procfileGiven && rootArg != "":
		p.procfile = filepath.Join(rootArg, "Procfile")
	case !p.procfileGiven:
		p.procfile = "Procfile"
	}
	if rootArg == "" {
		rootArg = filepath.Dir(p.procfile)
	}
	root, err := filepath.Abs(rootArg)
	if err != nil {
		return p, &failure{err: fmt.Errorf("root directory: %w", err)}
	}
	p.root = root

	for _, name := range c.StringSlice("env") {
		name = strings.TrimSpace(name)
		if name == "" {
			return p, usageErrorf("-e: empty file name")
		}
		p.envFiles = append(p.envFiles, env.File{Path: name})
	}
	if len(p.envFiles) == 0 {
		p.envFiles = []env.File{{Path: filepath.Join(rootArg, ".env"), Optional: true}}
	}
	return p, nil
}

// pathReason is the reason of a *fs.PathError without the operation and
// path, which the caller already names.
func pathReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// parseProcfile reads the project's Procfile. Its errors already name the
// file (and line).
func (p project) parseProcfile() (*procfile.Procfile, error) {
	pf, err := procfile.ParseFile(p.procfile)
	if err != nil {
		return nil, &usageError{err}
	}
	return pf, nil
}

// loadEnv reads the env files and merges them under the real environment.
// It returns the file variables too, as the base port rule looks at them on
// their own.
func (p project) loadEnv(osEnv []string) (environ []string, vars map[string]string, err error) {
	vars, err = env.Load(p.envFiles)
	if err != nil {
		return nil, nil, &usageError{err}
	}
	return env.Merge(osEnv, vars), vars, nil
}

// portFlag defines -p for the commands that compute ports.
func portFlag() cli.Flag {
	return &cli.StringFlag{
		Name:        "port",
		Aliases:     []string{"p"},
		Usage:       "base `PORT`: the first process type gets PORT, the next PORT+100, ...",
		DefaultText: "$PORT, else PORT from the env files, else 5000",
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

// basePort applies the base port rule: -p, else the real $PORT, else PORT
// from the env files, else 5000. from says where it came from, for
// messages about ports derived from it. Values from env files are never
// printed.
func basePort(c *cli.Context, osEnv map[string]string, vars map[string]string) (port int, from string, err error) {
	if c.IsSet("port") {
		v := c.String("port")
		from = fmt.Sprintf("-p %q", v)
		port, ok := parsePort(v)
		if !ok {
			return 0, "", usageErrorf("%s: port must be a whole number from 1 to %d", from, maxPort)
		}
		return port, from, nil
	}
	if v := osEnv["PORT"]; v != "" {
		port, ok := parsePort(v)
		if !ok {
			return 0, "", usageErrorf("$PORT in the environment is not a whole number from 1 to %d", maxPort)
		}
		return port, "$PORT", nil
	}
	if v := vars["PORT"]; v != "" {
		port, ok := parsePort(v)
		if !ok {
			return 0, "", usageErrorf("PORT in the env files is not a whole number from 1 to %d", maxPort)
		}
		return port, "PORT from the env files", nil
	}
	return defaultPort, "", nil
}

func parsePort(s string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > maxPort {
		return 0, false
	}
	return n, true
}

// readFormation parses -m and checks that it names only the Procfile's
// types, so that its errors can name the flag.
func readFormation(c *cli.Context, pf *procfile.Procfile) (procfile.Formation, error) {
	spec := c.String("formation")
	f, err := procfile.ParseFormation(spec)
	if err != nil {
		return f, usageErrorf("-m %q: %s", spec, err)
	}
	var unknown []string
	for name := range f.Counts {
		if _, ok := pf.Lookup(name); !ok {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return f, usageErrorf("-m %q: unknown process type %q (%s)", spec, unknown[0], describe(pf))
	}
	return f, nil
}

// instances applies the formation and the base port; a port error names
// where the base port came from.
func instances(pf *procfile.Procfile, f procfile.Formation, base int, from string) ([]procfile.Instance, error) {
	in, err := procfile.Instances(pf, f, base)
	if err != nil {
		if from != "" && strings.HasPrefix(err.Error(), "port ") {
			return nil, usageErrorf("%s: %s", from, err)
		}
		return nil, &usageError{err}
	}
	return in, nil
}

// parseTimeout reads -t: seconds, fractions allowed, not negative.
func parseTimeout(s string) (time.Duration, error) {
	secs, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	switch {
	case err != nil || math.IsNaN(secs) || math.IsInf(secs, 0):
		return 0, usageErrorf("-t %q: timeout must be a number of seconds", s)
	case secs < 0:
		return 0, usageErrorf("-t %q: timeout must not be negative", s)
	case secs > 1e9:
		return 0, usageErrorf("-t %q: timeout is too large", s)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// environMap indexes an environment the way the process would see it: the
// last assignment of a key wins.
func environMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// setVars returns environ with each key in kv (pairs "KEY=value") set,
// replacing any earlier assignment.
func setVars(environ []string, kv ...string) []string {
	out := make([]string, 0, len(environ)+len(kv))
	for _, e := range environ {
		k, _, _ := strings.Cut(e, "=")
		replaced := false
		for _, s := range kv {
			if strings.HasPrefix(s, k+"=") {
				replaced = true
				break
			}
		}
		if !replaced {
			out = append(out, e)
		}
	}
	return append(out, kv...)
}

// An app is what start, check and export all read the same way, in this
// order, so their errors agree: the project, its Procfile, the env files
// merged under the real environment, the base port and -m.
type app struct {
	proj    project
	pf      *procfile.Procfile
	environ []string          // the real environment, then the env files' other variables
	vars    map[string]string // the env files' variables alone
	base    int               // the base port
	from    string            // where the base port came from, for messages
	form    procfile.Formation
}

func readApp(c *cli.Context) (*app, error) {
	var a app
	var err error
	if a.proj, err = readProject(c); err != nil {
		return nil, err
	}
	if a.pf, err = a.proj.parseProcfile(); err != nil {
		return nil, err
	}
	osEnv := os.Environ()
	if a.environ, a.vars, err = a.proj.loadEnv(osEnv); err != nil {
		return nil, err
	}
	if a.base, a.from, err = basePort(c, environMap(osEnv), a.vars); err != nil {
		return nil, err
	}
	if a.form, err = readFormation(c, a.pf); err != nil {
		return nil, err
	}
	return &a, nil
}

// instances lists the formation's instances, with their ports.
func (a *app) instances() ([]procfile.Instance, error) {
	return instances(a.pf, a.form, a.base, a.from)
}
