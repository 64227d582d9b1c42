package settings

import (
	"fmt"
	"strings"

	"github.com/procman/procman/logmux"
	"github.com/procman/procman/procfile"
	"github.com/procman/procman/supervisor"
)

// A Start is what procman start runs, validated.
type Start struct {
	// Config has Dir, Processes, Grace, Policy, Release, NewProcess and
	// Attach set. The caller sets what only it has: Log, PTY, Cols, Rows,
	// Signals, Requests, and Stdin when Attach is set.
	Config supervisor.Config
	// Output is the output stream's options but Color, which the caller
	// decides from the Color choice and the terminal.
	Output logmux.Options
	Color  Choice // --color, --no-color; Auto: colour only on a terminal
	PTY    Choice // --pty; Auto: a pty when procman's stdout is a terminal
	// PTYTypes are the types --pty names (--pty web,worker): they get a
	// pty (Config.PTYFor) and the others a pipe (PTY is Off).
	PTYTypes []string
	// Types lists the Procfile's process types, in its order.
	Types []string
}

// Start reads what procman start needs, in the order its errors are
// reported: the output flags and -t, the Procfile, the env files (merged
// under environ, the real environment), the base port and -m, --quiet and
// --attach, the process names in args (NAME or NAME=N), the ports, the
// lifecycle flags. The release entry is not among Config.Processes: it is
// Config.Release, run first, unless args select only the release (or the
// Procfile has nothing else), when it runs as the one process. A
// formation that runs nothing is an error.
func (s *Settings) Start(environ []string, args []string) (*Start, error) {
	st, err := s.startOptions()
	if err != nil {
		return nil, err
	}
	a, err := readApp(s.flags, environ)
	if err != nil {
		return nil, err
	}
	if err := checkQuiet(st.Output.Quiet, a.pf); err != nil {
		return nil, err
	}
	if err := checkPTYTypes(s.flags.PTY.Value, st.PTYTypes, a.pf); err != nil {
		return nil, err
	}
	if len(st.PTYTypes) > 0 {
		st.Config.PTYFor = make(map[string]bool)
		for _, name := range st.PTYTypes {
			st.Config.PTYFor[name] = true
		}
	}
	st.Types = a.pf.Names()
	if st.Config.Attach, err = s.attach(a.pf); err != nil {
		return nil, err
	}
	ins, err := a.selected(args)
	if err != nil {
		return nil, err
	}
	pol, release, err := s.policy(a.pf)
	if err != nil {
		return nil, err
	}
	life, err := a.lifecycle(pol, release, ins)
	if err != nil {
		return nil, err
	}
	if len(life.instances) == 0 {
		return nil, inputf("nothing to start: the formation runs no processes (%s)", describe(a.pf))
	}
	st.Config.Dir = a.proj.Root
	for _, in := range life.instances {
		st.Config.Processes = append(st.Config.Processes, a.process(in))
	}
	st.Config.Policy, st.Config.Release = life.policy, life.release
	st.Config.NewProcess = a.newProcess
	st.Output.Width = life.width
	return st, nil
}

// startOptions reads start's output and stopping flags.
func (s *Settings) startOptions() (*Start, error) {
	f := s.flags
	st := &Start{}
	var err error
	if st.Config.Grace, err = readTimeout(f.Timeout); err != nil {
		return nil, err
	}
	if f.NoTimestamp.or(false) && f.Timestamp.Set && f.Timestamp.Value {
		return nil, inputf("--timestamp and --no-timestamp contradict each other")
	}
	st.Output.Timestamps = f.Timestamp.or(DefaultTimestamp) && !f.NoTimestamp.or(false)
	switch color, noColor := f.Color.or(false), f.NoColor.or(false); {
	case color && noColor:
		return nil, inputf("--color and --no-color contradict each other")
	case color:
		st.Color = On
	case noColor || f.Color.Set: // --color=false
		st.Color = Off
	}
	if st.PTY, st.PTYTypes, err = readPTY(f.PTY.or(DefaultPTY)); err != nil {
		return nil, err
	}
	if st.Output.JSON, err = oneOf("--log-format", f.LogFormat.or(DefaultLogFormat), "text or json",
		map[string]bool{"text": false, "json": true}); err != nil {
		return nil, err
	}
	if st.Output.TimeLayout, err = oneOf("--time-format", f.TimeFormat.or(DefaultTimeFormat), "clock or rfc3339",
		map[string]string{"clock": logmux.DefaultTimeLayout, "rfc3339": logmux.RFC3339Milli}); err != nil {
		return nil, err
	}
	if f.Quiet.Set {
		for _, name := range f.Quiet.Values {
			if name = strings.TrimSpace(name); name != "" {
				st.Output.Quiet = append(st.Output.Quiet, name)
			}
		}
	}
	return st, nil
}

// oneOf returns what the flag's value v stands for among choices; the
// message lists them as known.
func oneOf[T any](flag, v, known string, choices map[string]T) (T, error) {
	c, ok := choices[v]
	if !ok {
		return c, inputf("%s %q: must be %s", flag, v, known)
	}
	return c, nil
}

