package procfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

var parseTests = []struct {
	name      string
	in        string
	want      []Entry
	continued []int
	err       string // exact message; "" means success
}{
	{
		name: "two entries",
		in:   "web: bundle exec rails s\nworker: bundle exec sidekiq\n",
		want: []Entry{{"web", "bundle exec rails s", 1}, {"worker", "bundle exec sidekiq", 2}},
	},
	{
		name: "no space after colon",
		in:   "web:./server\n",
		want: []Entry{{"web", "./server", 1}},
	},
	{
		name: "spaces and tabs after colon skipped, trailing kept",
		in:   "web: \t  ./server --x  \n",
		want: []Entry{{"web", "./server --x  ", 1}},
	},
	{
		name: "name characters",
		in:   "Web_2-x: a\n",
		want: []Entry{{"Web_2-x", "a", 1}},
	},
	{
		name: "colons quotes and vars untouched",
		in:   "web: echo \"a: b\" 'c:d' $PORT ${X:-y} | tr a b # not a comment for us\n",
		want: []Entry{{"web", "echo \"a: b\" 'c:d' $PORT ${X:-y} | tr a b # not a comment for us", 1}},
	},
	{
		name: "blank lines and comments skipped",
		in:   "\n# a comment\n   \n\t# indented comment\nweb: a\n\n#worker: b\n",
		want: []Entry{{"web", "a", 5}},
	},
	{
		name: "indented entry",
		in:   "  web: a\n\tworker: b\n",
		want: []Entry{{"web", "a", 1}, {"worker", "b", 2}},
	},
	{
		name: "CRLF",
		in:   "web: a\r\n\r\nworker: b c\r\n",
		want: []Entry{{"web", "a", 1}, {"worker", "b c", 3}},
	},
	{
		name: "UTF-8 BOM",
		in:   "\xEF\xBB\xBFweb: a\n",
		want: []Entry{{"web", "a", 1}},
	},
	{
		name: "no final newline",
		in:   "web: a\nworker: b",
		want: []Entry{{"web", "a", 1}, {"worker", "b", 2}},
	},
	{
		name: "non-UTF-8 bytes in command kept",
		in:   "web: echo \xff\xfe!\n",
		want: []Entry{{"web", "echo \xff\xfe!", 1}},
	},
	{
		name:      "continuation keeps indentation",
		in:        "web: gunicorn app:app \\\n    --workers 4 \\\n    --bind 0.0.0.0:$PORT\nworker: b\n",
		want:      []Entry{{"web", "gunicorn app:app     --workers 4     --bind 0.0.0.0:$PORT", 1}, {"worker", "b", 4}},
		continued: []int{1},
	},
	{
		name:      "continuation joins without a space",
		in:        "web: ec\\\nho hi\n",
		want:      []Entry{{"web", "echo hi", 1}},
		continued: []int{1},
	},
	{
		name:      "continuation with CRLF",
		in:        "web: a \\\r\n  b\r\nworker: c\r\n",
		want:      []Entry{{"web", "a   b", 1}, {"worker", "c", 3}},
		continued: []int{1},
	},
	{
		name:      "continuation after the name",
		in:        "web: \\\n  ./server\n",
		want:      []Entry{{"web", "./server", 1}},
		continued: []int{1},
	},
	{
		name: "escaped backslash does not continue",
		in:   "web: echo a\\\\\nworker: b\n",
		want: []Entry{{"web", "echo a\\\\", 1}, {"worker", "b", 2}},
	},
	{
		name:      "three backslashes continue",
		in:        "web: echo a\\\\\\\nb\n",
		want:      []Entry{{"web", "echo a\\\\b", 1}},
		continued: []int{1},
	},
	{
		name: "backslash then space does not continue",
		in:   "web: a \\ \nworker: b\n",
		want: []Entry{{"web", "a \\ ", 1}, {"worker", "b", 2}},
	},
	{
		name:      "continuation onto a blank line ends the entry",
		in:        "web: a \\\n\nworker: b\n",
		want:      []Entry{{"web", "a ", 1}, {"worker", "b", 3}},
		continued: []int{1},
	},
	{
		name:      "continuation at end of file",
		in:        "web: a \\",
		want:      []Entry{{"web", "a ", 1}},
		continued: []int{1},
	},
	{
		name:      "continuation at end of file with newline",
		in:        "web: a \\\n",
		want:      []Entry{{"web", "a ", 1}},
		continued: []int{1},
	},
	{
		name: "comment ending in backslash does not continue",
		in:   "# note \\\nweb: a\n",
		want: []Entry{{"web", "a", 2}},
	},
	{
		name:      "continued line that looks like an entry is part of the command",
		in:        "web: a \\\nworker: b\n",
		want:      []Entry{{"web", "a worker: b", 1}},
		continued: []int{1},
	},
	{
		name: "release is an ordinary entry",
		in:   "release: ./migrate\nweb: ./server\n",
		want: []Entry{{Release, "./migrate", 1}, {"web", "./server", 2}},
	},
	{
		name: "long line",
		// Near the longest argument exec takes on Linux (128 KiB).
		in:   "web: echo " + strings.Repeat("x", 120<<10+7) + "\n",
		want: []Entry{{"web", "echo " + strings.Repeat("x", 120<<10+7), 1}},
	},

	{name: "empty file", in: "", err: "Procfile: no processes defined"},
	{name: "only comments", in: "# web: a\n\n  \n", err: "Procfile: no processes defined"},
	{name: "only a BOM", in: "\xEF\xBB\xBF", err: "Procfile: no processes defined"},
	{name: "line without colon", in: "web: a\n\nworker b\n", err: `Procfile:3: expected "name: command"`},
	{name: "space before colon", in: "web : a\n", err: `Procfile:1: expected "name: command"`},
	{name: "empty name", in: ": a\n", err: `Procfile:1: expected "name: command"`},
	{name: "dot in name", in: "web.1: a\n", err: `Procfile:1: expected "name: command"`},
	{name: "non-ASCII name", in: "wéb: a\n", err: `Procfile:1: expected "name: command"`},
	{name: "name only", in: "web\n", err: `Procfile:1: expected "name: command"`},
	{name: "form feed line", in: "\f\n", err: `Procfile:1: expected "name: command"`},
	{name: "bad line after continuation is reported at its start", in: "web: a\nx \\\n y\n", err: `Procfile:2: expected "name: command"`},
	{name: "empty command", in: "web:\n", err: `Procfile:1: empty command for "web"`},
	{name: "blank command", in: "web: \t \r\n", err: `Procfile:1: empty command for "web"`},
	{name: "empty continued command", in: "web: \\\n\n", err: `Procfile:1: empty command for "web"`},
	{
		name: "duplicate name",
		in:   "# app\nweb: a\nworker: b\n\nweb: c\n",
		err:  `Procfile:5: duplicate process name "web" (first on line 2)`,
	},
	{name: "names are case-sensitive", in: "web: a\nWeb: b\n", want: []Entry{{"web", "a", 1}, {"Web", "b", 2}}},
	{name: "UTF-16LE BOM", in: "\xFF\xFEw\x00e\x00b\x00:\x00 \x00a\x00\n\x00", err: "Procfile: file is UTF-16; save it as UTF-8"},
	{name: "UTF-16BE BOM", in: "\xFE\xFF\x00w\x00e\x00b\x00:\x00 \x00a\x00\n", err: "Procfile: file is UTF-16; save it as UTF-8"},
	{name: "UTF-16LE without BOM", in: "w\x00e\x00b\x00:\x00 \x00a\x00\n\x00", err: "Procfile: file has NUL bytes, as UTF-16 does; save it as UTF-8"},
	{name: "NUL in command", in: "web: a\x00b\n", err: "Procfile: file has NUL bytes, as UTF-16 does; save it as UTF-8"},
}

