package settings

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/procman/procman/env"
)

// The base port: -p, else $PORT in the real environment, else PORT from the
// env files, else 5000.
func TestReadPort(t *testing.T) {
	// files holds PORT=value as set on line 3 of .env, written as text.
	files := func(value, text string) env.Result {
		return env.Result{
			Vars:    map[string]string{"PORT": value},
			Sources: map[string]env.Source{"PORT": {Path: ".env", Line: 3, Text: text}},
		}
	}
	tests := []struct {
		name    string
		flag    String
		environ []string
		files   env.Result
		want    basePort
		err     string
	}{
		{name: "default", want: basePort{5000, ""}},
		{name: "env file", files: files("8000", "8000"), want: basePort{8000, `.env:3: PORT "8000"`}},
		{name: "real over env file", environ: []string{"PORT=7000"}, files: files("8000", "8000"),
			want: basePort{7000, "$PORT"}},
		{name: "flag over all", flag: str("6000"), environ: []string{"PORT=7000"}, files: files("8000", "8000"),
			want: basePort{6000, `-p "6000"`}},
		{name: "unset flag", flag: String{Value: "6000"}, want: basePort{5000, ""}},
		{name: "empty $PORT is unset", environ: []string{"PORT="}, files: files("8000", "8000"),
			want: basePort{8000, `.env:3: PORT "8000"`}},
		{name: "last $PORT wins", environ: []string{"PORT=x", "PORT=7001"}, want: basePort{7001, "$PORT"}},
		{name: "spaces", flag: str(" 6000 "), want: basePort{6000, `-p " 6000 "`}},
		{name: "env file PORT from a reference", files: files("8000", "${BASE}"), want: basePort{8000, `.env:3: PORT "${BASE}"`}},
		{name: "env file PORT without its line", files: env.Result{Vars: map[string]string{"PORT": "8000"}},
			want: basePort{8000, "PORT in the env files"}},
		{name: "flag too large", flag: str("70000"), err: `-p "70000": port must be a whole number from 1 to 65535`},
		{name: "flag zero", flag: str("0"), err: `-p "0": port must be a whole number from 1 to 65535`},
		{name: "flag empty", flag: str(""), err: `-p "": port must be a whole number from 1 to 65535`},
		{name: "bad $PORT", environ: []string{"PORT=x"}, err: `$PORT "x" in the environment is not a port number (1-65535)`},
		{name: "bad env file PORT, named with its line", files: files("50x0", "50x0"),
			err: `.env:3: PORT "50x0" is not a port number (1-65535)`},
		{name: "env file PORT out of range", files: files("70000", "70000"),
			err: `.env:3: PORT "70000" is not a port number (1-65535)`},
		{name: "bad env file PORT from a reference: as written, not the other variable's value", files: files("hunter2", "${SECRET}"),
			err: `.env:3: PORT "${SECRET}" is not a port number (1-65535)`},
		{name: "long PORT cut short", files: files(strings.Repeat("9", 100), strings.Repeat("9", 100)),
			err: `.env:3: PORT "` + strings.Repeat("9", 32) + `"... is not a port number (1-65535)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			have, err := readPort(tt.flag, tt.environ, tt.files)
			checkErr(t, err, tt.err)
			if have != tt.want {
				t.Errorf("have %+v, want %+v", have, tt.want)
			}
		})
	}
}

func TestReadTimeout(t *testing.T) {
	tests := []struct {
		flag String
		want time.Duration
		err  string
	}{
		{String{}, 5 * time.Second, ""},
		{String{Value: "9"}, 5 * time.Second, ""}, // not set: the default
		{str("5"), 5 * time.Second, ""},
		{str("0"), 0, ""},
		{str("0.25"), 250 * time.Millisecond, ""},
		{str(" 2 "), 2 * time.Second, ""},
		{str("-1"), 0, `-t "-1": timeout must not be negative`},
		{str("x"), 0, `-t "x": timeout must be a number of seconds`},
		{str("NaN"), 0, `-t "NaN": timeout must be a number of seconds`},
		{str("Inf"), 0, `-t "Inf": timeout must be a number of seconds`},
		{str("1e12"), 0, `-t "1e12": timeout is too large`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.flag), func(t *testing.T) {
			have, err := readTimeout(tt.flag)
			checkErr(t, err, tt.err)
			if have != tt.want {
				t.Errorf("have %v, want %v", have, tt.want)
			}
		})
	}
}

func TestSetVars(t *testing.T) {
	have := setVars([]string{"PATH=/bin", "PORT=1", "PSX=a", "PS=x", "PORT=2"}, "PORT=5000", "PS=web.1")
	want := []string{"PATH=/bin", "PSX=a", "PORT=5000", "PS=web.1"}
	if !slices.Equal(have, want) {
		t.Errorf("have %q, want %q", have, want)
	}
}

const portsProcfile = "web: serve\nworker: work\nclock: tick\n"

// Formation and ports as check reads them: -m's names are the Procfile's,
// and every port is in range, the error naming where the base port came
// from.
func TestCheckFormationAndPorts(t *testing.T) {
	tests := []struct {
		name    string
		flags   Flags
		environ []string
		err     string
	}{
		{name: "defaults"},
		{name: "formation", flags: Flags{Formation: str("web=2,all=0"), Port: str("6000")}},
		{name: "concurrency spaces", flags: Flags{Formation: str("web=2, worker=1")}},
		{name: "bad count", flags: Flags{Formation: str("web=x")}, err: `-m "web=x": count "x" is not a whole number`},
		{name: "negative count", flags: Flags{Formation: str("web=-1")}, err: `-m "web=-1": count "-1" is negative`},
		{name: "unknown type", flags: Flags{Formation: str("nope=1,web=1,abc=0")},
			err: `-m "nope=1,web=1,abc=0": unknown process type "abc" (Procfile has web, worker, clock)`},
		{name: "unknown type before a bad port", flags: Flags{Formation: str("nope=1"), Port: str("65500")},
			err: `-m "nope=1": unknown process type "nope" (Procfile has web, worker, clock)`},
		{name: "port from -p", flags: Flags{Port: str("65400")},
			err: `-p "65400": port 65600 for clock.1 is outside 1-65535`},
		{name: "port from $PORT", environ: []string{"PORT=65500"},
			err: `$PORT: port 65600 for worker.1 is outside 1-65535`},
		{name: "a type that does not run has no port", flags: Flags{Port: str("65500"), Formation: str("web=1")}},
		{name: "too many instances", flags: Flags{Port: str("65530"), Formation: str("web=7")},
			err: `-p "65530": port 65536 for web.7 is outside 1-65535`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inDir(t, map[string]string{"Procfile": portsProcfile})
			s, err := Load(tt.flags)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = s.Check(tt.environ)
			checkErr(t, err, tt.err)
		})
	}
}

// Ports as start reads them: start NAME keeps the type's position, so its
// port; NAME=N and -m set counts.
func TestStartPorts(t *testing.T) {
	tests := []struct {
		name  string
		flags Flags
		args  []string
		env   []string // the real environment
		files map[string]string
		want  []string // PS:PORT of each process
		err   string
	}{
		{name: "default base", flags: Flags{Formation: str("web=2,worker=1,clock=0")},
			want: []string{"web.1:5000", "web.2:5001", "worker.1:5100"}},
		{name: "all", flags: Flags{Formation: str("all=2,web=1")},
			want: []string{"web.1:5000", "worker.1:5100", "worker.2:5101", "clock.1:5200", "clock.2:5201"}},
		{name: "selection keeps positions", args: []string{"worker=2"}, want: []string{"worker.1:5100", "worker.2:5101"}},
		{name: "selection counts from -m, else 1", flags: Flags{Formation: str("web=2,worker=3")}, args: []string{"web", "clock"},
			want: []string{"web.1:5000", "web.2:5001", "clock.1:5200"}},
		{name: "-p over $PORT over the env files", flags: Flags{Port: str("6000"), Env: list("port.env")}, env: []string{"PORT=7000"},
			args: []string{"web"}, want: []string{"web.1:6000"}},
		{name: "$PORT over the env files", flags: Flags{Env: list("port.env")}, env: []string{"PORT=7000"},
			args: []string{"web"}, want: []string{"web.1:7000"}},
		{name: "the env files", flags: Flags{Env: list("port.env")}, args: []string{"web", "worker"},
			want: []string{"web.1:8000", "worker.1:8100"}},
		{name: "the default .env", files: map[string]string{".env": "PORT=9000\n"}, args: []string{"clock"},
			want: []string{"clock.1:9200"}},
		{name: "-m's other types are not checked for ports", flags: Flags{Formation: str("clock=1"), Port: str("65500")},
			args: []string{"web"}, want: []string{"web.1:65500"}},
		{name: "unknown name", args: []string{"wbe"}, err: `unknown process type "wbe" (Procfile has web, worker, clock)`},
		{name: "bad count", args: []string{"web=x"}, err: `start web=x: count "x" is not a whole number`},
		{name: "named twice", args: []string{"web", "web=2"}, err: `start web web=2: "web" given twice`},
		{name: "port", flags: Flags{Port: str("65500")}, args: []string{"worker"},
			err: `-p "65500": port 65600 for worker.1 is outside 1-65535`},
		{name: "nothing", flags: Flags{Formation: str("all=0")},
			err: "nothing to start: the formation runs no processes (Procfile has web, worker, clock)"},

		// What foreman users type: counts with commas, as -m takes them.
		{name: "start web=2,worker=1", args: []string{"web=2,worker=1"},
			want: []string{"web.1:5000", "web.2:5001", "worker.1:5100"}},
		{name: "start web=2,worker=1 is start web=2 worker=1, not -m: clock does not run", flags: Flags{Formation: str("all=3")},
			args: []string{"web=2,worker=1"}, want: []string{"web.1:5000", "web.2:5001", "worker.1:5100"}},
		{name: "start web,clock takes counts from -m", flags: Flags{Formation: str("clock=2")}, args: []string{"web,clock"},
			want: []string{"web.1:5000", "clock.1:5200", "clock.2:5201"}},
		{name: "start 'web=2, worker=1' with a space", args: []string{"web=2, worker=1"},
			want: []string{"web.1:5000", "web.2:5001", "worker.1:5100"}},
		{name: "start web=2,worker=1 clock", args: []string{"web=2,worker=1", "clock"},
			want: []string{"web.1:5000", "web.2:5001", "worker.1:5100", "clock.1:5200"}},
		{name: "start web=2,worker=x", args: []string{"web=2,worker=x"},
			err: `start web=2,worker=x: count "x" is not a whole number`},
		{name: "start web=2,", args: []string{"web=2,"}, err: `start web=2,: empty item in "web=2,"`},
		{name: "start web=2,web=1", args: []string{"web=2,web=1"}, err: `start web=2,web=1: "web" given twice`},
		{name: "start web=2,wbe=1", args: []string{"web=2,wbe=1"},
			err: `unknown process type "wbe" (Procfile has web, worker, clock)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"Procfile": portsProcfile, "port.env": "PORT=8000\n"}
			for k, v := range tt.files {
				files[k] = v
			}
			inDir(t, files)
			s, err := Load(tt.flags)
			if err != nil {
				t.Fatal(err)
			}
			st, err := s.Start(tt.env, tt.args)
			checkErr(t, err, tt.err)
			if err != nil {
				return
			}
			var have []string
			for _, p := range st.Config.Processes {
				have = append(have, fmt.Sprintf("%s:%d", p.Label, p.Port))
			}
			if !slices.Equal(have, tt.want) {
				t.Errorf("have %q, want %q", have, tt.want)
			}
		})
	}
}

