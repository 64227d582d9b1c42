package settings

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/procman/procman/procfile"
	"github.com/procman/procman/supervisor"
)

// policy reads the lifecycle flags against the Procfile and returns the
// policy they ask for, and whether the release phase runs (the Procfile has
// a release entry and --no-release is not given). Every name must be a
// Procfile type other than release; empty items are skipped, as with
// --quiet. Errors name the flag and the value, or the project file's line.
func (s *Settings) policy(pf *procfile.Procfile) (supervisor.Policy, bool, error) {
	pol := supervisor.Policy{MaxRestarts: -1, AnyCanDie: s.flags.AnyCanDie.or(false)}
	_, hasRelease := pf.Lookup(procfile.Release)
	release := hasRelease && !s.flags.NoRelease.or(false)
	var err error
	if pol.CanDie, err = s.canDie(pf); err != nil {
		return pol, false, err
	}
	if pol.Restart, err = s.restarts(pf, pol); err != nil {
		return pol, false, err
	}
	if pol.MaxRestarts, err = s.maxRestarts(len(pol.Restart) > 0); err != nil {
		return pol, false, err
	}
	if pol.After, err = s.after(pf); err != nil {
		return pol, false, err
	}
	return pol, release, nil
}

// supervised reports a name, given at where, that the policies cannot
// name: anything but a Procfile type other than release.
func supervised(pf *procfile.Procfile, where, name string) error {
	if _, ok := pf.Lookup(name); !ok {
		return inputf("%s: unknown process type %q (%s)", where, name, describe(pf))
	}
	if name == procfile.Release {
		return inputf("%s: release is the release phase, run once before the other processes start, not a process type to supervise", where)
	}
	return nil
}

// canDie reads --can-die.
func (s *Settings) canDie(pf *procfile.Procfile) (map[string]bool, error) {
	var canDie map[string]bool
	for _, st := range s.settings("can-die") {
		if st.value == "" {
			continue
		}
		if err := supervised(pf, st.where, st.value); err != nil {
			return nil, err
		}
		if canDie == nil {
			canDie = make(map[string]bool)
		}
		canDie[st.value] = true
	}
	return canDie, nil
}

// restarts reads --restart and --restart-policy: each type's mode. A type's
// own mode wins over all's; two modes for one type, or for all, are an
// error, and so is always for a type that pol lets exit 0.
func (s *Settings) restarts(pf *procfile.Procfile, pol supervisor.Policy) (map[string]supervisor.RestartMode, error) {
	mode := supervisor.OnFailure
	for _, st := range s.settings("restart-policy") {
		var err error
		if mode, err = restartMode(st.value); err != nil {
			return nil, inputf("%s: %s", st.where, err)
		}
	}
	restart := make(map[string]supervisor.RestartMode)
	given := make(map[string]setting) // where each type's mode comes from
	var all *setting
	allMode := mode
	for _, st := range s.settings("restart") {
		if st.value == "" {
			continue
		}
		name, m, hasMode := strings.Cut(st.value, ":")
		itemMode := mode
		if hasMode {
			var err error
			if itemMode, err = restartMode(m); err != nil {
				return nil, inputf("%s: %s", st.where, err)
			}
		}
		if name == "all" {
			if all != nil && allMode != itemMode {
				return nil, inputf("%s: contradicts %s", st.where, all.where)
			}
			all, allMode = &st, itemMode
			continue
		}
		if err := supervised(pf, st.where, name); err != nil {
			return nil, err
		}
		if prev, dup := given[name]; dup && restart[name] != itemMode {
			return nil, inputf("%s: contradicts %s", st.where, prev.where)
		}
		given[name], restart[name] = st, itemMode
	}
	for _, name := range pf.Names() {
		if _, ok := given[name]; all != nil && !ok && name != procfile.Release {
			given[name], restart[name] = *all, allMode
		}
	}
	if err := alwaysCanDie(pf, restart, given, pol); err != nil {
		return nil, err
	}
	if len(restart) == 0 {
		return nil, nil
	}
	return restart, nil
}

// alwaysCanDie reports a type restarted always that pol lets exit 0:
// always could never act on that exit.
func alwaysCanDie(pf *procfile.Procfile, restart map[string]supervisor.RestartMode, given map[string]setting, pol supervisor.Policy) error {
	for _, name := range pf.Names() {
		if restart[name] != supervisor.Always {
			continue
		}
		why := "--can-die"
		switch {
		case pol.AnyCanDie:
			why = "--any-can-die"
		case !pol.CanDie[name]:
			continue
		}
		return inputf("%s: %s may exit with status 0 (%s), and then always could not restart it; use on-failure",
			given[name].where, name, why)
	}
	return nil
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

// maxRestarts reads --max-restarts (-1, no limit, when not set). Without
// any restart, it and --restart-policy would silently do nothing: an error.
func (s *Settings) maxRestarts(restarts bool) (int, error) {
	n := -1
	for _, st := range s.settings("max-restarts") {
		v, err := strconv.Atoi(strings.TrimSpace(st.value))
		if err != nil || v < 0 {
			return 0, inputf("%s: must be a whole number from 0 up (without it, restarts never stop)", st.where)
		}
		n = v
	}
	if !restarts {
		for _, name := range []string{"max-restarts", "restart-policy"} {
			if st := s.settings(name); len(st) > 0 {
				return 0, inputf("%s: no process restarts (see --restart)", st[0].where)
			}
		}
	}
	return n, nil
}

// after reads --after: which types wait for which. Unknown names and
// cycles (procfile.CheckDeps) are errors naming the rule.
func (s *Settings) after(pf *procfile.Procfile) (map[string][]string, error) {
	var deps []procfile.Dep
	var wheres []string
	for _, st := range s.settings("after") {
		ds, err := procfile.ParseDeps(st.value)
		if err != nil {
			return nil, inputf("%s: %s", st.where, err)
		}
		for _, d := range ds {
			for _, name := range []string{d.Name, d.After} {
				if err := supervised(pf, st.where, name); err != nil {
					return nil, err
				}
			}
			deps = append(deps, d)
			wheres = append(wheres, st.where)
		}
	}
	if err := procfile.CheckDeps(pf, deps); err != nil {
		var de *procfile.DepError
		if errors.As(err, &de) {
			return nil, inputf("%s: %s", wheres[de.Index], de.Msg)
		}
		return nil, &InputError{err}
	}
	var after map[string][]string
	for _, d := range deps {
		if after == nil {
			after = make(map[string][]string)
		}
		if !slices.Contains(after[d.Name], d.After) {
			after[d.Name] = append(after[d.Name], d.After)
		}
	}
	return after, nil
}
