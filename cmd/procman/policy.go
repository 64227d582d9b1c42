package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/procman/procman/procfile"
	"github.com/procman/procman/supervisor"
	"github.com/urfave/cli/v2"
)

// policyFlags defines start's lifecycle flags; check accepts and validates
// the same. readPolicy turns them into a supervisor.Policy.
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
			Value: "on-failure",
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

// configName is the project config file, in the root: foreman's .foreman
// for procman.
const configName = ".procman"

// A configEntry is one "key: value" line of a config file.
type configEntry struct {
	Key, Value string
	Line       int
}

// parseConfig reads a config file: one "key: value" per line; blank lines
// and lines whose first non-blank character is '#' are skipped; a value
// ends at " #" (a comment), unless it is wholly quoted with ' or ", which
// are removed (nothing is unescaped); spaces around keys and values are
// dropped; CRLF line endings and a UTF-8 byte-order mark are accepted.
// Keys are not checked here. It is a small subset of YAML, as foreman's
// .foreman is YAML, written out by hand to keep procman's dependencies few.
func parseConfig(r io.Reader, path string) ([]configEntry, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	var entries []configEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for n := 1; sc.Scan(); n++ {
		fail := func(format string, args ...any) ([]configEntry, error) {
			return nil, fmt.Errorf("%s:%d: %s", path, n, fmt.Sprintf(format, args...))
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		key = strings.TrimSpace(key)
		if !ok || !validKey(key) {
			return fail("expected %q", "key: value")
		}
		value, err := configValue(strings.TrimSpace(value))
		if err != nil {
			return fail("%s: %s", key, err)
		}
		if value == "" {
			return fail("no value for %s", key)
		}
		if strings.ContainsFunc(value, func(r rune) bool { return r != '\t' && unicode.IsControl(r) }) {
			return fail("%s: value holds a control character", key)
		}
		entries = append(entries, configEntry{Key: key, Value: value, Line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return entries, nil
}

func validKey(key string) bool {
	if key == "" {
		return false
	}
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// configValue removes a comment or the quotes from a trimmed value.
func configValue(v string) (string, error) {
	if v != "" && (v[0] == '"' || v[0] == '\'') {
		end := strings.IndexByte(v[1:], v[0])
		if end < 0 {
			return "", fmt.Errorf("%c not closed", v[0])
		}
		rest := strings.TrimSpace(v[end+2:])
		if rest != "" && rest[0] != '#' {
			return "", fmt.Errorf("text after the closing %c", v[0])
		}
		return v[1 : end+1], nil
	}
	if i := strings.Index(v, "#"); i >= 0 && (i == 0 || v[i-1] == ' ' || v[i-1] == '\t') {
		v = strings.TrimSpace(v[:i])
	}
	return v, nil
}

// A configFile is what a project's config file set: for each flag that the
// command line did not set, the file's values with their lines, so that
// messages about them can name the file and line.
type configFile struct {
	path   string                   // as shown in messages: ".procman", "app/.procman"
	values map[string][]configEntry // by a flag's first name
}

// unsettable are the flags a config file cannot set: they say where it is.
var unsettable = []string{"procfile", "root"}

// loadConfig reads the project's config file (.procman in the root) if
// there is one, and sets on c every flag it names that the command line did
// not set (a flag --no-X and its --X count as one). Keys are the long names
// of start's flags; a key that c's command does not define (check has no
// --timeout) is accepted and not applied. Relative paths in env are taken
// from the root. An unknown key, a bad value and a key given twice (other
// than for a list flag) are errors naming the file and line.
func loadConfig(c *cli.Context) (*configFile, error) {
	proj, err := readProject(c)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(proj.procfile)
	if c.IsSet("root") {
		dir = c.String("root")
	}
	cf := &configFile{path: filepath.Join(dir, configName), values: make(map[string][]configEntry)}
	data, err := os.ReadFile(filepath.Join(proj.root, configName))
	if errors.Is(err, fs.ErrNotExist) {
		return cf, nil
	}
	if err != nil {
		return nil, usageErrorf("%s: %s", cf.path, pathReason(err))
	}
	entries, err := parseConfig(bytes.NewReader(data), cf.path)
	if err != nil {
		return nil, &usageError{err}
	}

	known := make(map[string]cli.Flag)
	for _, fl := range append(startCommand().Flags, policyFlags()...) {
		for _, name := range fl.Names() {
			if _, dup := known[name]; len(name) > 1 && !dup {
				known[name] = fl
			}
		}
	}
	ours := make(map[string]bool)
	for _, fl := range c.Command.Flags {
		ours[fl.Names()[0]] = true
	}
	// Whether the command line set a flag is decided before the file sets
	// any: a key may come back, and --X and --no-X count as one.
	onCommandLine := make(map[string]bool)
	for _, e := range entries {
		if fl, ok := known[e.Key]; ok {
			onCommandLine[fl.Names()[0]] = setOnCommandLine(c, fl.Names()[0])
		}
	}
	first := make(map[string]int)
	for _, e := range entries {
		fl, ok := known[e.Key]
		if !ok || slices.Contains(unsettable, fl.Names()[0]) {
			if ok {
				return nil, usageErrorf("%s:%d: %s cannot be set in %s, which is found through it", cf.path, e.Line, e.Key, configName)
			}
			return nil, usageErrorf("%s:%d: unknown key %q (keys are the long names of start's flags)", cf.path, e.Line, e.Key)
		}
		name := fl.Names()[0]
		_, list := fl.(*cli.StringSliceFlag)
		if line, dup := first[name]; dup && !list {
			return nil, usageErrorf("%s:%d: %s given twice (first on line %d)", cf.path, e.Line, e.Key, line)
		}
		first[name] = e.Line
		if _, isBool := fl.(*cli.BoolFlag); isBool {
			if _, err := strconv.ParseBool(e.Value); err != nil {
				return nil, usageErrorf("%s:%d: %s: %q is not true or false", cf.path, e.Line, e.Key, e.Value)
			}
		}
		if !ours[name] || onCommandLine[name] {
			continue
		}
		value := e.Value
		if name == "env" {
			value = rootPaths(dir, value)
		}
		if err := c.Set(name, value); err != nil {
			return nil, usageErrorf("%s:%d: %s: %s", cf.path, e.Line, e.Key, err)
		}
		cf.values[name] = append(cf.values[name], e)
	}
	return cf, nil
}

// setOnCommandLine says whether the command line set the flag called name,
// or its opposite (--no-X for --X and back).
func setOnCommandLine(c *cli.Context, name string) bool {
	if c.IsSet(name) {
		return true
	}
	if base, ok := strings.CutPrefix(name, "no-"); ok {
		return c.IsSet(base)
	}
	return c.IsSet("no-" + name)
}

// rootPaths makes the relative paths of a comma-separated list relative to
// dir, where the config file is.
func rootPaths(dir, list string) string {
	items := strings.Split(list, ",")
	for i, p := range items {
		if p = strings.TrimSpace(p); p != "" && !filepath.IsAbs(p) {
			items[i] = filepath.Join(dir, p)
		}
	}
	return strings.Join(items, ",")
}

// A setting is one value of a flag and where it came from, for messages:
// `--after "a=b"` or `.procman:3: after "a=b"`.
type setting struct {
	value string
	where string
}

// settings returns the values of the flag called name: from the config file
// if it set them, else from the command line. For a list flag, each
// comma-separated item is a setting of its own. A flag nobody set has none.
func (cf *configFile) settings(c *cli.Context, name string, list bool) []setting {
	var out []setting
	if cf != nil && len(cf.values[name]) > 0 {
		for _, e := range cf.values[name] {
			items := []string{e.Value}
			if list {
				items = strings.Split(e.Value, ",")
			}
			for _, v := range items {
				v = strings.TrimSpace(v)
				out = append(out, setting{v, fmt.Sprintf("%s:%d: %s %q", cf.path, e.Line, e.Key, v)})
			}
		}
		return out
	}
	if !c.IsSet(name) {
		return nil
	}
	if !list {
		v := c.String(name)
		return []setting{{v, fmt.Sprintf("--%s %q", name, v)}}
	}
	for _, v := range c.StringSlice(name) {
		v = strings.TrimSpace(v)
		out = append(out, setting{v, fmt.Sprintf("--%s %q", name, v)})
	}
	return out
}

// readPolicy validates the lifecycle flags against the Procfile and returns
// the policy they ask for, and whether the release phase runs (the Procfile
// has a release entry and --no-release is not given). Every name must be a
// Procfile type other than release; empty items are skipped, as with
// --quiet. Errors name the flag and the value (or the config file's line).
func readPolicy(c *cli.Context, cf *configFile, pf *procfile.Procfile) (supervisor.Policy, bool, error) {
	pol := supervisor.Policy{MaxRestarts: -1, AnyCanDie: c.Bool("any-can-die")}
	_, hasRelease := pf.Lookup(procfile.Release)
	release := hasRelease && !c.Bool("no-release")

	checkName := func(s setting, name string) error {
		if _, ok := pf.Lookup(name); !ok {
			return usageErrorf("%s: unknown process type %q (%s)", s.where, name, describe(pf))
		}
		if name == procfile.Release {
			return usageErrorf("%s: release is the release phase, run once before the other processes start, not a process type to supervise", s.where)
		}
		return nil
	}

	for _, s := range cf.settings(c, "can-die", true) {
		if s.value == "" {
			continue
		}
		if err := checkName(s, s.value); err != nil {
			return pol, false, err
		}
		if pol.CanDie == nil {
			pol.CanDie = make(map[string]bool)
		}
		pol.CanDie[s.value] = true
	}

	mode := supervisor.OnFailure
	policySet := cf.settings(c, "restart-policy", false)
	for _, s := range policySet {
		var err error
		if mode, err = restartMode(s.value); err != nil {
			return pol, false, usageErrorf("%s: %s", s.where, err)
		}
	}
	var all *setting
	allMode := mode
	explicit := make(map[string]setting)
	for _, s := range cf.settings(c, "restart", true) {
		if s.value == "" {
			continue
		}
		name, m, hasMode := strings.Cut(s.value, ":")
		itemMode := mode
		if hasMode {
			var err error
			if itemMode, err = restartMode(m); err != nil {
				return pol, false, usageErrorf("%s: %s", s.where, err)
			}
		}
		if name == "all" {
			if all != nil && allMode != itemMode {
				return pol, false, usageErrorf("%s: contradicts %s", s.where, all.where)
			}
			all, allMode = &s, itemMode
			continue
		}
		if err := checkName(s, name); err != nil {
			return pol, false, err
		}
		if prev, dup := explicit[name]; dup && pol.Restart[name] != itemMode {
			return pol, false, usageErrorf("%s: contradicts %s", s.where, prev.where)
		}
		if pol.Restart == nil {
			pol.Restart = make(map[string]supervisor.RestartMode)
		}
		explicit[name] = s
		pol.Restart[name] = itemMode
	}
	if all != nil {
		for _, name := range pf.Names() {
			if _, ok := explicit[name]; !ok && name != procfile.Release {
				if pol.Restart == nil {
					pol.Restart = make(map[string]supervisor.RestartMode)
				}
				pol.Restart[name] = allMode
				explicit[name] = *all
			}
		}
	}
	for _, name := range pf.Names() {
		if pol.Restart[name] != supervisor.Always {
			continue
		}
		why := "--can-die"
		switch {
		case pol.AnyCanDie:
			why = "--any-can-die"
		case !pol.CanDie[name]:
			continue
		}
		return pol, false, usageErrorf("%s: %s may exit with status 0 (%s), and then always could not restart it; use on-failure",
			explicit[name].where, name, why)
	}

	for _, s := range cf.settings(c, "max-restarts", false) {
		n, err := strconv.Atoi(strings.TrimSpace(s.value))
		if err != nil || n < 0 {
			return pol, false, usageErrorf("%s: must be a whole number from 0 up (without it, restarts never stop)", s.where)
		}
		pol.MaxRestarts = n
	}
	if len(pol.Restart) == 0 {
		for _, key := range []string{"max-restarts", "restart-policy"} {
			if s := cf.settings(c, key, false); len(s) > 0 {
				return pol, false, usageErrorf("%s: no process restarts (see --restart)", s[0].where)
			}
		}
	}

	var deps []procfile.Dep
	var wheres []string
	for _, s := range cf.settings(c, "after", true) {
		ds, err := procfile.ParseDeps(s.value)
		if err != nil {
			return pol, false, usageErrorf("%s: %s", s.where, err)
		}
		for _, d := range ds {
			for _, name := range []string{d.Name, d.After} {
				if err := checkName(s, name); err != nil {
					return pol, false, err
				}
			}
			deps = append(deps, d)
			wheres = append(wheres, s.where)
		}
	}
	if err := procfile.CheckDeps(pf, deps); err != nil {
		var de *procfile.DepError
		if errors.As(err, &de) {
			return pol, false, usageErrorf("%s: %s", wheres[de.Index], de.Msg)
		}
		return pol, false, &usageError{err}
	}
	for _, d := range deps {
		if pol.After == nil {
			pol.After = make(map[string][]string)
		}
		if !slices.Contains(pol.After[d.Name], d.After) {
			pol.After[d.Name] = append(pol.After[d.Name], d.After)
		}
	}
	return pol, release, nil
}

func restartMode(s string) (supervisor.RestartMode, error) {
	switch strings.TrimSpace(s) {
	case "on-failure":
		return supervisor.OnFailure, nil
	case "always":
		return supervisor.Always, nil
	}
	return 0, fmt.Errorf("restart mode %q must be on-failure or always", s)
}

// A lifecycle is what start hands the supervisor besides its processes.
type lifecycle struct {
	instances []procfile.Instance // the long-running instances
	policy    supervisor.Policy
	release   *supervisor.Process // nil when there is no release phase
	width     int                 // of the label column, the release's label included
}

// readLifecycle reads the lifecycle flags (readPolicy) and separates the
// release entry from the instances: whatever the formation says, it is not
// a long-running process. When it runs, it gets environ with its own PORT
// (by its position, from base) and PS=release.1. When the command line
// selects only the release (procman start release, or a Procfile with
// nothing else), it runs as the only process, and procman exits with its
// status.
func readLifecycle(c *cli.Context, cf *configFile, pf *procfile.Procfile, ins []procfile.Instance, base int, environ []string) (lifecycle, error) {
	var life lifecycle
	pol, runRelease, err := readPolicy(c, cf, pf)
	if err != nil {
		return life, err
	}
	life.policy = pol
	selected := false
	for _, in := range ins {
		if in.Name == procfile.Release {
			selected = true
			continue
		}
		life.instances = append(life.instances, in)
	}
	life.width = procfile.Width(life.instances)
	// `procman scale` may later start a type that runs no instance now:
	// leave room for its first label, so the column stays aligned.
	for _, name := range pf.Names() {
		if name != procfile.Release {
			life.width = max(life.width, len(name)+len(".1"))
		}
	}
	if !runRelease {
		if selected && len(life.instances) == 0 {
			return life, usageErrorf("nothing to start: release runs only as the release phase, which --no-release skips")
		}
		return life, nil
	}
	rel, err := procfile.Instances(pf, procfile.Formation{Counts: map[string]int{procfile.Release: 1}}, base)
	if err != nil {
		return life, &usageError{err}
	}
	life.width = max(life.width, procfile.Width(rel))
	if len(life.instances) == 0 {
		if selected {
			// Only the release: run it as the one process, which may
			// exit 0, so that procman ends with it.
			life.instances = rel
			life.policy.CanDie = map[string]bool{procfile.Release: true}
		}
		return life, nil
	}
	life.release = &supervisor.Process{
		Name:    procfile.Release,
		Label:   rel[0].Label(),
		Command: rel[0].Command,
		Env:     setVars(environ, "PORT="+strconv.Itoa(rel[0].Port), "PS="+rel[0].Label()),
		// No Port: the release is not probed for readiness.
	}
	return life, nil
}
