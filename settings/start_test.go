package settings

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/procman/procman/logmux"
	"github.com/procman/procman/supervisor"
)

// start's output and stopping flags: defaults, values, and errors in the
// order a user meets them.
func TestStartOptions(t *testing.T) {
	type options struct {
		grace      time.Duration
		timestamps bool
		color, pty Choice
		json       bool
		layout     string
		quiet      []string
		ptyFor     map[string]bool
	}
	def := options{grace: 5 * time.Second, timestamps: true, layout: logmux.DefaultTimeLayout}
	with := func(f func(*options)) options { o := def; f(&o); return o }
	tests := []struct {
		name  string
		flags Flags
		file  string // .procman
		want  options
		err   string
	}{
		{name: "defaults", want: def},
		{name: "unset values are ignored", flags: Flags{Timeout: unsetTimeout(), Timestamp: Bool{Value: false}, PTY: String{Value: "never"}},
			want: def},
		{name: "timeout", flags: Flags{Timeout: str("0.5")}, want: with(func(o *options) { o.grace = 500 * time.Millisecond })},
		{name: "no-timestamp", flags: Flags{NoTimestamp: switched(true)}, want: with(func(o *options) { o.timestamps = false })},
		{name: "timestamp=false", flags: Flags{Timestamp: switched(false)}, want: with(func(o *options) { o.timestamps = false })},
		{name: "timestamp=false no-timestamp", flags: Flags{Timestamp: switched(false), NoTimestamp: switched(true)},
			want: with(func(o *options) { o.timestamps = false })},
		{name: "color", flags: Flags{Color: switched(true)}, want: with(func(o *options) { o.color = On })},
		{name: "no-color", flags: Flags{NoColor: switched(true)}, want: with(func(o *options) { o.color = Off })},
		{name: "color=false", flags: Flags{Color: switched(false)}, want: with(func(o *options) { o.color = Off })},
		{name: "pty always", flags: Flags{PTY: str("always")}, want: with(func(o *options) { o.pty = On })},
		{name: "pty never", flags: Flags{PTY: str("never")}, want: with(func(o *options) { o.pty = Off })},
		{name: "pty types", flags: Flags{PTY: str("web")}, want: with(func(o *options) { o.pty, o.ptyFor = Off, map[string]bool{"web": true} })},
		{name: "pty types from the file", file: "pty: web\n", want: with(func(o *options) { o.pty, o.ptyFor = Off, map[string]bool{"web": true} })},
		{name: "json", flags: Flags{LogFormat: str("json")}, want: with(func(o *options) { o.json = true })},
		{name: "rfc3339", flags: Flags{TimeFormat: str("rfc3339")}, want: with(func(o *options) { o.layout = logmux.RFC3339Milli })},
		{name: "quiet", flags: Flags{Quiet: list("web", "", " worker ")}, want: with(func(o *options) { o.quiet = []string{"web", "worker"} })},
		{name: "from the file", file: "timeout: 1\ntimestamp: false\ncolor: true\npty: always\nlog-format: json\nquiet: web\n",
			want: options{grace: time.Second, color: On, pty: On, json: true, layout: logmux.DefaultTimeLayout, quiet: []string{"web"}}},

		{name: "bad timeout", flags: Flags{Timeout: str("soon"), PTY: str("sometimes")}, err: `-t "soon": timeout must be a number of seconds`},
		{name: "bad timeout from the file names the flag", file: "timeout: -1\n", err: `-t "-1": timeout must not be negative`},
		{name: "timestamps contradict", flags: Flags{Timestamp: switched(true), NoTimestamp: switched(true)},
			err: "--timestamp and --no-timestamp contradict each other"},
		{name: "timestamps contradict in the file", file: "timestamp: true\nno-timestamp: true\n",
			err: "--timestamp and --no-timestamp contradict each other"},
		{name: "colors contradict", flags: Flags{Color: switched(true), NoColor: switched(true)},
			err: "--color and --no-color contradict each other"},
		{name: "pty", flags: Flags{PTY: str("sometimes")}, err: `--pty "sometimes": must be auto, always, never or a process type (Procfile has web, worker)`},
		{name: "pty types", flags: Flags{PTY: str("web,nope")}, err: `--pty "web,nope": unknown process type "nope" (Procfile has web, worker)`},
		{name: "pty empty type", flags: Flags{PTY: str("web,")}, err: `--pty "web,": must be auto, always, never or process types (web,worker)`},
		{name: "log-format", flags: Flags{LogFormat: str("xml")}, err: `--log-format "xml": must be text or json`},
		{name: "time-format", flags: Flags{TimeFormat: str("iso")}, err: `--time-format "iso": must be clock or rfc3339`},
		{name: "timeout before the Procfile", flags: Flags{Timeout: str("x"), Procfile: str("nope")},
			err: `-t "x": timeout must be a number of seconds`},
		{name: "the Procfile", flags: Flags{Procfile: str("nope"), Quiet: list("x")}, err: "nope: no such file or directory"},
		{name: "unknown quiet", flags: Flags{Quiet: list("web", "nope")},
			err: `--quiet "nope": unknown process type (Procfile has web, worker)`},
		{name: "unknown attach", flags: Flags{Attach: str("nope")},
			err: `--attach "nope": unknown process type (Procfile has web, worker)`},
		{name: "empty attach", flags: Flags{Attach: str("")}, err: `--attach "": unknown process type (Procfile has web, worker)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"Procfile": "web: serve\nworker: work\n"}
			if tt.file != "" {
				files[".procman"] = tt.file
			}
			inDir(t, files)
			s, err := Load(tt.flags)
			if err != nil {
				t.Fatal(err)
			}
			st, err := s.Start(noEnv(), nil)
			checkErr(t, err, tt.err)
			if err != nil {
				return
			}
			have := options{st.Config.Grace, st.Output.Timestamps, st.Color, st.PTY,
				st.Output.JSON, st.Output.TimeLayout, st.Output.Quiet, st.Config.PTYFor}
			if !reflect.DeepEqual(have, tt.want) {
				t.Errorf("have %+v\nwant %+v", have, tt.want)
			}
		})
	}
}

// The release entry runs first, apart from the other processes, unless
// it is all that runs.
func TestStartRelease(t *testing.T) {
	tests := []struct {
		name    string
		flags   Flags
		args    []string
		labels  []string
		release string // its label, "" for none
		canDie  []string
		width   int
		err     string
	}{
		{name: "release first", labels: []string{"web.1", "worker.1", "css.1"}, release: "release.1", width: 9},
		{name: "no release", flags: Flags{NoRelease: switched(true)}, labels: []string{"web.1", "worker.1", "css.1"}, width: 8},
		{name: "selection still releases", args: []string{"web"}, labels: []string{"web.1"}, release: "release.1", width: 9},
		{name: "once, whatever -m says", flags: Flags{Formation: str("all=2")},
			labels: []string{"web.1", "web.2", "worker.1", "worker.2", "css.1", "css.2"}, release: "release.1", width: 9},
		{name: "release=0 does not skip it", flags: Flags{Formation: str("release=0,all=1")},
			labels: []string{"web.1", "worker.1", "css.1"}, release: "release.1", width: 9},
		{name: "release alone", args: []string{"release"}, labels: []string{"release.1"}, canDie: []string{"release"}, width: 9},
		{name: "release alone skipped", flags: Flags{NoRelease: switched(true)}, args: []string{"release"},
			err: "nothing to start: release runs only as the release phase, which --no-release skips"},
		{name: "policy errors after ports", flags: Flags{CanDie: list("nope"), Port: str("65500")},
			err: `-p "65500": port 65600 for web.1 is outside 1-65535`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inDir(t, map[string]string{"Procfile": policyProcfile})
			tt.flags.Port = or(tt.flags.Port, str("6000"))
			s, err := Load(tt.flags)
			if err != nil {
				t.Fatal(err)
			}
			st, err := s.Start([]string{"A=1", "PORT=1", "PS=x"}, tt.args)
			checkErr(t, err, tt.err)
			if err != nil {
				return
			}
			var labels []string
			for _, p := range st.Config.Processes {
				labels = append(labels, p.Label)
			}
			if !slices.Equal(labels, tt.labels) {
				t.Errorf("processes %q, want %q", labels, tt.labels)
			}
			if st.Output.Width != tt.width {
				t.Errorf("width %d, want %d", st.Output.Width, tt.width)
			}
			var canDie []string
			for name := range st.Config.Policy.CanDie {
				canDie = append(canDie, name)
			}
			if !slices.Equal(canDie, tt.canDie) {
				t.Errorf("can-die %q, want %q", canDie, tt.canDie)
			}
			var want *supervisor.Process
			if tt.release != "" {
				want = &supervisor.Process{Name: "release", Label: tt.release, Command: "migrate",
					Env: []string{"A=1", "PORT=6000", "PS=release.1"}}
			}
			if !reflect.DeepEqual(st.Config.Release, want) {
				t.Errorf("release %+v, want %+v", st.Config.Release, want)
			}
		})
	}
}

func or(s, def String) String {
	if s.Set {
		return s
	}
	return def
}

// Each process gets the real environment, the env files' other variables,
// its PORT and PS; procman scale makes more by the same rule.
func TestStartProcesses(t *testing.T) {
	dir := inDir(t, map[string]string{
		"Procfile": "release: migrate\nweb: serve\nworker: work\n",
		".env":     "A=file\nB=file\nPS=file\n",
		".procman": "attach: worker\n",
	})
	s, err := Load(Flags{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Start([]string{"A=real", "PORT=7000"}, []string{"web"})
	if err != nil {
		t.Fatal(err)
	}
	want := []supervisor.Process{{Name: "web", Label: "web.1", Command: "serve", Port: 7100,
		Env: []string{"A=real", "B=file", "PORT=7100", "PS=web.1"}}}
	if !reflect.DeepEqual(st.Config.Processes, want) {
		t.Errorf("processes %+v\nwant %+v", st.Config.Processes, want)
	}
	if st.Config.Dir != dir || st.Config.Attach != "worker" {
		t.Errorf("dir %q, attach %q; want %q, worker", st.Config.Dir, st.Config.Attach, dir)
	}
	p, err := st.Config.NewProcess("worker", 3)
	if err != nil {
		t.Fatal(err)
	}
	if p.Label != "worker.3" || p.Port != 7202 || !slices.Contains(p.Env, "PS=worker.3") || !slices.Contains(p.Env, "PORT=7202") {
		t.Errorf("scaled %+v", p)
	}
	for _, tt := range []struct {
		name string
		num  int
		err  string
	}{
		{"release", 1, "release is the release phase and cannot be scaled"},
		{"nope", 1, `unknown process type "nope" (Procfile has release, web, worker)`},
		{"web", 65000, "port 65536 for web.58437 is outside 1-65535"},
	} {
		if _, err := st.Config.NewProcess(tt.name, tt.num); err == nil || err.Error() != tt.err {
			t.Errorf("NewProcess(%s, %d): error %v, want %q", tt.name, tt.num, err, tt.err)
		}
	}
}

func TestChoice(t *testing.T) {
	for _, tt := range []struct {
		c          Choice
		auto, want bool
	}{{Auto, true, true}, {Auto, false, false}, {On, false, true}, {Off, true, false}} {
		if have := tt.c.Decide(tt.auto); have != tt.want {
			t.Errorf("%v.Decide(%v) = %v, want %v", tt.c, tt.auto, have, tt.want)
		}
	}
}
