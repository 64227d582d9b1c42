package settings

import (
	"reflect"
	"testing"

	"github.com/procman/procman/procfile"
	"github.com/procman/procman/supervisor"
)

const policyProcfile = "release: migrate\nweb: serve\nworker: work\ncss: watch\n"

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

type modes = map[string]supervisor.RestartMode

const (
	onFailure = supervisor.OnFailure
	always    = supervisor.Always
)

var policyTests = []struct {
	name  string
	flags Flags
	file  string // .procman
	want  policyWant
	err   string
}{
	{name: "defaults", want: policyWant{max: -1, release: true}},
	{name: "no-release", flags: Flags{NoRelease: switched(true)}, want: policyWant{max: -1}},
	{name: "can-die", flags: Flags{CanDie: list("css", "worker", "web")},
		want: policyWant{canDie: []string{"css", "worker", "web"}, max: -1, release: true}},
	{name: "can-die empty items skipped", flags: Flags{CanDie: list("css", "", " ")},
		want: policyWant{canDie: []string{"css"}, max: -1, release: true}},
	{name: "any-can-die", flags: Flags{AnyCanDie: switched(true)}, want: policyWant{any: true, max: -1, release: true}},
	{name: "unset switches are off", flags: Flags{AnyCanDie: Bool{Value: true}, NoRelease: Bool{Value: true}},
		want: policyWant{max: -1, release: true}},
	{name: "restart", flags: Flags{Restart: list("worker")},
		want: policyWant{restart: modes{"worker": onFailure}, max: -1, release: true}},
	{name: "restart with policy", flags: Flags{Restart: list("worker", "css"), RestartPolicy: str("always")},
		want: policyWant{restart: modes{"worker": always, "css": always}, max: -1, release: true}},
	{name: "restart modes per name", flags: Flags{Restart: list("worker:always", "web", "css:on-failure")},
		want: policyWant{restart: modes{"worker": always, "web": onFailure, "css": onFailure}, max: -1, release: true}},
	{name: "restart all, release excluded", flags: Flags{Restart: list("all")},
		want: policyWant{restart: modes{"web": onFailure, "worker": onFailure, "css": onFailure}, max: -1, release: true}},
	{name: "restart all with an exception", flags: Flags{Restart: list("worker:always", "all")},
		want: policyWant{restart: modes{"web": onFailure, "worker": always, "css": onFailure}, max: -1, release: true}},
	{name: "restart same twice", flags: Flags{Restart: list("web", "web:on-failure")},
		want: policyWant{restart: modes{"web": onFailure}, max: -1, release: true}},
	{name: "can-die and restart on-failure", flags: Flags{CanDie: list("css"), Restart: list("css")},
		want: policyWant{canDie: []string{"css"}, restart: modes{"css": onFailure}, max: -1, release: true}},
	{name: "max-restarts", flags: Flags{Restart: list("web"), MaxRestarts: str("3")},
		want: policyWant{restart: modes{"web": onFailure}, max: 3, release: true}},
	{name: "max-restarts 0", flags: Flags{Restart: list("web"), MaxRestarts: str("0")},
		want: policyWant{restart: modes{"web": onFailure}, max: 0, release: true}},
	{name: "after", flags: Flags{After: list("worker=web", "css=web", "worker=css")},
		want: policyWant{after: map[string][]string{"worker": {"web", "css"}, "css": {"web"}}, max: -1, release: true}},
	{name: "after repeated rule", flags: Flags{After: list("worker=web", "worker=web")},
		want: policyWant{after: map[string][]string{"worker": {"web"}}, max: -1, release: true}},

	{name: "project file", file: "# team policies\nno-release: true\ncan-die: css\nrestart: worker:always\nmax-restarts: 5\nafter: worker=web\nafter: css=web\n",
		want: policyWant{canDie: []string{"css"}, restart: modes{"worker": always}, max: 5,
			after: map[string][]string{"worker": {"web"}, "css": {"web"}}}},
	{name: "flags win over the file", file: "can-die: css\nafter: worker=web\nrestart-policy: always\nrestart: worker\nno-release: true\n",
		flags: Flags{CanDie: list("web"), After: list("css=web"), RestartPolicy: str("on-failure"), NoRelease: switched(false)},
		want: policyWant{canDie: []string{"web"}, restart: modes{"worker": onFailure}, max: -1,
			after: map[string][]string{"css": {"web"}}, release: true}},

	{name: "unknown can-die", flags: Flags{CanDie: list("css", "wrk")},
		err: `--can-die "wrk": unknown process type "wrk" (Procfile has release, web, worker, css)`},
	{name: "can-die release", flags: Flags{CanDie: list("release")},
		err: `--can-die "release": release is the release phase, run once before the other processes start, not a process type to supervise`},
	{name: "unknown restart", flags: Flags{Restart: list("wbe")},
		err: `--restart "wbe": unknown process type "wbe" (Procfile has release, web, worker, css)`},
	{name: "unknown restart with mode", flags: Flags{Restart: list("wbe:always")},
		err: `--restart "wbe:always": unknown process type "wbe" (Procfile has release, web, worker, css)`},
	{name: "restart release", flags: Flags{Restart: list("release")},
		err: `--restart "release": release is the release phase, run once before the other processes start, not a process type to supervise`},
	{name: "bad restart mode", flags: Flags{Restart: list("web:sometimes")},
		err: `--restart "web:sometimes": restart mode "sometimes" must be on-failure or always`},
	{name: "bad restart policy", flags: Flags{Restart: list("web"), RestartPolicy: str("never")},
		err: `--restart-policy "never": restart mode "never" must be on-failure or always`},
	{name: "restart contradiction", flags: Flags{Restart: list("web:always", "web:on-failure")},
		err: `--restart "web:on-failure": contradicts --restart "web:always"`},
	{name: "restart all contradiction", flags: Flags{Restart: list("all", "all:always")},
		err: `--restart "all:always": contradicts --restart "all"`},
	{name: "always and can-die", flags: Flags{CanDie: list("css"), Restart: list("css:always")},
		err: `--restart "css:always": css may exit with status 0 (--can-die), and then always could not restart it; use on-failure`},
	{name: "always all and any-can-die", flags: Flags{AnyCanDie: switched(true), Restart: list("all:always")},
		err: `--restart "all:always": web may exit with status 0 (--any-can-die), and then always could not restart it; use on-failure`},
	{name: "max-restarts -1", flags: Flags{Restart: list("web"), MaxRestarts: str("-1")},
		err: `--max-restarts "-1": must be a whole number from 0 up (without it, restarts never stop)`},
	{name: "max-restarts x", flags: Flags{Restart: list("web"), MaxRestarts: str("x")},
		err: `--max-restarts "x": must be a whole number from 0 up (without it, restarts never stop)`},
	{name: "max-restarts without restart", flags: Flags{MaxRestarts: str("3")},
		err: `--max-restarts "3": no process restarts (see --restart)`},
	{name: "restart-policy without restart", flags: Flags{RestartPolicy: str("always")},
		err: `--restart-policy "always": no process restarts (see --restart)`},
	{name: "restart-policy default is no restart-policy", flags: Flags{RestartPolicy: String{Value: "on-failure"}},
		want: policyWant{max: -1, release: true}},
	{name: "after syntax", flags: Flags{After: list("worker")},
		err: `--after "worker": expected NAME=AFTER, got "worker"`},
	{name: "after unknown name", flags: Flags{After: list("wrk=web")},
		err: `--after "wrk=web": unknown process type "wrk" (Procfile has release, web, worker, css)`},
	{name: "after unknown dependency", flags: Flags{After: list("worker=wbe")},
		err: `--after "worker=wbe": unknown process type "wbe" (Procfile has release, web, worker, css)`},
	{name: "after release", flags: Flags{After: list("web=release")},
		err: `--after "web=release": release is the release phase, run once before the other processes start, not a process type to supervise`},
	{name: "after cycle", flags: Flags{After: list("worker=web", "css=worker", "web=css")},
		err: `--after "web=css": web waits for css, css waits for worker, worker waits for web`},
	{name: "after itself", flags: Flags{After: list("web=web")}, err: `--after "web=web": web waits for itself`},

	{name: "file unknown name", file: "\ncan-die: csss\n",
		err: `.procman:2: can-die "csss": unknown process type "csss" (Procfile has release, web, worker, css)`},
	{name: "file list item", file: "can-die: web, csss\n",
		err: `.procman:1: can-die "csss": unknown process type "csss" (Procfile has release, web, worker, css)`},
	{name: "file cycle", file: "after: worker=web\nafter: web=worker\n",
		err: `.procman:2: after "web=worker": web waits for worker, worker waits for web`},
	{name: "file max-restarts", file: "restart: all\nmax-restarts: -1\n",
		err: `.procman:2: max-restarts "-1": must be a whole number from 0 up (without it, restarts never stop)`},
	{name: "file contradicts itself", file: "restart: web:always\nrestart: web:on-failure\n",
		err: `.procman:2: restart "web:on-failure": contradicts .procman:1: restart "web:always"`},
	{name: "file's restart-policy without restart", file: "restart-policy: always\n",
		err: `.procman:1: restart-policy "always": no process restarts (see --restart)`},
}

func TestPolicy(t *testing.T) {
	for _, tt := range policyTests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"Procfile": policyProcfile}
			if tt.file != "" {
				files[".procman"] = tt.file
			}
			inDir(t, files)
			s, err := Load(tt.flags)
			if err != nil {
				t.Fatal(err)
			}
			pf, err := procfile.ParseFile("Procfile")
			if err != nil {
				t.Fatal(err)
			}
			pol, release, err := s.policy(pf)
			checkErr(t, err, tt.err)
			if err != nil {
				return
			}
			if want := tt.want.policy(); !reflect.DeepEqual(pol, want) {
				t.Errorf("policy:\nhave %+v\nwant %+v", pol, want)
			}
			if release != tt.want.release {
				t.Errorf("release: have %v, want %v", release, tt.want.release)
			}
		})
	}
}

// check reports the same policy errors as start, with no process started.
func TestCheckPolicy(t *testing.T) {
	inDir(t, map[string]string{"Procfile": policyProcfile})
	s, err := Load(Flags{After: list("worker=web", "web=worker")})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Check(nil)
	checkErr(t, err, `--after "web=worker": web waits for worker, worker waits for web`)
}
