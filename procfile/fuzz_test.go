package procfile

import (
	"errors"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, tt := range parseTests {
		if len(tt.in) < 4096 { // a 1 MiB seed would slow every fuzz run
			f.Add(tt.in)
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := Parse(strings.NewReader(in), "Procfile")
		lines := strings.Count(in, "\n") + 1
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want *ParseError", err, err)
			}
			if pe.Line < 0 || pe.Line > lines {
				t.Fatalf("error line %d outside the file's %d lines: %v", pe.Line, lines, err)
			}
			return
		}
		if len(p.Entries) == 0 {
			t.Fatal("success with no entries")
		}
		seen := make(map[string]bool)
		last := 0
		for _, e := range p.Entries {
			if !validName(e.Name) {
				t.Fatalf("invalid name %q", e.Name)
			}
			if seen[e.Name] {
				t.Fatalf("duplicate name %q", e.Name)
			}
			seen[e.Name] = true
			if strings.TrimSpace(e.Command) == "" {
				t.Fatalf("%s: empty command", e.Name)
			}
			if strings.ContainsAny(e.Command, "\n\x00") {
				t.Fatalf("%s: command %q holds a newline or NUL", e.Name, e.Command)
			}
			if e.Line <= last || e.Line > lines {
				t.Fatalf("%s: line %d after %d, file has %d", e.Name, e.Line, last, lines)
			}
			last = e.Line
		}
		for _, l := range p.Continued {
			if !hasEntryAt(p, l) {
				t.Fatalf("Continued line %d is no entry's line", l)
			}
		}
	})
}

func hasEntryAt(p *Procfile, line int) bool {
	for _, e := range p.Entries {
		if e.Line == line {
			return true
		}
	}
	return false
}

func FuzzParseFormation(f *testing.F) {
	for _, tt := range formationTests {
		f.Add(tt.spec, "web worker=2")
	}
	f.Add("all=0", "web=x")
	f.Add("web=2", "clock=65535")
	f.Add("", "")
	p, err := Parse(strings.NewReader("web: a\nworker: b\nclock: c\n"), "Procfile")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, spec, args string) {
		fm, err := ParseFormation(spec)
		if err != nil {
			return
		}
		// allowAll: "all" is All in a spec, but an ordinary name for Select.
		check := func(fm Formation, allowAll bool) {
			t.Helper()
			if fm.All < 0 {
				t.Fatalf("All = %d", fm.All)
			}
			for name, n := range fm.Counts {
				if !validName(name) || name == "all" && !allowAll {
					t.Fatalf("bad name %q in %+v", name, fm)
				}
				if n < 0 {
					t.Fatalf("count %d for %q", n, name)
				}
			}
		}
		check(fm, false)
		sel, err := fm.Select(strings.Fields(args))
		if err != nil {
			return
		}
		check(sel, true)
		// A huge valid count must be refused by the port check, not
		// turned into a huge allocation.
		ins, err := Instances(p, sel, 5000)
		if err != nil {
			return
		}
		for _, in := range ins {
			if in.Port < 1 || in.Port > maxPort {
				t.Fatalf("%s: port %d", in.Label(), in.Port)
			}
		}
	})
}
