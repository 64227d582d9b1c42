package settings

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var parseFileTests = []struct {
	name string
	in   string
	want []entry
	err  string
}{
	{name: "empty", in: "", want: nil},
	{name: "comments and blanks", in: "# policies\n\n   # indented\n\t\n", want: nil},
	{name: "one", in: "can-die: css\n", want: []entry{{"can-die", "css", 1}}},
	{name: "spaces", in: "  after :  worker=web  \n", want: []entry{{"after", "worker=web", 1}}},
	{name: "no space after colon", in: "restart:worker", want: []entry{{"restart", "worker", 1}}},
	{name: "colon in value", in: "restart: worker:always\n", want: []entry{{"restart", "worker:always", 1}}},
	{name: "inline comment", in: "max-restarts: 5 # then give up\n", want: []entry{{"max-restarts", "5", 1}}},
	{name: "hash inside a word", in: "env: a#b\n", want: []entry{{"env", "a#b", 1}}},
	{name: "double quotes", in: `env: "a #b, c"` + "\n", want: []entry{{"env", "a #b, c", 1}}},
	{name: "single quotes and comment", in: "formation: 'web=2' # two\n", want: []entry{{"formation", "web=2", 1}}},
	{name: "nothing unescaped", in: `env: "a\nb"` + "\n", want: []entry{{"env", `a\nb`, 1}}},
	{name: "lines counted", in: "# x\n\nno-release: true\r\nrestart: all\n",
		want: []entry{{"no-release", "true", 3}, {"restart", "all", 4}}},
	{name: "BOM and CRLF", in: "\uFEFFcan-die: css\r\n", want: []entry{{"can-die", "css", 1}}},
	{name: "repeated key kept", in: "after: a=b\nafter: c=b\n", want: []entry{{"after", "a=b", 1}, {"after", "c=b", 2}}},
	{name: "flag dashes left for the key check", in: "--can-die: css\n", want: []entry{{"--can-die", "css", 1}}},

	{name: "no colon", in: "\ncan-die css\n", err: `.procman:2: expected "key: value"`},
	{name: "yaml document start", in: "# x\n---\nenv: a\n", want: []entry{{"env", "a", 3}}},
	{name: "yaml document start after an entry", in: "env: a\n---\n", err: `.procman:2: expected "key: value"`},
	{name: "yaml list", in: "env:\n  - a\n", err: ".procman:1: no value for env"},
	{name: "list item", in: "- a\n", err: `.procman:1: expected "key: value"`},
	{name: "empty key", in: ": x\n", err: `.procman:1: expected "key: value"`},
	{name: "key with space", in: "can die: css\n", err: `.procman:1: expected "key: value"`},
	{name: "only a comment", in: "restart: # all\n", err: ".procman:1: no value for restart"},
	{name: "open quote", in: "env: \"a\n", err: `.procman:1: env: " not closed`},
	{name: "after quote", in: "env: 'a' b\n", err: `.procman:1: env: text after the closing '`},
	{name: "empty quotes", in: "env: ''\n", err: ".procman:1: no value for env"},
	{name: "lone CR", in: "env: a\rb\n", err: ".procman:1: env: value holds a control character"},
}

func TestParseFile(t *testing.T) {
	for _, tt := range parseFileTests {
		t.Run(tt.name, func(t *testing.T) {
			have, err := parseFile([]byte(tt.in), ".procman")
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error: have %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(have, tt.want) {
				t.Errorf("have %+v, want %+v", have, tt.want)
			}
		})
	}
}