// readPTY reads --pty: auto, always or never, or the process types that
// get a pty (web,worker), when every other type gets a pipe.
func readPTY(v string) (Choice, []string, error) {
	modes := map[string]Choice{"auto": Auto, "always": On, "never": Off}
	if c, ok := modes[v]; ok {
		return c, nil, nil
	}
	var types []string
	for _, name := range strings.Split(v, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			return Off, nil, inputf("--pty %q: must be auto, always, never or process types (web,worker)", v)
		}
		types = append(types, name)
	}
	return Off, types, nil
}

// checkPTYTypes reports a --pty type the Procfile does not define.
func checkPTYTypes(flag string, types []string, pf *procfile.Procfile) error {
	for _, name := range types {
		if _, ok := pf.Lookup(name); ok {
			continue
		}
		if len(types) == 1 {
			return inputf("--pty %q: must be auto, always, never or a process type (%s)", flag, describe(pf))
		}
		return inputf("--pty %q: unknown process type %q (%s)", flag, name, describe(pf))
	}
	return nil
}

// checkQuiet reports a --quiet name the Procfile does not define.
func checkQuiet(quiet []string, pf *procfile.Procfile) error {
	for _, name := range quiet {
		if _, ok := pf.Lookup(name); !ok {
			return inputf("--quiet %q: unknown process type (%s)", name, describe(pf))
		}
	}
	return nil
}

// attach reads --attach: the type whose processes get procman's stdin, or
// "" for none.
func (s *Settings) attach(pf *procfile.Procfile) (string, error) {
	if !s.flags.Attach.Set {
		return "", nil
	}
	name := s.flags.Attach.Value
	if _, ok := pf.Lookup(name); !ok {
		return "", inputf("--attach %q: unknown process type (%s)", name, describe(pf))
	}
	return name, nil
}

// selected applies `procman start NAME NAME=N ...` to -m and returns the
// instances that run. An argument may hold several items separated by
// commas, as -m and procman scale take them: start web=2,worker=1 is start
// web=2 worker=1.
func (a *app) selected(args []string) ([]procfile.Instance, error) {
	items, err := splitItems(args)
	if err != nil {
		return nil, inputf("start %s: %s", strings.Join(args, " "), err)
	}
	form, err := a.form.Select(items)
	if err != nil {
		return nil, inputf("start %s: %s", strings.Join(args, " "), err)
	}
	if err := knownTypes(a.pf, form); err != nil {
		return nil, &InputError{err}
	}
	return a.instances(form)
}

// splitItems splits each argument that holds a comma into its items,
// trimmed; an empty item there is an error in -m's words. An argument
// without a comma is kept as it is, for Select to judge.
func splitItems(args []string) ([]string, error) {
	var items []string
	for _, arg := range args {
		if !strings.Contains(arg, ",") {
			items = append(items, arg)
			continue
		}
		for _, item := range strings.Split(arg, ",") {
			if item = strings.TrimSpace(item); item == "" {
				return nil, fmt.Errorf("empty item in %q", arg)
			}
			items = append(items, item)
		}
	}
	return items, nil
}

// A lifecycle is what start hands the supervisor besides its processes.
type lifecycle struct {
	instances []procfile.Instance // the long-running instances
	policy    supervisor.Policy
	release   *supervisor.Process // nil when there is no release phase
	width     int                 // of the label column, the release's label included
}

// lifecycle separates the release entry from the instances: whatever the
// formation says, it is not a long-running process. When it runs, it gets
// the app's environment with its own PORT (by its position) and
// PS=release.1. When ins holds only the release (procman start release,
// or a Procfile with nothing else), it runs as the only process, which may
// exit 0, and procman exits with its status.
func (a *app) lifecycle(pol supervisor.Policy, runRelease bool, ins []procfile.Instance) (lifecycle, error) {
	life := lifecycle{policy: pol}
	selected := false
	for _, in := range ins {
		if in.Name == procfile.Release {
			selected = true
			continue
		}
		life.instances = append(life.instances, in)
	}
	life.width = procfile.Width(life.instances)
	// procman scale may later start a type that runs no instance now:
	// leave room for its first label, so the column stays aligned.
	for _, name := range a.pf.Names() {
		if name != procfile.Release {
			life.width = max(life.width, len(name)+len(".1"))
		}
	}
	if !runRelease {
		if selected && len(life.instances) == 0 {
			return life, inputf("nothing to start: release runs only as the release phase, which --no-release skips")
		}
		return life, nil
	}
	rel, err := procfile.Instances(a.pf, procfile.Formation{Counts: map[string]int{procfile.Release: 1}}, a.port.n)
	if err != nil {
		return life, &InputError{err}
	}
	life.width = max(life.width, procfile.Width(rel))
	if len(life.instances) == 0 {
		if selected {
			life.instances = rel
			life.policy.CanDie = map[string]bool{procfile.Release: true}
		}
		return life, nil
	}
	release := a.process(rel[0])
	release.Port = 0 // the release is not probed for readiness
	life.release = &release
	return life, nil
}
