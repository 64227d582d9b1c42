package procfile

import (
	"reflect"
	"strings"
	"testing"
)

var formationTests = []struct {
	spec string
	want Formation
	err  string
}{
	{spec: "", want: Formation{Counts: map[string]int{}, All: 1}},
	{spec: "  ", want: Formation{Counts: map[string]int{}, All: 1}},
	{spec: "web=2", want: Formation{Counts: map[string]int{"web": 2}}},
	{spec: "web=2,worker=0,all=3", want: Formation{Counts: map[string]int{"web": 2, "worker": 0}, All: 3}},
	{spec: "all=2", want: Formation{Counts: map[string]int{}, All: 2}},
	{spec: "web=2, worker=1", want: Formation{Counts: map[string]int{"web": 2, "worker": 1}}},
	{spec: " web = 2 ,\tworker=1 ", want: Formation{Counts: map[string]int{"web": 2, "worker": 1}}},
	{spec: "web=007", want: Formation{Counts: map[string]int{"web": 7}}},
	{spec: "Web_1-x=1", want: Formation{Counts: map[string]int{"Web_1-x": 1}}},

	{spec: "web=x", err: `count "x" is not a whole number`},
	{spec: "web=1.5", err: `count "1.5" is not a whole number`},
	{spec: "web=+2", err: `count "+2" is not a whole number`},
	{spec: "web=-", err: `count "-" is not a whole number`},
	{spec: "web=-1", err: `count "-1" is negative`},
	{spec: "web=", err: `no count for "web"`},
	{spec: "web=99999999999999999999", err: `count "99999999999999999999" is too large`},
	{spec: "=2", err: "empty process name"},
	{spec: "we b=2", err: `process name "we b" must match [A-Za-z0-9_-]+`},
	{spec: "web.1=2", err: `process name "web.1" must match [A-Za-z0-9_-]+`},
	{spec: "web", err: `expected NAME=COUNT, got "web"`},
	{spec: "web=2,", err: `empty item in "web=2,"`},
	{spec: "web=2,,worker=1", err: `empty item in "web=2,,worker=1"`},
	{spec: "web=2,web=3", err: `"web" given twice`},
	{spec: "all=1, all=2", err: `"all" given twice`},
}

func TestParseFormation(t *testing.T) {
	for _, tt := range formationTests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseFormation(tt.spec)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v, want nil", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCount(t *testing.T) {
	f := Formation{Counts: map[string]int{"web": 2, "worker": 0}, All: 3}
	for name, want := range map[string]int{"web": 2, "worker": 0, "clock": 3} {
		if got := f.Count(name); got != want {
			t.Errorf("Count(%q) = %d, want %d", name, got, want)
		}
	}
	if got := (Formation{}).Count("web"); got != 0 {
		t.Errorf("zero Formation Count = %d, want 0", got)
	}
}