// The env files are read over the real environment: ${VAR} sees it first,
// a line may extend its own key, and a reference to a name nothing sets
// is reported by check.
func TestEnvOverTheRealEnvironment(t *testing.T) {
	inDir(t, map[string]string{
		"Procfile": "web: serve\n",
		".env":     "PATH=$PATH:./bin\nDATA=${HOME}/data\nURL=${DATABSE_URL}\nPORT=${BASE}\n",
	})
	environ := []string{"PATH=/usr/bin", "HOME=/home/u", "BASE=7000"}
	s, err := Load(Flags{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Start(environ, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"PATH=/usr/bin:./bin", "HOME=/home/u", "BASE=7000", "DATA=/home/u/data", "URL=", "PORT=7000", "PS=web.1"}
	if have := st.Config.Processes[0].Env; !slices.Equal(have, want) {
		t.Errorf("environment %q\nwant        %q", have, want)
	}
	_, warnings, err := s.Check(environ)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || warnings[0].String() != ".env:3: ${DATABSE_URL} is not set in the environment or earlier in the env files; it expands to nothing" {
		t.Errorf("warnings %q", warnings)
	}
}

// An unknown type in -m, in start's arguments and in procman scale names
// the Procfile as the user gave it: app/Procfile with -d app, or -f.
func TestUnknownTypeNamesTheProcfile(t *testing.T) {
	inDir(t, map[string]string{"app/Procfile": "web: serve\nworker: work\n", "Procfile.dev": "web: serve\n"})
	tests := []struct {
		name  string
		flags Flags
		args  []string
		err   string
	}{
		{name: "-d app -m wbe=1", flags: Flags{Root: str("app"), Formation: str("wbe=1")},
			err: `-m "wbe=1": unknown process type "wbe" (app/Procfile has web, worker)`},
		{name: "-d app start wbe", flags: Flags{Root: str("app")}, args: []string{"wbe"},
			err: `unknown process type "wbe" (app/Procfile has web, worker)`},
		{name: "-f Procfile.dev start web,wrk", flags: Flags{Procfile: str("Procfile.dev")}, args: []string{"web,wrk"},
			err: `unknown process type "wrk" (Procfile.dev has web)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load(tt.flags)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Start(noEnv(), tt.args)
			checkErr(t, err, tt.err)
		})
	}

	s, err := Load(Flags{Root: str("app")})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Start(noEnv(), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Config.NewProcess("wbe", 2)
	if want := `unknown process type "wbe" (app/Procfile has web, worker)`; err == nil || err.Error() != want {
		t.Errorf("scale wbe=2: error %v, want %q", err, want)
	}
}
