package procfile

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

var depsTests = []struct {
	spec string
	want []Dep
	err  string
}{
	{spec: "", want: nil},
	{spec: " , ", want: nil},
	{spec: "worker=web", want: []Dep{{"worker", "web"}}},
	{spec: "worker=web,clock=web", want: []Dep{{"worker", "web"}, {"clock", "web"}}},
	{spec: " worker = web ,\tclock=web ", want: []Dep{{"worker", "web"}, {"clock", "web"}}},
	{spec: "worker=web,worker=db", want: []Dep{{"worker", "web"}, {"worker", "db"}}},
	{spec: "worker=web,", want: []Dep{{"worker", "web"}}},
	{spec: "a_1-b=C", want: []Dep{{"a_1-b", "C"}}},

	{spec: "worker", err: `expected NAME=AFTER, got "worker"`},
	{spec: "worker:web", err: `expected NAME=AFTER, got "worker:web"`},
	{spec: "=web", err: "empty process name"},
	{spec: "worker=", err: "empty process name"},
	{spec: "worker=web=db", err: `process name "web=db" must match [A-Za-z0-9_-]+`},
	{spec: "web.1=db", err: `process name "web.1" must match [A-Za-z0-9_-]+`},
	{spec: "worker=web db", err: `process name "web db" must match [A-Za-z0-9_-]+`},
}

func TestParseDeps(t *testing.T) {
	for _, tt := range depsTests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseDeps(tt.spec)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("ParseDeps(%q) error = %v, want %q", tt.spec, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDeps(%q): %v", tt.spec, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseDeps(%q) = %v, want %v", tt.spec, got, tt.want)
			}
		})
	}
}

const depsProcfile = "web: a\nworker: b\nclock: c\ndb: d\n"

var checkDepsTests = []struct {
	name  string
	deps  string
	index int // of the rule blamed; -1 for no error
	err   string
}{
	{name: "none", deps: "", index: -1},
	{name: "chain", deps: "worker=web,web=db,clock=worker", index: -1},
	{name: "diamond", deps: "worker=web,clock=web,worker=db,clock=db,web=db", index: -1},
	{name: "repeated rule", deps: "worker=web,worker=web", index: -1},
	{name: "unknown name", deps: "worker=web,wrk=web", index: 1,
		err: `unknown process type "wrk" (Procfile has web, worker, clock, db)`},
	{name: "unknown after", deps: "worker=wbe", index: 0,
		err: `unknown process type "wbe" (Procfile has web, worker, clock, db)`},
	{name: "itself", deps: "worker=web,web=web", index: 1, err: "web waits for itself"},
	{name: "two", deps: "worker=web,web=worker", index: 1, err: "web waits for worker, worker waits for web"},
	{name: "two reversed", deps: "web=worker,worker=web", index: 1, err: "web waits for worker, worker waits for web"},
	{name: "three", deps: "web=db,db=clock,clock=web,worker=web", index: 2,
		err: "web waits for db, db waits for clock, clock waits for web"},
	{name: "cycle below a root", deps: "web=worker,worker=clock,clock=worker", index: 2,
		err: "worker waits for clock, clock waits for worker"},
	{name: "repeated rule blamed at its last place", deps: "web=worker,worker=web,web=worker", index: 2,
		err: "web waits for worker, worker waits for web"},
}

func TestCheckDeps(t *testing.T) {
	p, err := Parse(strings.NewReader(depsProcfile), "Procfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range checkDepsTests {
		t.Run(tt.name, func(t *testing.T) {
			deps, err := ParseDeps(tt.deps)
			if err != nil {
				t.Fatal(err)
			}
			err = CheckDeps(p, deps)
			if tt.index < 0 {
				if err != nil {
					t.Fatalf("CheckDeps(%q) = %v, want nil", tt.deps, err)
				}
				return
			}
			var de *DepError
			if !errors.As(err, &de) {
				t.Fatalf("CheckDeps(%q) = %v (%T), want *DepError", tt.deps, err, err)
			}
			if de.Index != tt.index || de.Error() != tt.err {
				t.Errorf("CheckDeps(%q) = rule %d: %q, want rule %d: %q", tt.deps, de.Index, de.Error(), tt.index, tt.err)
			}
		})
	}
}

func FuzzParseDeps(f *testing.F) {
	for _, tt := range depsTests {
		f.Add(tt.spec)
	}
	for _, tt := range checkDepsTests {
		f.Add(tt.deps)
	}
	p, err := Parse(strings.NewReader(depsProcfile), "Procfile")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		deps, err := ParseDeps(spec)
		if err != nil {
			return
		}
		for _, d := range deps {
			if !validName(d.Name) || !validName(d.After) {
				t.Fatalf("invalid names in %v", d)
			}
		}
		err = CheckDeps(p, deps)
		if err == nil {
			return
		}
		var de *DepError
		if !errors.As(err, &de) {
			t.Fatalf("CheckDeps = %v (%T), want *DepError", err, err)
		}
		if de.Index < 0 || de.Index >= len(deps) {
			t.Fatalf("rule %d of %d blamed", de.Index, len(deps))
		}
		if strings.Contains(de.Msg, "waits for") {
			// The blamed rule is part of the cycle the message names.
			d := deps[de.Index]
			if !strings.Contains(de.Msg, d.Name+" waits for "+d.After) &&
				!(d.Name == d.After && strings.Contains(de.Msg, d.Name+" waits for itself")) {
				t.Fatalf("rule %v blamed for %q", d, de.Msg)
			}
		}
	})
}