func FuzzParseFile(f *testing.F) {
	for _, tt := range parseFileTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		entries, err := parseFile([]byte(in), ".procman")
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, ".procman:") || strings.Contains(msg, "\n") {
				t.Fatalf("error %q does not name the file on one line", msg)
			}
			return
		}
		lines := strings.Count(in, "\n") + 1
		last := 0
		for _, e := range entries {
			if !validKey(e.key) || e.value == "" || strings.ContainsAny(e.value, "\r\n") {
				t.Fatalf("bad entry %+v", e)
			}
			if e.value != strings.TrimSpace(e.value) && !strings.Contains(in, `"`+e.value+`"`) && !strings.Contains(in, `'`+e.value+`'`) {
				t.Fatalf("value %q keeps outer spaces without quotes", e.value)
			}
			if e.line <= last || e.line > lines {
				t.Fatalf("line %d after %d in %d lines", e.line, last, lines)
			}
			last = e.line
		}
	})
}

// Load: a flag given on the command line wins over the file, which wins
// over the default; a switch and its negation count as one; env paths are
// relative to the root.
func TestLoadPrecedence(t *testing.T) {
	dir := inDir(t, map[string]string{
		"app/Procfile": "web: serve\n",
		"app/.procman": "timeout: 7\nno-timestamp: true\nconcurrency: web=2\nenv: .env.dev, /etc/app.env\nenv: more.env\n" +
			"color: false\nport: 6000\npty: never\nsocket: app.sock\n",
	})
	tests := []struct {
		name  string
		flags Flags
		want  func(f Flags) any
		value any
	}{
		{"file over default", Flags{}, func(f Flags) any { return f.Timeout }, str("7")},
		{"flag over file", Flags{Timeout: str("3")}, func(f Flags) any { return f.Timeout }, str("3")},
		{"alias key", Flags{}, func(f Flags) any { return f.Formation }, str("web=2")},
		{"switch from the file", Flags{}, func(f Flags) any { return f.NoTimestamp }, switched(true)},
		{"--timestamp keeps the file's no-timestamp out", Flags{Timestamp: switched(true)},
			func(f Flags) any { return f.NoTimestamp }, Bool{}},
		{"--color keeps the file's color out", Flags{Color: switched(true)}, func(f Flags) any { return f.Color }, switched(true)},
		{"--no-color keeps the file's color out", Flags{NoColor: switched(true)}, func(f Flags) any { return f.Color }, Bool{}},
		{"env paths from the root", Flags{}, func(f Flags) any { return f.Env },
			list(filepath.Join("app", ".env.dev"), "/etc/app.env", filepath.Join("app", "more.env"))},
		{"-e replaces the file's env", Flags{Env: list("x.env")}, func(f Flags) any { return f.Env }, list("x.env")},
		{"port", Flags{}, func(f Flags) any { return f.Port }, str("6000")},
		{"unset flag with a default", Flags{PTY: String{Value: "auto"}}, func(f Flags) any { return f.PTY }, str("never")},
		{"a flag set by its environment variable wins", Flags{Socket: String{Value: "", Set: true}},
			func(f Flags) any { return f.Socket }, String{Value: "", Set: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flags := tt.flags
			flags.Root = str("app")
			s, err := Load(flags)
			if err != nil {
				t.Fatal(err)
			}
			if have := tt.want(s.flags); !reflect.DeepEqual(have, tt.value) {
				t.Errorf("have %+v, want %+v", have, tt.value)
			}
		})
	}
	// The root is where the file is, found through -f as through -d.
	s, err := Load(Flags{Procfile: str(filepath.Join(dir, "app", "Procfile"))})
	if err != nil {
		t.Fatal(err)
	}
	if have := s.Socket(); have != "app.sock" {
		t.Errorf("socket through -f: have %q, want app.sock", have)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		file  string // .procman in app/
		flags Flags
		err   string
	}{
		{name: "no file", file: "", err: ""},
		{name: "unknown key", file: "# x\nrestrat: web\n",
			err: `app/.procman:2: unknown key "restrat" (keys are the long names of start's flags)`},
		{name: "short name", file: "m: web=2\n", err: `app/.procman:1: unknown key "m" (keys are the long names of start's flags)`},
		{name: "help", file: "help: true\n", err: `app/.procman:1: unknown key "help" (keys are the long names of start's flags)`},
		{name: "export's flag", file: "app: x\n", err: `app/.procman:1: unknown key "app" (keys are the long names of start's flags)`},
		{name: "procfile", file: "procfile: Procfile.dev\n",
			err: "app/.procman:1: procfile cannot be set in .procman, which is found through it"},
		{name: "root", file: "root: x\n", err: "app/.procman:1: root cannot be set in .procman, which is found through it"},
		{name: "bad bool", file: "any-can-die: yes\n", err: `app/.procman:1: any-can-die: "yes" is not true or false`},
		{name: "bad bool under a flag", file: "any-can-die: yes\n", flags: Flags{AnyCanDie: switched(true)},
			err: `app/.procman:1: any-can-die: "yes" is not true or false`},
		{name: "scalar twice", file: "max-restarts: 1\nrestart: web\nmax-restarts: 2\n",
			err: "app/.procman:3: max-restarts given twice (first on line 1)"},
		{name: "alias and name", file: "formation: web=1\nconcurrency: web=2\n",
			err: "app/.procman:2: concurrency given twice (first on line 1)"},
		{name: "list twice", file: "can-die: web\ncan-die: web\n"},
		{name: "syntax", file: "can-die css\n", err: `app/.procman:1: expected "key: value"`},
		{name: "bad -d", flags: Flags{Root: str("nowhere")}, err: `-d "nowhere": no such directory`},
		{name: "-d a file", flags: Flags{Root: str("app/Procfile")}, err: `-d "app/Procfile": not a directory`},
		{name: "-d empty", flags: Flags{Root: str("")}, err: `-d "": empty directory name`},
		{name: "-f empty", flags: Flags{Procfile: str("")}, err: `-f "": empty file name`},
		{name: "-e empty", flags: Flags{Env: list("a", " ")}, err: `-e: empty file name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"app/Procfile": "web: serve\n"}
			if tt.file != "" {
				files["app/.procman"] = tt.file
			}
			inDir(t, files)
			flags := tt.flags
			if !flags.Root.Set && !flags.Procfile.Set {
				flags.Root = str("app")
			}
			_, err := Load(flags)
			checkErr(t, err, tt.err)
		})
	}
}

// The file's env becomes the project's env files; an empty item is an
// error, as on the command line.
func TestLoadEnvFiles(t *testing.T) {
	inDir(t, map[string]string{"app/Procfile": "web: serve\n", "app/.procman": "env: a.env, ,b.env\n"})
	s, err := Load(Flags{Root: str("app")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Project()
	checkErr(t, err, "-e: empty file name")

	s, err = Load(Flags{Root: str("app"), Env: list("x.env")})
	if err != nil {
		t.Fatal(err)
	}
	proj, err := s.Project()
	if err != nil {
		t.Fatal(err)
	}
	if len(proj.EnvFiles) != 1 || proj.EnvFiles[0].Path != "x.env" || proj.EnvFiles[0].Optional {
		t.Errorf("env files %+v, want x.env alone", proj.EnvFiles)
	}
}

// A .procman that cannot be read is an error; a missing one is none.
func TestLoadUnreadable(t *testing.T) {
	inDir(t, map[string]string{"Procfile": "web: serve\n", ".procman/x": ""})
	_, err := Load(Flags{})
	checkErr(t, err, ".procman: is a directory")
}

// Every key is one of Flags' fields, once.
func TestKeys(t *testing.T) {
	seen := map[any]string{}
	var f Flags
	for _, k := range keys {
		p := k.field(&f)
		if prev, dup := seen[p]; dup {
			t.Errorf("%s and %s are the same flag", prev, k.name)
		}
		seen[p] = k.name
	}
	if have := Keys(); !slices.Contains(have, "concurrency") || !slices.Contains(have, "can-die") || len(have) != len(keys)+1 {
		t.Errorf("Keys() = %q", have)
	}
}

// A foreman project's .foreman, in the current directory as foreman reads
// it, is read when the root has no .procman: foreman's keys set procman's
// flags of the same names, with a note; other keys are ignored with a
// warning.
func TestForemanFile(t *testing.T) {
	const note = "reading settings from .foreman; see docs/foreman.md to move them to .procman"
	ignored := func(line int, key string) Notice {
		return Notice{Warning: true, Msg: fmt.Sprintf(".foreman:%d: key %q ignored: procman reads "+
			"procfile, root, env, formation, concurrency, port, timeout, color and timestamp from .foreman", line, key)}
	}
	tests := []struct {
		name    string
		files   map[string]string // besides Procfile and app/Procfile
		flags   Flags
		want    Flags // the flags Load makes, but for Root when flags set it
		notices []Notice
		err     string
	}{
		{name: "foreman's keys", files: map[string]string{".foreman": "# vi: set ft=yaml :\n---\nprocfile: Procfile.dev\n" +
			"port: 3000\nformation: web=1,worker=2\ntimeout: 3\nenv: .env.shared, ./.env\ncolor: true\ntimestamp: no\n"},
			want: Flags{Procfile: str("Procfile.dev"), Port: str("3000"), Formation: str("web=1,worker=2"), Timeout: str("3"),
				Env: list(".env.shared", ".env"), Color: switched(true), Timestamp: switched(false)},
			notices: []Notice{{Msg: note}}},
		{name: "concurrency is formation", files: map[string]string{".foreman": "concurrency: worker=0\nport: 3000"},
			want: Flags{Formation: str("worker=0"), Port: str("3000")}, notices: []Notice{{Msg: note}}},
		{name: "unknown keys are ignored with a warning", files: map[string]string{".foreman": "app: shop\nport: 3000\nuser: deploy\ncan-die: web\n"},
			want:    Flags{Port: str("3000")},
			notices: []Notice{{Msg: note}, ignored(1, "app"), ignored(3, "user"), ignored(4, "can-die")}},
		{name: "the command line wins", files: map[string]string{".foreman": "port: 3000\ntimestamp: false\n"},
			flags: Flags{Port: str("4000"), NoTimestamp: switched(false)}, want: Flags{Port: str("4000"), NoTimestamp: switched(false)},
			notices: []Notice{{Msg: note}}},
		{name: "an empty .foreman", files: map[string]string{".foreman": "# nothing yet\n"}, notices: []Notice{{Msg: note}}},
		{name: ".procman wins, and .foreman is not read", files: map[string]string{".foreman": "port: 3000\nnonsense\n", ".procman": "timeout: 9\n"},
			want: Flags{Timeout: str("9")}},
		{name: "-d: .foreman from the current directory, as foreman reads it", flags: Flags{Root: str("app")},
			files: map[string]string{".foreman": "env: app/.env\n"}, want: Flags{Env: list("app/.env")}, notices: []Notice{{Msg: note}}},
		{name: "-d to a .procman: .foreman is not read", flags: Flags{Root: str("app")},
			files: map[string]string{".foreman": "port: 3000\n", "app/.procman": "port: 4000\n"}, want: Flags{Port: str("4000")}},
		{name: "root", files: map[string]string{".foreman": "root: app\n"}, want: Flags{Root: str("app")}, notices: []Notice{{Msg: note}}},
		{name: "root to a .procman", files: map[string]string{".foreman": "port: 1\nroot: app\n", "app/.procman": "port: 4000\n"},
			err: `.foreman:2: root "app" leads to app/.procman, and procman reads one of the two: move the settings of .foreman into it`},
		{name: "procfile to a .procman", files: map[string]string{".foreman": "procfile: app/Procfile\n", "app/.procman": "port: 4000\n"},
			err: `.foreman:1: procfile "app/Procfile" leads to app/.procman, and procman reads one of the two: move the settings of .foreman into it`},
		{name: "root that is no directory", files: map[string]string{".foreman": "root: nowhere\n"},
			err: `.foreman:1: root "nowhere": no such directory`},
		{name: "a key twice", files: map[string]string{".foreman": "port: 1\nport: 2\n"}, err: ".foreman:2: port given twice (first on line 1)"},
		{name: "not a switch", files: map[string]string{".foreman": "color: maybe\n"}, err: `.foreman:1: color: "maybe" is not true or false`},
		{name: "not key: value", files: map[string]string{".foreman": "port: 1\n:port 2\n"}, err: `.foreman:2: expected "key: value"`},
		{name: "a directory", files: map[string]string{".foreman/x": ""}, err: ".foreman: is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"Procfile": "web: serve\n", "app/Procfile": "web: serve\n"}
			for k, v := range tt.files {
				files[k] = v
			}
			inDir(t, files)
			s, err := Load(tt.flags)
			checkErr(t, err, tt.err)
			if err != nil {
				return
			}
			have := s.flags
			if tt.flags.Root.Set {
				have.Root = Flags{}.Root
			}
			if !reflect.DeepEqual(have, tt.want) {
				t.Errorf("flags\nhave %+v\nwant %+v", have, tt.want)
			}
			if !reflect.DeepEqual(s.Notices(), tt.notices) {
				t.Errorf("notices\nhave %+v\nwant %+v", s.Notices(), tt.notices)
			}
		})
	}
}

// What .foreman says reaches start: the Procfile it names, its formation
// and port, and its switches.
func TestForemanFileStart(t *testing.T) {
	inDir(t, map[string]string{
		"Procfile":     "web: serve\n",
		"Procfile.dev": "web: serve\nworker: work\ncss: build\n",
		".foreman":     "procfile: Procfile.dev\nport: 3000\nconcurrency: web=1,worker=2,css=0\ncolor: on\ntimestamp: false\n",
	})
	s, err := Load(Flags{Timeout: unsetTimeout()})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Start(noEnv(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, p := range st.Config.Processes {
		have = append(have, fmt.Sprintf("%s:%d", p.Label, p.Port))
	}
	if want := []string{"web.1:3000", "worker.1:3100", "worker.2:3101"}; !slices.Equal(have, want) {
		t.Errorf("processes %q, want %q", have, want)
	}
	if st.Color != On || st.Output.Timestamps {
		t.Errorf("color %v, timestamps %v; want On, false", st.Color, st.Output.Timestamps)
	}
}

// procman check -e /dev/zero has its twin here: a .procman or .foreman
// that is a link to /dev/zero ends with an error naming it.
func TestProjectFileTooLarge(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero on this system")
	}
	for _, name := range []string{".procman", ".foreman"} {
		t.Run(name, func(t *testing.T) {
			dir := inDir(t, map[string]string{"Procfile": "web: serve\n"})
			if err := os.Symlink("/dev/zero", filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
			_, err := Load(Flags{})
			checkErr(t, err, name+": larger than 1 MiB; is this a project file?")
		})
	}
}

// A project file of 1 MiB is read; one byte more is an error.
func TestProjectFileAtMaxSize(t *testing.T) {
	line := "port: 3000\n# " + strings.Repeat("x", maxFileSize-len("port: 3000\n# \n")) + "\n"
	inDir(t, map[string]string{"Procfile": "web: serve\n", ".procman": line})
	s, err := Load(Flags{})
	if err != nil {
		t.Fatal(err)
	}
	if s.flags.Port != str("3000") {
		t.Errorf("port %+v", s.flags.Port)
	}
	inDir(t, map[string]string{"Procfile": "web: serve\n", ".procman": line + "\n"})
	_, err = Load(Flags{})
	checkErr(t, err, ".procman: larger than 1 MiB; is this a project file?")
}
