package procfile

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

const maxPort = 65535

// A Formation says how many instances of each type to run. The zero
// Formation runs nothing; ParseFormation("") gives the default, one of each.
type Formation struct {
	Counts map[string]int // explicit per-type counts
	All    int            // count for types not in Counts; default 1
}

// ParseFormation parses a formation such as "web=2,worker=0,all=3" (the
// value of -m). Items are NAME=COUNT separated by commas, with spaces around
// items, names and counts tolerated ("web=2, worker=1"); the name "all" sets
// All, which is otherwise 0. The empty (or all-blank) spec means all=1.
// An item without '=', an empty or malformed name, a count that is not a
// whole number or is negative, and a name given twice are errors. Messages
// do not name the flag: the caller adds it.
func ParseFormation(spec string) (Formation, error) {
	f := Formation{Counts: make(map[string]int)}
	if strings.TrimSpace(spec) == "" {
		f.All = 1
		return f, nil
	}
	seen := make(map[string]bool)
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		name, count, ok := strings.Cut(item, "=")
		if !ok {
			if item == "" {
				return Formation{}, fmt.Errorf("empty item in %q", spec)
			}
			return Formation{}, fmt.Errorf("expected NAME=COUNT, got %q", item)
		}
		name = strings.TrimSpace(name)
		n, err := parseItem(name, strings.TrimSpace(count))
		if err != nil {
			return Formation{}, err
		}
		if seen[name] {
			return Formation{}, fmt.Errorf("%q given twice", name)
		}
		seen[name] = true
		if name == "all" {
			f.All = n
		} else {
			f.Counts[name] = n
		}
	}
	return f, nil
}

// Select applies `procman start NAME NAME=N ...`: only the named types run,
// each with its count from NAME=N, else from f.Counts, else 1. Other types,
// and All, get 0. No args means f unchanged. A malformed name or count, or a
// type named twice, is an error; names unknown to the Procfile are left for
// Instances to report.
func (f Formation) Select(args []string) (Formation, error) {
	if len(args) == 0 {
		return f, nil
	}
	sel := Formation{Counts: make(map[string]int, len(args))}
	for _, arg := range args {
		name, count, hasCount := strings.Cut(arg, "=")
		n := 1
		if hasCount {
			var err error
			if n, err = parseItem(name, count); err != nil {
				return Formation{}, err
			}
		} else {
			if !validName(name) {
				return Formation{}, badName(name)
			}
			if c, ok := f.Counts[name]; ok {
				n = c
			}
		}
		if _, dup := sel.Counts[name]; dup {
			return Formation{}, fmt.Errorf("%q given twice", name)
		}
		sel.Counts[name] = n
	}
	return sel, nil
}

// Count returns how many instances of the type called name run:
// f.Counts[name] if set, else f.All.
func (f Formation) Count(name string) int {
	if n, ok := f.Counts[name]; ok {
		return n
	}
	return f.All
}

func parseItem(name, count string) (int, error) {
	if !validName(name) {
		return 0, badName(name)
	}
	if count == "" {
		return 0, fmt.Errorf("no count for %q", name)
	}
	digits := strings.TrimPrefix(count, "-")
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, fmt.Errorf("count %q is not a whole number", count)
		}
	}
	if digits == "" {
		return 0, fmt.Errorf("count %q is not a whole number", count)
	}
	if digits != count {
		return 0, fmt.Errorf("count %q is negative", count)
	}
	n, err := strconv.Atoi(count)
	if err != nil {
		// Only overflow is left: the digits were checked above.
		return 0, fmt.Errorf("count %q is too large", count)
	}
	return n, nil
}

func badName(name string) error {
	if name == "" {
		return fmt.Errorf("empty process name")
	}
	return fmt.Errorf("process name %q must match [A-Za-z0-9_-]+", name)
}

// An Instance is one running copy of a process type.
type Instance struct {
	Name     string // "web"
	Num      int    // 1-based instance number
	Command  string
	Position int // index of the type in the Procfile, from 0
	Port     int // base + 100*Position + (Num-1)
}

// Label returns the instance's name in output and in $PS: "web.1".
func (i Instance) Label() string {
	return i.Name + "." + strconv.Itoa(i.Num)
}

// Instances returns one Instance per copy, in Procfile order and by number
// within a type; types with count 0 are omitted. Position counts over the
// whole Procfile, so a type's ports do not depend on which others run. A
// name in f.Counts that p does not define is an error
// (`unknown process type "wbe" (Procfile has web, worker)`, naming the
// Procfile by its Path), as is any port
// outside 1-65535 (`port 70000 for web.1 is outside 1-65535`); both are
// found before anything is allocated for the instances.
func Instances(p *Procfile, f Formation, basePort int) ([]Instance, error) {
	var unknown []string
	for name := range f.Counts {
		if _, ok := p.Lookup(name); !ok {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("unknown process type %q (%s has %s)",
			unknown[0], p.Path, strings.Join(p.Names(), ", "))
	}

	total := 0
	for pos, e := range p.Entries {
		n := f.Count(e.Name)
		if n <= 0 {
			continue
		}
		first := add(basePort, 100*pos)
		if first < 1 || first > maxPort {
			return nil, portError(first, e.Name, 1)
		}
		if n-1 > maxPort-first {
			// The first copy past maxPort, rather than the last copy,
			// whose port may not even fit in an int.
			num := maxPort - first + 2
			return nil, portError(maxPort+1, e.Name, num)
		}
		total += n
	}

	out := make([]Instance, 0, total)
	for pos, e := range p.Entries {
		for num := 1; num <= f.Count(e.Name); num++ {
			out = append(out, Instance{
				Name:     e.Name,
				Num:      num,
				Command:  e.Command,
				Position: pos,
				Port:     basePort + 100*pos + num - 1,
			})
		}
	}
	return out, nil
}

func portError(port int, name string, num int) error {
	return fmt.Errorf("port %d for %s.%d is outside 1-%d", port, name, num, maxPort)
}

// add saturates instead of wrapping, so that an absurd base port is still
// reported as out of range rather than wrapping into it.
func add(a, b int) int {
	if b > 0 && a > math.MaxInt-b {
		return math.MaxInt
	}
	return a + b
}

// Width returns the width of the label column for instances: the longest
// label, and at least 6 (the width of procman's own "system" label).
func Width(instances []Instance) int {
	w := len("system")
	for _, in := range instances {
		w = max(w, len(in.Label()))
	}
	return w
}
