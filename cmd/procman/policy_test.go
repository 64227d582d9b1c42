package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/procman/procman/procfile"
	"github.com/procman/procman/supervisor"
	"github.com/urfave/cli/v2"
)

var parseConfigTests = []struct {
	name string
	in   string
	want []configEntry
	err  string
}{
	{name: "empty", in: "", want: nil},
	{name: "comments and blanks", in: "# policies\n\n   # indented\n\t\n", want: nil},
	{name: "one", in: "can-die: css\n", want: []configEntry{{"can-die", "css", 1}}},
	{name: "spaces", in: "  after :  worker=web  \n", want: []configEntry{{"after", "worker=web", 1}}},
	{name: "no space after colon", in: "restart:worker", want: []configEntry{{"restart", "worker", 1}}},
	{name: "colon in value", in: "restart: worker:always\n", want: []configEntry{{"restart", "worker:always", 1}}},
	{name: "inline comment", in: "max-restarts: 5 # then give up\n", want: []configEntry{{"max-restarts", "5", 1}}},
	{name: "hash inside a word", in: "env: a#b\n", want: []configEntry{{"env", "a#b", 1}}},
	{name: "double quotes", in: `env: "a #b, c"` + "\n", want: []configEntry{{"env", "a #b, c", 1}}},
	{name: "single quotes and comment", in: "formation: 'web=2' # two\n", want: []configEntry{{"formation", "web=2", 1}}},
	{name: "lines counted", in: "# x\n\nno-release: true\r\nrestart: all\n",
		want: []configEntry{{"no-release", "true", 3}, {"restart", "all", 4}}},
	{name: "BOM and CRLF", in: "\uFEFFcan-die: css\r\n", want: []configEntry{{"can-die", "css", 1}}},
	{name: "repeated key kept", in: "after: a=b\nafter: c=b\n", want: []configEntry{{"after", "a=b", 1}, {"after", "c=b", 2}}},

	{name: "no colon", in: "\ncan-die css\n", err: `.procman:2: expected "key: value"`},
	{name: "yaml list", in: "env:\n  - a\n", err: ".procman:1: no value for env"},
	{name: "list item", in: "- a\n", err: `.procman:1: expected "key: value"`},
	{name: "empty key", in: ": x\n", err: `.procman:1: expected "key: value"`},
	{name: "flag dashes", in: "--can-die: css\n", want: []configEntry{{"--can-die", "css", 1}}},
	{name: "key with space", in: "can die: css\n", err: `.procman:1: expected "key: value"`},
	{name: "only a comment", in: "restart: # all\n", err: ".procman:1: no value for restart"},
	{name: "open quote", in: "env: \"a\n", err: `.procman:1: env: " not closed`},
	{name: "after quote", in: "env: 'a' b\n", err: `.procman:1: env: text after the closing '`},
	{name: "empty quotes", in: "env: ''\n", err: ".procman:1: no value for env"},
	{name: "lone CR", in: "env: a\rb\n", err: ".procman:1: env: value holds a control character"},
}

func TestParseConfig(t *testing.T) {
	for _, tt := range parseConfigTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfig(strings.NewReader(tt.in), ".procman")
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, tt := range parseConfigTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		entries, err := parseConfig(strings.NewReader(in), ".procman")
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, ".procman:") || strings.Contains(msg, "\n") {
				t.Fatalf("error %q does not name the file on one line", msg)
			}
			return
		}
		lines := strings.Count(in, "\n") + 1
		last := 0
		for _, e := range entries {
			if !validKey(e.Key) || e.Value == "" || strings.ContainsAny(e.Value, "\r\n") {
				t.Fatalf("bad entry %+v", e)
			}
			if e.Value != strings.TrimSpace(e.Value) && !strings.Contains(in, `"`+e.Value+`"`) && !strings.Contains(in, `'`+e.Value+`'`) {
				t.Fatalf("value %q keeps outer spaces without quotes", e.Value)
			}
			if e.Line <= last || e.Line > lines {
				t.Fatalf("line %d after %d in %d lines", e.Line, last, lines)
			}
			last = e.Line
		}
	})
}

