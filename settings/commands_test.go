package settings

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestExec(t *testing.T) {
	tests := []struct {
		name    string
		flags   Flags
		args    []string
		files   map[string]string
		environ []string
		argv    []string
		env     []string
		err     string
	}{
		{name: "a Procfile entry", args: []string{"hello"}, argv: []string{"/bin/sh", "-c", "echo hi"},
			env: []string{"HOME=/home/u", "GREETING=file", "PORT=5000"}},
		{name: "a command", args: []string{"ls", "-la"}, argv: []string{"ls", "-la"},
			env: []string{"HOME=/home/u", "GREETING=file", "PORT=5000"}},
		{name: "one word that is no entry", args: []string{"pwd"}, argv: []string{"pwd"},
			env: []string{"HOME=/home/u", "GREETING=file", "PORT=5000"}},
		{name: "the real environment wins, PORT is the base port", args: []string{"env"},
			environ: []string{"GREETING=real", "PORT=7000"}, argv: []string{"env"},
			env: []string{"GREETING=real", "PORT=7000"}},
		{name: "-p", flags: Flags{Port: str("6000")}, args: []string{"env"}, argv: []string{"env"},
			env: []string{"HOME=/home/u", "GREETING=file", "PORT=6000"}},
		{name: "no project file", files: map[string]string{".procman": "bogus: key\n"}, args: []string{"env"},
			argv: []string{"env"}, env: []string{"HOME=/home/u", "GREETING=file", "PORT=5000"}},
		{name: "no Procfile is fine without -f", flags: Flags{Root: str("elsewhere")}, args: []string{"hello"},
			argv: []string{"hello"}, env: []string{"HOME=/home/u", "PORT=5000"}},
		{name: "a missing -f is not", flags: Flags{Procfile: str("nope/Procfile")}, args: []string{"hello"},
			err: "nope/Procfile: no such file or directory"},
		{name: "a broken Procfile is not read for two words", files: map[string]string{"Procfile": "web\n"}, args: []string{"ls", "-l"},
			argv: []string{"ls", "-l"}, env: []string{"HOME=/home/u", "GREETING=file", "PORT=5000"}},
		{name: "a broken Procfile is an error for one word", files: map[string]string{"Procfile": "web\n"}, args: []string{"ls"},
			err: `Procfile:1: expected "name: command"`},
		{name: "bad env file", flags: Flags{Env: list("nope.env")}, args: []string{"ls"}, err: "nope.env: no such file or directory"},
		{name: "bad port", flags: Flags{Port: str("x")}, args: []string{"ls"}, err: `-p "x": port must be a whole number from 1 to 65535`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"Procfile": "hello: echo hi\n", ".env": "GREETING=file\n", "elsewhere/README": ""}
			for k, v := range tt.files {
				files[k] = v
			}
			dir := inDir(t, files)
			environ := tt.environ
			if environ == nil {
				environ = noEnv()
			}
			cfg, err := Exec(tt.flags, environ, tt.args)
			checkErr(t, err, tt.err)
			if err != nil {
				return
			}
			if !slices.Equal(cfg.Argv, tt.argv) || !slices.Equal(cfg.Env, tt.env) {
				t.Errorf("argv %q env %q\nwant %q env %q", cfg.Argv, cfg.Env, tt.argv, tt.env)
			}
			wantDir := dir
			if tt.flags.Root.Set {
				wantDir = filepath.Join(dir, tt.flags.Root.Value)
			}
			if cfg.Dir != wantDir {
				t.Errorf("dir %q, want %q", cfg.Dir, wantDir)
			}
		})
	}
}

func TestReadExport(t *testing.T) {
	tests := []struct {
		name  string
		flags Flags
		want  Export // Root and Procfile are checked apart
		err   string
	}{
		{name: "defaults", want: Export{Grace: 5 * time.Second, Config: map[string]string{"A": "1"}}},
		{name: "flags", flags: Flags{App: str("shop"), Template: str("tmpl"), Timeout: str("2.5"), Formation: str("web=2"), Port: str("6000")},
			want: Export{Name: "shop", TemplateDir: "tmpl", Grace: 2500 * time.Millisecond, Config: map[string]string{"A": "1"}}},
		{name: "empty -a", flags: Flags{App: str(""), Timeout: str("x")}, err: `-a "": empty app name`},
		{name: "missing template", flags: Flags{Template: str("nowhere")}, err: `--template "nowhere": no such file or directory`},
		{name: "template a file", flags: Flags{Template: str("Procfile")}, err: `--template "Procfile": not a directory`},
		{name: "timeout", flags: Flags{Timeout: str("soon")}, err: `-t "soon": timeout must be a number of seconds`},
		{name: "formation", flags: Flags{Formation: str("wbe=1")}, err: `-m "wbe=1": unknown process type "wbe" (Procfile has web, worker)`},
		{name: "ports", flags: Flags{Port: str("65500")}, err: `-p "65500": port 65600 for worker.1 is outside 1-65535`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := inDir(t, map[string]string{"Procfile": "web: a\nworker: b\n", ".env": "A=1\n", "tmpl/x": "",
				".procman": "timeout: 9\n"})
			x, err := ReadExport(tt.flags, []string{"B=2"})
			checkErr(t, err, tt.err)
			if err != nil {
				return
			}
			if x.Root != dir || x.Procfile != "Procfile" {
				t.Errorf("root %q procfile %q", x.Root, x.Procfile)
			}
			if len(x.Instances) == 0 {
				t.Error("no instances")
			}
			x.Root, x.Procfile, x.Instances = "", "", nil
			if !reflect.DeepEqual(*x, tt.want) {
				t.Errorf("have %+v\nwant %+v", *x, tt.want)
			}
		})
	}
}

func TestScale(t *testing.T) {
	tests := []struct {
		args []string
		want map[string]int
		err  string
	}{
		{[]string{"web=3,worker=0"}, map[string]int{"web": 3, "worker": 0}, ""},
		{[]string{"web=1", "worker=2"}, map[string]int{"web": 1, "worker": 2}, ""},
		{nil, nil, "scale: give counts like web=3,worker=0"},
		{[]string{" "}, nil, "scale: give counts like web=3,worker=0"},
		{[]string{"web=x"}, nil, `scale web=x: count "x" is not a whole number`},
		{[]string{"web"}, nil, `scale web: expected NAME=COUNT, got "web"`},
		{[]string{"all=2"}, nil, "scale all=2: name each process type (all=N is for start)"},
		{[]string{"web=1", "all=0"}, map[string]int{"web": 1}, ""}, // all=0 changes nothing
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			have, err := Scale(tt.args)
			checkErr(t, err, tt.err)
			if !reflect.DeepEqual(have, tt.want) {
				t.Errorf("have %v, want %v", have, tt.want)
			}
		})
	}
}
