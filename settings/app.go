package settings

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/procman/procman/env"
	"github.com/procman/procman/procfile"
	"github.com/procman/procman/supervisor"
)

// maxPort is the highest TCP port.
const maxPort = 65535

// An app is what start, check and export all read the same way, in this
// order, so that their errors agree: the project, its Procfile, the env
// files merged under the real environment, the base port and -m.
type app struct {
	proj     Project
	pf       *procfile.Procfile
	environ  []string          // what every process gets, from the real environment and the env files
	vars     map[string]string // the env files' variables, with the values the processes get
	warnings []env.Warning     // references in the env files to names nothing sets
	port     basePort
	form     procfile.Formation // -m, its names known to the Procfile
}

func readApp(f Flags, environ []string) (*app, error) {
	var a app
	var err error
	if a.proj, err = readProject(f); err != nil {
		return nil, err
	}
	if a.pf, err = a.proj.parseProcfile(); err != nil {
		return nil, err
	}
	res, err := a.proj.loadEnv(environ)
	if err != nil {
		return nil, err
	}
	a.environ, a.vars, a.warnings = res.Environ, res.Vars, res.Warnings
	if a.port, err = readPort(f.Port, environ, res); err != nil {
		return nil, err
	}
	if a.form, err = readFormation(f.Formation, a.pf); err != nil {
		return nil, err
	}
	return &a, nil
}

// A basePort is the base port and where it came from, for messages about
// the ports made from it; from is "" for the default.
type basePort struct {
	n    int
	from string
}

// readPort applies the base port rule: -p, else $PORT in the real
// environment, else PORT from the env files (files), else DefaultPort. A
// port is no secret: messages name the value, and for the env files the
// line that set it, with its text as written there (which, unlike the
// value, never holds another variable's).
func readPort(flag String, environ []string, files env.Result) (basePort, error) {
	if flag.Set {
		from := fmt.Sprintf("-p %q", flag.Value)
		n, ok := parsePort(flag.Value)
		if !ok {
			return basePort{}, inputf("%s: port must be a whole number from 1 to %d", from, maxPort)
		}
		return basePort{n, from}, nil
	}
	if v, _ := env.Lookup(environ, "PORT"); v != "" {
		n, ok := parsePort(v)
		if !ok {
			return basePort{}, inputf("$PORT %s in the environment is not a port number (1-%d)", quoteShort(v), maxPort)
		}
		return basePort{n, "$PORT"}, nil
	}
	if v := files.Vars["PORT"]; v != "" {
		from := "PORT in the env files"
		if src, ok := files.Sources["PORT"]; ok {
			from = fmt.Sprintf("%s:%d: PORT %s", src.Path, src.Line, quoteShort(src.Text))
		}
		n, ok := parsePort(v)
		if !ok {
			return basePort{}, inputf("%s is not a port number (1-%d)", from, maxPort)
		}
		return basePort{n, from}, nil
	}
	return basePort{DefaultPort, ""}, nil
}

// quoteShort quotes s for a message, cut short if it is long: whatever a
// PORT holds, the message stays one readable line.
func quoteShort(s string) string {
	const limit = 32
	if r := []rune(s); len(r) > limit {
		return strconv.Quote(string(r[:limit])) + "..."
	}
	return strconv.Quote(s)
}

func parsePort(s string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > maxPort {
		return 0, false
	}
	return n, true
}

// readFormation parses -m (default all=1) and checks its names against the
// Procfile, so that its errors can name the flag.
func readFormation(flag String, pf *procfile.Procfile) (procfile.Formation, error) {
	spec := flag.or("")
	f, err := procfile.ParseFormation(spec)
	if err != nil {
		return f, inputf("-m %q: %s", spec, err)
	}
	if err := knownTypes(pf, f); err != nil {
		return f, inputf("-m %q: %s", spec, err)
	}
	return f, nil
}

// knownTypes reports a type that f names and pf does not define, the
// first in sorted order, in procfile.Instances' words but for the
// Procfile's path: that names the file as the user gave it (app/Procfile
// with -d app), where procfile.Instances always says Procfile.
func knownTypes(pf *procfile.Procfile, f procfile.Formation) error {
	var unknown []string
	for name := range f.Counts {
		if _, ok := pf.Lookup(name); !ok {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return fmt.Errorf("unknown process type %q (%s)", unknown[0], describe(pf))
}

// instances lists form's instances with their ports. form's names must be
// known (knownTypes), so an error is a port outside 1-65535, which names
// where the base port came from.
func (a *app) instances(form procfile.Formation) ([]procfile.Instance, error) {
	ins, err := procfile.Instances(a.pf, form, a.port.n)
	switch {
	case err != nil && a.port.from != "":
		return nil, inputf("%s: %s", a.port.from, err)
	case err != nil:
		return nil, &InputError{err}
	}
	return ins, nil
}

// process makes the supervisor's process for in: the app's environment with
// the instance's PORT and PS.
func (a *app) process(in procfile.Instance) supervisor.Process {
	return supervisor.Process{
		Name:    in.Name,
		Label:   in.Label(),
		Command: in.Command,
		Env:     setVars(a.environ, "PORT="+strconv.Itoa(in.Port), "PS="+in.Label()),
		Port:    in.Port,
	}
}

// newProcess is the supervisor's NewProcess, for procman scale: instance
// num of a type gets its port by the usual rule, like the first ones.
func (a *app) newProcess(name string, num int) (supervisor.Process, error) {
	if name == procfile.Release {
		return supervisor.Process{}, fmt.Errorf("%s is the release phase and cannot be scaled", name)
	}
	if err := knownTypes(a.pf, procfile.Formation{Counts: map[string]int{name: num}}); err != nil {
		return supervisor.Process{}, err
	}
	ins, err := procfile.Instances(a.pf, procfile.Formation{Counts: map[string]int{name: num}}, a.port.n)
	if err != nil {
		return supervisor.Process{}, err
	}
	if len(ins) == 0 || ins[len(ins)-1].Num != num {
		return supervisor.Process{}, fmt.Errorf("no instance %s.%d", name, num)
	}
	return a.process(ins[len(ins)-1]), nil
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

// readTimeout reads -t (default DefaultTimeout): seconds, fractions
// allowed, not negative.
func readTimeout(flag String) (time.Duration, error) {
	s := flag.or(DefaultTimeout)
	secs, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	switch {
	case err != nil || math.IsNaN(secs) || math.IsInf(secs, 0):
		return 0, inputf("-t %q: timeout must be a number of seconds", s)
	case secs < 0:
		return 0, inputf("-t %q: timeout must not be negative", s)
	case secs > 1e9:
		return 0, inputf("-t %q: timeout is too large", s)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// describe lists the Procfile's types for messages.
func describe(pf *procfile.Procfile) string {
	return fmt.Sprintf("%s has %s", pf.Path, strings.Join(pf.Names(), ", "))
}