const policyProcfile = "release: migrate\nweb: serve\nworker: work\ncss: watch\n"

// withPolicy runs the start command's flag parsing (with the policy flags,
// whether or not start.go lists them yet) in a directory holding files,
// and calls f with the context once loadConfig has applied .procman.
// Error messages are returned with the directory removed.
func withPolicy(t *testing.T, files map[string]string, args []string, f func(c *cli.Context, cf *configFile, pf *procfile.Procfile) error) error {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := startCommand()
	if !slices.ContainsFunc(cmd.Flags, func(fl cli.Flag) bool { return fl.Names()[0] == "can-die" }) {
		cmd.Flags = append(cmd.Flags, policyFlags()...)
	}
	cmd.Action = func(c *cli.Context) error {
		cf, err := loadConfig(c)
		if err != nil {
			return err
		}
		pf, err := procfile.ParseFile(filepath.Join(dir, "Procfile"))
		if err != nil {
			return err
		}
		return f(c, cf, pf)
	}
	app := &cli.App{
		Name: "procman", Writer: io.Discard, ErrWriter: io.Discard,
		Commands:       []*cli.Command{cmd},
		ExitErrHandler: func(*cli.Context, error) {},
	}
	err := app.Run(append([]string{"procman", "start", "-f", filepath.Join(dir, "Procfile")}, args...))
	if err != nil {
		return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), dir+"/", ""))
	}
	return nil
}

type policyWant struct {
	canDie  []string
	any     bool
	restart map[string]supervisor.RestartMode
	max     int
	after   map[string][]string
	release bool
}

func (w policyWant) policy() supervisor.Policy {
	p := supervisor.Policy{AnyCanDie: w.any, Restart: w.restart, MaxRestarts: w.max, After: w.after}
	for _, name := range w.canDie {
		if p.CanDie == nil {
			p.CanDie = make(map[string]bool)
		}
		p.CanDie[name] = true
	}
	return p
}

var (
	onFailure = supervisor.OnFailure
	always    = supervisor.Always
)