func TestParse(t *testing.T) {
	for _, tt := range parseTests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(strings.NewReader(tt.in), "Procfile")
			if tt.err != "" {
				var pe *ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("err = %v (%T), want *ParseError %q", err, err, tt.err)
				}
				if got := err.Error(); got != tt.err {
					t.Fatalf("err = %q, want %q", got, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v, want nil", err)
			}
			if p.Path != "Procfile" {
				t.Errorf("Path = %q, want %q", p.Path, "Procfile")
			}
			if !reflect.DeepEqual(p.Entries, tt.want) {
				t.Errorf("Entries:\n got %+v\nwant %+v", p.Entries, tt.want)
			}
			if !reflect.DeepEqual(p.Continued, tt.continued) {
				t.Errorf("Continued = %v, want %v", p.Continued, tt.continued)
			}
		})
	}
}

func TestParseErrorFields(t *testing.T) {
	_, err := Parse(strings.NewReader("web: a\nweb: b\n"), "app/Procfile.dev")
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *ParseError", err)
	}
	want := ParseError{Path: "app/Procfile.dev", Line: 2, Msg: `duplicate process name "web" (first on line 1)`}
	if *pe != want {
		t.Errorf("got %+v, want %+v", *pe, want)
	}
	if got, w := pe.Error(), `app/Procfile.dev:2: duplicate process name "web" (first on line 1)`; got != w {
		t.Errorf("Error() = %q, want %q", got, w)
	}
}

func TestParseReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Parse(iotest.ErrReader(boom), "Procfile")
	if !errors.Is(err, boom) || err.Error() != "Procfile: boom" {
		t.Errorf("err = %v, want %q wrapping boom", err, "Procfile: boom")
	}
}

func TestParseFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "Procfile")
	if err := os.WriteFile(good, []byte("web: ./server\nworker: ./work\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := ParseFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if p.Path != good {
		t.Errorf("Path = %q, want %q", p.Path, good)
	}
	if got, want := p.Names(), []string{"web", "worker"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	if e, ok := p.Lookup("worker"); !ok || e != (Entry{"worker", "./work", 2}) {
		t.Errorf("Lookup(worker) = %v, %v", e, ok)
	}
	if e, ok := p.Lookup("wrk"); ok || e != (Entry{}) {
		t.Errorf("Lookup(wrk) = %v, %v, want zero, false", e, ok)
	}

	bad := filepath.Join(dir, "Procfile.bad")
	if err := os.WriteFile(bad, []byte("web: a\nnope\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ParseFile(bad)
	var pe *ParseError
	if !errors.As(err, &pe) || err.Error() != bad+`:2: expected "name: command"` {
		t.Errorf("ParseFile(bad) err = %v", err)
	}
}

func TestParseFileErrors(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("adir", 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want string
		is   error
	}{
		{"Procfile", "Procfile: no such file or directory", fs.ErrNotExist},
		{"sub/Procfile.dev", "sub/Procfile.dev: no such file or directory", fs.ErrNotExist},
		{"adir", "adir: is a directory", nil},
	}
	for _, tt := range tests {
		_, err := ParseFile(tt.path)
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseFile(%q) err = %v, want %q", tt.path, err, tt.want)
			continue
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("ParseFile(%q) err = %v, want it to wrap %v", tt.path, err, tt.is)
		}
	}
}

// procman check -f /dev/zero ends with an error instead of reading for ever.
func TestParseFileOfEndlessInput(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero here")
	}
	_, err := ParseFile("/dev/zero")
	if !errors.Is(err, ErrTooLarge) || err.Error() != "/dev/zero: larger than 1 MiB; is this a Procfile?" {
		t.Errorf("want /dev/zero: larger than 1 MiB, have %v", err)
	}
}

// A Procfile of exactly MaxSize bytes is read.
func TestParseAtMaxSize(t *testing.T) {
	line := "web: " + strings.Repeat("x", MaxSize-len("web: \n")) + "\n"
	p, err := Parse(strings.NewReader(line), "Procfile")
	if err != nil || len(p.Entries) != 1 {
		t.Fatalf("a Procfile of %d bytes: %v", len(line), err)
	}
	if _, err := Parse(strings.NewReader(line+"\n"), "Procfile"); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a Procfile of %d bytes: want ErrTooLarge, have %v", len(line)+1, err)
	}
}