func TestSelect(t *testing.T) {
	base := Formation{Counts: map[string]int{"web": 2, "worker": 0}, All: 3}
	tests := []struct {
		name string
		f    Formation
		args []string
		want Formation
		err  string
	}{
		{name: "no args keeps the formation", f: base, args: nil, want: base},
		{name: "bare name defaults to 1", f: Formation{All: 1}, args: []string{"worker"}, want: Formation{Counts: map[string]int{"worker": 1}}},
		{name: "bare name ignores All", f: base, args: []string{"clock"}, want: Formation{Counts: map[string]int{"clock": 1}}},
		{name: "bare name takes -m count", f: base, args: []string{"web"}, want: Formation{Counts: map[string]int{"web": 2}}},
		{name: "NAME=N wins over -m", f: base, args: []string{"web=4", "worker"}, want: Formation{Counts: map[string]int{"web": 4, "worker": 0}}},
		{name: "NAME=0", f: base, args: []string{"web=0"}, want: Formation{Counts: map[string]int{"web": 0}}},
		{name: "unknown names pass through", f: base, args: []string{"wbe"}, want: Formation{Counts: map[string]int{"wbe": 1}}},
		{name: "bad count", f: base, args: []string{"web=x"}, err: `count "x" is not a whole number`},
		{name: "negative count", f: base, args: []string{"web=-1"}, err: `count "-1" is negative`},
		{name: "missing count", f: base, args: []string{"web="}, err: `no count for "web"`},
		{name: "empty name", f: base, args: []string{"=2"}, err: "empty process name"},
		{name: "empty arg", f: base, args: []string{""}, err: "empty process name"},
		{name: "bad name", f: base, args: []string{"web.1"}, err: `process name "web.1" must match [A-Za-z0-9_-]+`},
		{name: "twice", f: base, args: []string{"web", "web=2"}, err: `"web" given twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.f.Select(tt.args)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v, want nil", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// instance is a compact want: label and port.
type instance struct {
	label string
	port  int
}

func TestInstances(t *testing.T) {
	p, err := Parse(strings.NewReader("web: ./web\nworker: ./work\nclock: ./clock\n"), "Procfile")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		spec string   // -m
		args []string // start NAME ...
		base int
		want []instance
		err  string
	}{
		{name: "default", base: 5000, want: []instance{{"web.1", 5000}, {"worker.1", 5100}, {"clock.1", 5200}}},
		{
			name: "counts", spec: "web=2,worker=3,clock=0", base: 5000,
			want: []instance{{"web.1", 5000}, {"web.2", 5001}, {"worker.1", 5100}, {"worker.2", 5101}, {"worker.3", 5102}},
		},
		{name: "all", spec: "all=2,clock=0", base: 3000, want: []instance{{"web.1", 3000}, {"web.2", 3001}, {"worker.1", 3100}, {"worker.2", 3101}}},
		{name: "type not listed gets 0", spec: "worker=1", base: 5000, want: []instance{{"worker.1", 5100}}},
		{name: "start worker keeps its port", args: []string{"worker"}, base: 5000, want: []instance{{"worker.1", 5100}}},
		{name: "start clock=2 web", args: []string{"clock=2", "web"}, base: 5000, want: []instance{{"web.1", 5000}, {"clock.1", 5200}, {"clock.2", 5201}}},
		{name: "all zero", spec: "all=0", base: 5000, want: []instance{}},
		{name: "lowest port", spec: "web=1,all=0", base: 1, want: []instance{{"web.1", 1}}},
		{name: "highest port", spec: "clock=1,all=0", base: 65335, want: []instance{{"clock.1", 65535}}},

		{name: "unknown in -m", spec: "wbe=2", base: 5000, err: `unknown process type "wbe" (Procfile has web, worker, clock)`},
		{name: "unknown in start", args: []string{"web", "wrk"}, base: 5000, err: `unknown process type "wrk" (Procfile has web, worker, clock)`},
		{name: "unknown names reported in order", spec: "zz=1,aa=1", base: 5000, err: `unknown process type "aa" (Procfile has web, worker, clock)`},
		{name: "base too high", base: 70000, err: "port 70000 for web.1 is outside 1-65535"},
		{name: "base zero", base: 0, err: "port 0 for web.1 is outside 1-65535"},
		{name: "base negative", base: -5, err: "port -5 for web.1 is outside 1-65535"},
		{name: "later type too high", base: 65450, err: "port 65550 for worker.1 is outside 1-65535"},
		{name: "later copy too high", spec: "web=3,all=0", base: 65534, err: "port 65536 for web.3 is outside 1-65535"},
		{name: "huge count", spec: "web=9223372036854775807", base: 5000, err: "port 65536 for web.60537 is outside 1-65535"},
		{name: "huge base", base: 1<<63 - 1, err: "port 9223372036854775807 for web.1 is outside 1-65535"},
		{name: "type with count 0 is not checked", spec: "web=1,all=0", base: 65400, want: []instance{{"web.1", 65400}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFormation(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if f, err = f.Select(tt.args); err != nil {
				t.Fatal(err)
			}
			got, err := Instances(p, f, tt.base)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v, want nil", err)
			}
			have := []instance{}
			for _, in := range got {
				have = append(have, instance{in.Label(), in.Port})
				e, _ := p.Lookup(in.Name)
				if in.Command != e.Command || in.Position != posOf(p, in.Name) {
					t.Errorf("%s: Command %q Position %d, want %q %d", in.Label(), in.Command, in.Position, e.Command, posOf(p, in.Name))
				}
			}
			if !reflect.DeepEqual(have, tt.want) {
				t.Errorf("got %v, want %v", have, tt.want)
			}
		})
	}
}

func posOf(p *Procfile, name string) int {
	for i, n := range p.Names() {
		if n == name {
			return i
		}
	}
	return -1
}

func TestLabelAndWidth(t *testing.T) {
	if got := (Instance{Name: "web", Num: 12}).Label(); got != "web.12" {
		t.Errorf("Label() = %q, want %q", got, "web.12")
	}
	tests := []struct {
		in   []Instance
		want int
	}{
		{nil, 6},
		{[]Instance{{Name: "web", Num: 1}}, 6},
		{[]Instance{{Name: "web", Num: 1}, {Name: "worker", Num: 10}}, 9},
	}
	for _, tt := range tests {
		if got := Width(tt.in); got != tt.want {
			t.Errorf("Width(%v) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