var readPolicyTests = []struct {
	name   string
	args   []string
	config string // .procman
	want   policyWant
	err    string
}{
	{name: "defaults", want: policyWant{max: -1, release: true}},
	{name: "no-release", args: []string{"--no-release"}, want: policyWant{max: -1}},
	{name: "can-die", args: []string{"--can-die", "css", "--can-die", "worker,web"},
		want: policyWant{canDie: []string{"css", "worker", "web"}, max: -1, release: true}},
	{name: "can-die empty items skipped", args: []string{"--can-die", "css,,"},
		want: policyWant{canDie: []string{"css"}, max: -1, release: true}},
	{name: "any-can-die", args: []string{"--any-can-die"}, want: policyWant{any: true, max: -1, release: true}},
	{name: "restart", args: []string{"--restart", "worker"},
		want: policyWant{restart: map[string]supervisor.RestartMode{"worker": onFailure}, max: -1, release: true}},
	{name: "restart with policy", args: []string{"--restart", "worker,css", "--restart-policy", "always"},
		want: policyWant{restart: map[string]supervisor.RestartMode{"worker": always, "css": always}, max: -1, release: true}},
	{name: "restart modes per name", args: []string{"--restart", "worker:always,web", "--restart", "css:on-failure"},
		want: policyWant{restart: map[string]supervisor.RestartMode{"worker": always, "web": onFailure, "css": onFailure}, max: -1, release: true}},
	{name: "restart all, release excluded", args: []string{"--restart", "all"},
		want: policyWant{restart: map[string]supervisor.RestartMode{"web": onFailure, "worker": onFailure, "css": onFailure}, max: -1, release: true}},
	{name: "restart all with an exception", args: []string{"--restart", "worker:always,all"},
		want: policyWant{restart: map[string]supervisor.RestartMode{"web": onFailure, "worker": always, "css": onFailure}, max: -1, release: true}},
	{name: "restart same twice", args: []string{"--restart", "web", "--restart", "web:on-failure"},
		want: policyWant{restart: map[string]supervisor.RestartMode{"web": onFailure}, max: -1, release: true}},
	{name: "can-die and restart on-failure", args: []string{"--can-die", "css", "--restart", "css"},
		want: policyWant{canDie: []string{"css"}, restart: map[string]supervisor.RestartMode{"css": onFailure}, max: -1, release: true}},
	{name: "max-restarts", args: []string{"--restart", "web", "--max-restarts", "3"},
		want: policyWant{restart: map[string]supervisor.RestartMode{"web": onFailure}, max: 3, release: true}},
	{name: "max-restarts 0", args: []string{"--restart", "web", "--max-restarts=0"},
		want: policyWant{restart: map[string]supervisor.RestartMode{"web": onFailure}, max: 0, release: true}},
	{name: "after", args: []string{"--after", "worker=web,css=web", "--after", "worker=css"},
		want: policyWant{after: map[string][]string{"worker": {"web", "css"}, "css": {"web"}}, max: -1, release: true}},
	{name: "after repeated rule", args: []string{"--after", "worker=web,worker=web"},
		want: policyWant{after: map[string][]string{"worker": {"web"}}, max: -1, release: true}},

	{name: "config file", config: "# team policies\nno-release: true\ncan-die: css\nrestart: worker:always\nmax-restarts: 5\nafter: worker=web\nafter: css=web\n",
		want: policyWant{canDie: []string{"css"}, restart: map[string]supervisor.RestartMode{"worker": always}, max: 5,
			after: map[string][]string{"worker": {"web"}, "css": {"web"}}}},
	{name: "flags win over the file", config: "can-die: css\nafter: worker=web\nrestart-policy: always\nrestart: worker\nno-release: true\n",
		args: []string{"--can-die", "web", "--after", "css=web", "--restart-policy", "on-failure", "--no-release=false"},
		want: policyWant{canDie: []string{"web"}, restart: map[string]supervisor.RestartMode{"worker": onFailure}, max: -1,
			after: map[string][]string{"css": {"web"}}, release: true}},

	{name: "unknown can-die", args: []string{"--can-die", "css,wrk"},
		err: `--can-die "wrk": unknown process type "wrk" (Procfile has release, web, worker, css)`},
	{name: "can-die release", args: []string{"--can-die", "release"},
		err: `--can-die "release": release is the release phase, run once before the other processes start, not a process type to supervise`},
	{name: "unknown restart", args: []string{"--restart", "wbe"},
		err: `--restart "wbe": unknown process type "wbe" (Procfile has release, web, worker, css)`},
	{name: "unknown restart with mode", args: []string{"--restart", "wbe:always"},
		err: `--restart "wbe:always": unknown process type "wbe" (Procfile has release, web, worker, css)`},
	{name: "restart release", args: []string{"--restart", "release"},
		err: `--restart "release": release is the release phase, run once before the other processes start, not a process type to supervise`},
	{name: "bad restart mode", args: []string{"--restart", "web:sometimes"},
		err: `--restart "web:sometimes": restart mode "sometimes" must be on-failure or always`},
	{name: "bad restart policy", args: []string{"--restart", "web", "--restart-policy", "never"},
		err: `--restart-policy "never": restart mode "never" must be on-failure or always`},
	{name: "restart contradiction", args: []string{"--restart", "web:always,web:on-failure"},
		err: `--restart "web:on-failure": contradicts --restart "web:always"`},
	{name: "restart all contradiction", args: []string{"--restart", "all,all:always"},
		err: `--restart "all:always": contradicts --restart "all"`},
	{name: "always and can-die", args: []string{"--can-die", "css", "--restart", "css:always"},
		err: `--restart "css:always": css may exit with status 0 (--can-die), and then always could not restart it; use on-failure`},
	{name: "always all and any-can-die", args: []string{"--any-can-die", "--restart", "all:always"},
		err: `--restart "all:always": web may exit with status 0 (--any-can-die), and then always could not restart it; use on-failure`},
	{name: "max-restarts -1", args: []string{"--restart", "web", "--max-restarts", "-1"},
		err: `--max-restarts "-1": must be a whole number from 0 up (without it, restarts never stop)`},
	{name: "max-restarts x", args: []string{"--restart", "web", "--max-restarts", "x"},
		err: `--max-restarts "x": must be a whole number from 0 up (without it, restarts never stop)`},
	{name: "max-restarts without restart", args: []string{"--max-restarts", "3"},
		err: `--max-restarts "3": no process restarts (see --restart)`},
	{name: "restart-policy without restart", args: []string{"--restart-policy", "always"},
		err: `--restart-policy "always": no process restarts (see --restart)`},
	{name: "after syntax", args: []string{"--after", "worker"},
		err: `--after "worker": expected NAME=AFTER, got "worker"`},
	{name: "after unknown name", args: []string{"--after", "wrk=web"},
		err: `--after "wrk=web": unknown process type "wrk" (Procfile has release, web, worker, css)`},
	{name: "after unknown dependency", args: []string{"--after", "worker=wbe"},
		err: `--after "worker=wbe": unknown process type "wbe" (Procfile has release, web, worker, css)`},
	{name: "after release", args: []string{"--after", "web=release"},
		err: `--after "web=release": release is the release phase, run once before the other processes start, not a process type to supervise`},
	{name: "after cycle", args: []string{"--after", "worker=web", "--after", "css=worker,web=css"},
		err: `--after "web=css": web waits for css, css waits for worker, worker waits for web`},
	{name: "after itself", args: []string{"--after", "web=web"}, err: `--after "web=web": web waits for itself`},

	{name: "config unknown name", config: "\ncan-die: csss\n",
		err: `.procman:2: can-die "csss": unknown process type "csss" (Procfile has release, web, worker, css)`},
	{name: "config cycle", config: "after: worker=web\nafter: web=worker\n",
		err: `.procman:2: after "web=worker": web waits for worker, worker waits for web`},
	{name: "config max-restarts", config: "restart: all\nmax-restarts: -1\n",
		err: `.procman:2: max-restarts "-1": must be a whole number from 0 up (without it, restarts never stop)`},
	{name: "config unknown key", config: "# x\nrestrat: web\n",
		err: `.procman:2: unknown key "restrat" (keys are the long names of start's flags)`},
	{name: "config short name", config: "m: web=2\n", err: `.procman:1: unknown key "m" (keys are the long names of start's flags)`},
	{name: "config help", config: "help: true\n", err: `.procman:1: unknown key "help" (keys are the long names of start's flags)`},
	{name: "config procfile", config: "procfile: Procfile.dev\n",
		err: ".procman:1: procfile cannot be set in .procman, which is found through it"},
	{name: "config bad bool", config: "any-can-die: yes\n", err: `.procman:1: any-can-die: "yes" is not true or false`},
	{name: "config scalar twice", config: "max-restarts: 1\nrestart: web\nmax-restarts: 2\n",
		err: ".procman:3: max-restarts given twice (first on line 1)"},
	{name: "config syntax", config: "can-die css\n", err: `.procman:1: expected "key: value"`},
}

