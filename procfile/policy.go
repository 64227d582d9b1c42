package procfile

import (
	"fmt"
	"strings"
)

// A Dep is one start-order rule: process type Name starts only once every
// instance of type After is ready (procman start --after Name=After).
type Dep struct {
	Name  string
	After string
}

// ParseDeps parses a start order such as "worker=web,clock=web" (the value
// of --after): items NAME=AFTER separated by commas, spaces around items and
// names tolerated. A type that waits for several others is given once for
// each ("worker=web,worker=db"). Empty items are skipped, so "" means no
// rule. An item without '=' and a malformed name are errors; messages do not
// name the flag: the caller adds it.
func ParseDeps(spec string) ([]Dep, error) {
	var deps []Dep
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, after, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("expected NAME=AFTER, got %q", item)
		}
		name, after = strings.TrimSpace(name), strings.TrimSpace(after)
		for _, n := range []string{name, after} {
			if !validName(n) {
				return nil, badName(n)
			}
		}
		deps = append(deps, Dep{Name: name, After: after})
	}
	return deps, nil
}

// A DepError says which rule of a start order is wrong: Index is its
// position in the slice given to CheckDeps.
type DepError struct {
	Index int
	Msg   string
}

// Error implements error.
func (e *DepError) Error() string { return e.Msg }

// CheckDeps reports the first wrong rule of a start order as a *DepError:
// a name p does not define (`unknown process type "wrk" (Procfile has web,
// worker)`), or a cycle, which could never start (`worker waits for web,
// web waits for worker`; a type that waits for itself reads `web waits for
// itself`). For a cycle, Index is the latest rule in deps that closes it.
// The same rule given twice is no error. Cycles are searched from the types
// in Procfile order, so the message does not change from run to run.
func CheckDeps(p *Procfile, deps []Dep) error {
	after := make(map[string][]string)
	index := make(map[Dep]int) // the latest position of each rule
	for i, d := range deps {
		for _, n := range []string{d.Name, d.After} {
			if _, ok := p.Lookup(n); !ok {
				return &DepError{Index: i, Msg: fmt.Sprintf("unknown process type %q (%s has %s)",
					n, p.Path, strings.Join(p.Names(), ", "))}
			}
		}
		if _, dup := index[d]; !dup {
			after[d.Name] = append(after[d.Name], d.After)
		}
		index[d] = i
	}

	// Depth-first search; a type found again while it is on the path
	// closes a cycle.
	const (
		unseen = iota
		onPath
		done
	)
	state := make(map[string]int)
	var path []string
	var cycle []string
	var visit func(name string) bool
	visit = func(name string) bool {
		state[name] = onPath
		path = append(path, name)
		for _, next := range after[name] {
			switch state[next] {
			case onPath:
				for i, n := range path {
					if n == next {
						cycle = append(append([]string(nil), path[i:]...), next)
						break
					}
				}
				return true
			case unseen:
				if visit(next) {
					return true
				}
			}
		}
		path = path[:len(path)-1]
		state[name] = done
		return false
	}
	for _, name := range p.Names() {
		if state[name] == unseen && visit(name) {
			break
		}
	}
	if cycle == nil {
		return nil
	}

	last := -1
	var parts []string
	for i := 0; i+1 < len(cycle); i++ {
		d := Dep{Name: cycle[i], After: cycle[i+1]}
		last = max(last, index[d])
		if d.Name == d.After {
			parts = append(parts, d.Name+" waits for itself")
		} else {
			parts = append(parts, d.Name+" waits for "+d.After)
		}
	}
	return &DepError{Index: last, Msg: strings.Join(parts, ", ")}
}