func TestReadPolicy(t *testing.T) {
	for _, tt := range readPolicyTests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"Procfile": policyProcfile}
			if tt.config != "" {
				files[".procman"] = tt.config
			}
			var pol supervisor.Policy
			var release bool
			err := withPolicy(t, files, tt.args, func(c *cli.Context, cf *configFile, pf *procfile.Procfile) (err error) {
				pol, release, err = readPolicy(c, cf, pf)
				return err
			})
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error = %v\nwant    %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.want.policy(); !reflect.DeepEqual(pol, want) {
				t.Errorf("policy = %+v\nwant     %+v", pol, want)
			}
			if release != tt.want.release {
				t.Errorf("release = %v, want %v", release, tt.want.release)
			}
		})
	}
}

// Keys other than the policy flags set start's flags too, unless the
// command line did; env paths are relative to the root.
func TestLoadConfigSetsFlags(t *testing.T) {
	files := map[string]string{
		"Procfile": "web: serve\n",
		".procman": "timeout: 7\nno-timestamp: true\nconcurrency: web=2\nenv: .env.dev, /etc/app.env\nenv: more.env\ncolor: false\n",
	}
	err := withPolicy(t, files, []string{"--timestamp", "--color"}, func(c *cli.Context, cf *configFile, _ *procfile.Procfile) error {
		dir := filepath.Dir(cf.path)
		if got := c.String("timeout"); got != "7" {
			t.Errorf("timeout = %q, want 7", got)
		}
		if c.Bool("no-timestamp") {
			t.Error("no-timestamp from the file applied over --timestamp")
		}
		if !c.Bool("color") {
			t.Error("color from the file applied over --color")
		}
		if got := c.String("formation"); got != "web=2" {
			t.Errorf("formation = %q, want web=2 (from concurrency)", got)
		}
		want := []string{filepath.Join(dir, ".env.dev"), "/etc/app.env", filepath.Join(dir, "more.env")}
		if got := c.StringSlice("env"); !reflect.DeepEqual(got, want) {
			t.Errorf("env = %q, want %q", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A missing .procman is fine; one that cannot be read is an error.
func TestLoadConfigFile(t *testing.T) {
	err := withPolicy(t, map[string]string{"Procfile": "web: serve\n"}, nil, func(c *cli.Context, cf *configFile, _ *procfile.Procfile) error {
		if len(cf.values) != 0 {
			t.Errorf("values from no file: %v", cf.values)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = withPolicy(t, map[string]string{"Procfile": "web: serve\n", ".procman/x": ""}, nil,
		func(*cli.Context, *configFile, *procfile.Procfile) error { return nil })
	if want := ".procman: is a directory"; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestReadLifecycle(t *testing.T) {
	environ := []string{"A=1", "PORT=1", "PS=x"}
	tests := []struct {
		name     string
		args     []string
		selected []string // procman start NAME...
		labels   []string
		release  string // its label, "" for none
		canDie   []string
		width    int
		err      string
	}{
		{name: "release first", labels: []string{"web.1", "worker.1", "css.1"}, release: "release.1", width: 9},
		{name: "no release", args: []string{"--no-release"}, labels: []string{"web.1", "worker.1", "css.1"}, width: 8},
		{name: "selection still releases", selected: []string{"web"}, labels: []string{"web.1"}, release: "release.1", width: 9},
		{name: "release alone", selected: []string{"release"}, labels: []string{"release.1"}, canDie: []string{"release"}, width: 9},
		{name: "release alone skipped", args: []string{"--no-release"}, selected: []string{"release"},
			err: "nothing to start: release runs only as the release phase, which --no-release skips"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var life lifecycle
			err := withPolicy(t, map[string]string{"Procfile": policyProcfile}, tt.args, func(c *cli.Context, cf *configFile, pf *procfile.Procfile) error {
				form, err := procfile.ParseFormation("")
				if err != nil {
					return err
				}
				if form, err = form.Select(tt.selected); err != nil {
					return err
				}
				ins, err := procfile.Instances(pf, form, 6000)
				if err != nil {
					return err
				}
				life, err = readLifecycle(c, cf, pf, ins, 6000, environ)
				return err
			})
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var labels []string
			for _, in := range life.instances {
				labels = append(labels, in.Label())
			}
			if !reflect.DeepEqual(labels, tt.labels) {
				t.Errorf("instances %q, want %q", labels, tt.labels)
			}
			if life.width != tt.width {
				t.Errorf("width %d, want %d", life.width, tt.width)
			}
			var canDie []string
			for name := range life.policy.CanDie {
				canDie = append(canDie, name)
			}
			if !reflect.DeepEqual(canDie, tt.canDie) {
				t.Errorf("can-die %q, want %q", canDie, tt.canDie)
			}
			if tt.release == "" {
				if life.release != nil {
					t.Errorf("release %+v, want none", life.release)
				}
				return
			}
			want := &supervisor.Process{Name: "release", Label: tt.release, Command: "migrate",
				Env: []string{"A=1", "PORT=6000", "PS=release.1"}}
			if !reflect.DeepEqual(life.release, want) {
				t.Errorf("release %+v, want %+v", life.release, want)
			}
		})
	}
}
