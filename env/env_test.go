package env

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// parseCases are whole .env files and the variables they define.
var parseCases = []struct {
	name string
	src  string
	want map[string]string
}{
	{"empty", "", map[string]string{}},
	{"comments and blank lines", "# a comment\n\n   # indented comment\n\t\n", map[string]string{}},
	{"plain", "A=1\nB=two words\n", map[string]string{"A": "1", "B": "two words"}},
	{"spaces around", "  A = 1  \n", map[string]string{"A": "1"}},
	{"yaml style", "A: 1\n", map[string]string{"A": "1"}},
	{"export", "export A=1\nexport  B='x'\n", map[string]string{"A": "1", "B": "x"}},
	{"name characters", "a_b.C9=x\n", map[string]string{"a_b.C9": "x"}},
	{"empty value", "A=\nB=''\nC=\"\"\n", map[string]string{"A": "", "B": "", "C": ""}},
	{"value with equals", "URL=postgres://u@h/db?sslmode=disable\n", map[string]string{"URL": "postgres://u@h/db?sslmode=disable"}},
	{"single quotes literal", `A='x $B ${B} \n # not a comment'` + "\n", map[string]string{"A": `x $B ${B} \n # not a comment`}},
	{"double quote escapes", `A="a\nb\rc\"d"` + "\n", map[string]string{"A": "a\nb\rc\"d"}},
	{"multi-line double quotes", "A=\"line1\nline2\n\"\nB=2\n", map[string]string{"A": "line1\nline2\n", "B": "2"}},
	{"multi-line single quotes", "A='x\ny'\n", map[string]string{"A": "x\ny"}},
	{"quote of the other kind inside", `A="it's"` + "\nB='say \"hi\"'\n", map[string]string{"A": "it's", "B": `say "hi"`}},
	{"inline comment", "A=1 # one\nB=x#y\nC=\"q\" # c\n", map[string]string{"A": "1", "B": "x#y", "C": "q"}},
	{"hash inside quotes", `A="x # y"` + "\n", map[string]string{"A": "x # y"}},
	{"two statements on a line", `A="x" B=2` + "\n", map[string]string{"A": "x", "B": "2"}},
	{"expansion", "A=1\nB=${A}-$A\nC='${A}'\nD=\"<${A}>\"\nE=${UNSET}\nF=\\$A\nG=\"\\$A\"\n",
		map[string]string{"A": "1", "B": "1-1", "C": "${A}", "D": "<1>", "E": "", "F": "$A", "G": "$A"}},
	{"expansion sees only earlier lines", "B=${A}\nA=1\n", map[string]string{"A": "1", "B": ""}},
	{"expansion extends an earlier line", "P=a\nP=$P:b\n", map[string]string{"P": "a:b"}},
	{"names set nowhere expand to nothing", "H=${HOME}${PATH}\n", map[string]string{"H": ""}},
	{"godotenv's reference quirks", "A=1\nB=$A}x\nC=$a ${a}\nD=$(A)\nE=$Ax $\nF=\"\\\\$A\"\n",
		map[string]string{"A": "1", "B": "1x", "C": "$a ${a}", "D": "1)", "E": "1x $", "F": "$A"}},
	{"a value found is not expanded again", "A=\\$B\nB=x\nC=$A\n", map[string]string{"A": "$B", "B": "x", "C": "$B"}},
	{"escaped quote at the end of quoted values", `A="say \"hi\""` + "\n" + `B='it\''` + "\n",
		map[string]string{"A": `say "hi"`, "B": `it\'`}},
	{"later line wins", "A=1\nA=2\n", map[string]string{"A": "2"}},
	{"byte-order mark", "\ufeffA=1\n", map[string]string{"A": "1"}},
	{"CRLF", "A=1\r\nB=\"x\r\ny\"\r\nC='z'\r\n", map[string]string{"A": "1", "B": "x\ny", "C": "z"}},
	{"no final newline", "A=1\nB=2", map[string]string{"A": "1", "B": "2"}},
	{"CR at the end", "A=\"1\"\r", map[string]string{"A": "1"}},
	{"CRs before a newline", "A='1\r\r\n2'\r\n", map[string]string{"A": "1\n2"}},
	{"CR inside a line", "A=\"1\r2\"\n", map[string]string{"A": "1\r2"}},
	{"not UTF-8 kept when quoted", "A=\"\xff\xfe\"\nB='\xff'\n", map[string]string{"A": "\xff\xfe", "B": "\xff"}},
	{"not UTF-8 unquoted is replaced", "A=\xff\n", map[string]string{"A": "\uFFFD"}},
}

// errorCases are malformed files: the line and message of the *ParseError.
var errorCases = []struct {
	name string
	src  string
	line int
	msg  string
}{
	{"no equals", "A=1\nthis is not a setting\nB=2\n", 2, msgExpected},
	{"bare word", "FOO\n", 1, msgExpected},
	{"bare word without final newline", "A=1\nFOO", 2, msgExpected},
	{"export alone", "export\n", 1, msgExpected},
	{"export without value", "export FOO\n", 1, msgExpected},
	{"bad name character", "A=1\nFOO-BAR=x\n", 2, msgBadName},
	{"quoted name", "\"A\"=1\n", 1, msgBadName},
	{"comment after bare word", "FOO # why\n", 1, msgExpected},
	{"pasted token", "A=1\nB=\"x\"\nsk-live-1\n", 3, msgExpected},
	{"unterminated double", "A=1\nB=\"open\nC=3\n", 2, msgUnterminated + " for B"},
	{"unterminated single", "A='x\n", 1, msgUnterminated + " for A"},
	{"unterminated with other quote inside", "A=\"it's\n", 1, msgUnterminated + " for A"},
	{"escaped closing quote", "A=\"x\\\"\n", 1, msgUnterminated + " for A"},
	{"unterminated after escaped quote", "A=\"a\"\nB=\"b\\\"\nC=c\n", 2, msgUnterminated + " for B"},
	{"unterminated after multi-line", "A=\"multi\nline\"\nB=\"open\n", 3, msgUnterminated + " for B"},
	{"unterminated export", "export K='v\n", 1, msgUnterminated + " for K"},
	{"bad line after multi-line", "A=\"multi\nline\"\nbad line\n", 3, msgExpected},
	{"junk after closing quote of multi-line", "A=\"multi\nline\" junk\n", 2, msgExpected + " (a value quoted on line 1 ends on this line)"},
	{"missing closing quote", "A=\"open\nB=\"x\"\n", 2, msgBadName + " (a value quoted on line 1 ends on this line)"},
	{"missing closing single quote", "A='open\n\nB='x'\n", 3, msgBadName + " (a value quoted on line 1 ends on this line)"},
	{"CR at the end", "=\"\r", 1, msgUnterminated},
	{"CRs before a newline", "A=1\r\r\nB\r\n", 2, msgExpected},
	{"junk right after closing quote", "A='x'junk\n", 1, msgExpected},
	{"empty name", "=x\n", 1, msgEmptyName},
	{"empty name yaml", "A=1\n: x\n", 2, msgEmptyName},
	{"empty name multi-line", "A=\"x\ny\"\n=\"p\nq\"\n", 3, msgEmptyName},
	{"CRLF", "A=1\r\nB=2\r\nbad\r\n", 3, msgExpected},
	{"byte-order mark", "\ufeffFOO\r\nA=1", 1, msgExpected},
	{"NUL", "A=1\nB=x\x00y\n", 2, msgNUL},
	{"UTF-16", "\xff\xfeA\x00=\x001\x00\n\x00", 1, msgUTF16},
	{"UTF-16 without mark", "A\x00=\x001\x00", 1, msgNUL},
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReadGrammar reads each file over an empty environment.
func TestReadGrammar(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, dir, "test.env", tc.src)
			got, err := Read(nil, []File{{Path: path}})
			if err != nil {
				t.Fatalf("Read(%q): %v", tc.src, err)
			}
			if !maps.Equal(got.Vars, tc.want) {
				t.Errorf("Read(%q)\n got %q\nwant %q", tc.src, got.Vars, tc.want)
			}
		})
	}
}

func TestReadParseErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, dir, "test.env", tc.src)
			_, err := Read([]string{"A=real"}, []File{{Path: path}})
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Read(%q) = %v, want a *ParseError", tc.src, err)
			}
			if got, want := err.Error(), path+":"+strconv.Itoa(tc.line)+": "+tc.msg; got != want {
				t.Errorf("Read(%q)\n got %s\nwant %s", tc.src, got, want)
			}
		})
	}
}

// TestParseErrorHidesValues puts a secret into every malformed spot godotenv
// would quote in its own message.
func TestParseErrorHidesValues(t *testing.T) {
	const secret = "hunter2"
	for _, src := range []string{
		"PASSWORD=\"hunter2\n",
		"PASSWORD='hunter2\n",
		"PASSWORD=ok\nhunter2\n",
		"PASSWORD hunter2\n",
		"TOKEN=\"a\nhunter2\" hunter2\n",
		"X=1\nsk-hunter2=1\n",
		"K=hunter2\n=hunter2\n",
		"K=hunter2\nK2=\"hunter2\\\"\n",
		"K=hunter2\nB=x\x00hunter2\n",
	} {
		_, err := parse([]byte(src), "s.env")
		if err == nil {
			t.Errorf("parse(%q): no error", src)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("parse(%q) = %q: contains the value", src, err)
		}
	}
}

func TestReadFiles(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.env", "A=a\nB=a\nC=a\n")
	b := writeFile(t, dir, "b.env", "B=b\nC=b\n")
	c := writeFile(t, dir, "c.env", "C=c\n")
	missing := filepath.Join(dir, ".env.test")

	tests := []struct {
		name  string
		files []File
		want  map[string]string
	}{
		{"none", nil, map[string]string{}},
		{"one", []File{{Path: a}}, map[string]string{"A": "a", "B": "a", "C": "a"}},
		{"later wins", []File{{Path: a}, {Path: b}, {Path: c}}, map[string]string{"A": "a", "B": "b", "C": "c"}},
		{"order matters", []File{{Path: c}, {Path: b}, {Path: a}}, map[string]string{"A": "a", "B": "a", "C": "a"}},
		{"missing optional skipped", []File{{Path: a}, {Path: missing, Optional: true}, {Path: c}}, map[string]string{"A": "a", "B": "a", "C": "c"}},
		{"present optional read", []File{{Path: b, Optional: true}}, map[string]string{"B": "b", "C": "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Read(nil, tc.files)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got.Vars, tc.want) {
				t.Errorf("got %q, want %q", got.Vars, tc.want)
			}
			// Load is the same over an empty environment.
			if vars, err := Load(tc.files); err != nil || !maps.Equal(vars, tc.want) {
				t.Errorf("Load: got %q, %v, want %q", vars, err, tc.want)
			}
		})
	}
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.env", "A=1\n")
	bad := writeFile(t, dir, "bad.env", "A=1\nnope\n")
	missing := filepath.Join(dir, ".env.test")

	tests := []struct {
		name   string
		files  []File
		want   string
		target error
	}{
		{"missing required", []File{{Path: good}, {Path: missing}}, missing + ": no such file or directory", fs.ErrNotExist},
		{"directory", []File{{Path: dir}}, dir + ": is a directory", nil},
		{"directory even if optional", []File{{Path: dir, Optional: true}}, dir + ": is a directory", nil},
		{"malformed after good", []File{{Path: good}, {Path: bad}}, bad + ":2: " + msgExpected, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Read(nil, tc.files)
			if err == nil {
				t.Fatalf("got %q, want error %q", got.Environ, tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("got error %q, want %q", err, tc.want)
			}
			if tc.target != nil && !errors.Is(err, tc.target) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.target)
			}
		})
	}

	t.Run("unreadable", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root reads files whatever their mode")
		}
		path := writeFile(t, dir, "secret.env", "A=1\n")
		if err := os.Chmod(path, 0); err != nil {
			t.Fatal(err)
		}
		_, err := Read(nil, []File{{Path: path, Optional: true}})
		if want := path + ": permission denied"; err == nil || err.Error() != want {
			t.Errorf("got error %v, want %q", err, want)
		}
	})
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		vars    map[string]string
		want    []string
	}{
		{"nothing", nil, nil, []string{}},
		{"files only, sorted", nil, map[string]string{"B": "2", "A": "1", "C": ""}, []string{"A=1", "B=2", "C="}},
		{"environ only, order kept", []string{"Z=1", "A=2"}, nil, []string{"Z=1", "A=2"}},
		{"real environment wins", []string{"PATH=/bin", "PORT=80"}, map[string]string{"PORT": "5000", "DB": "x"}, []string{"PATH=/bin", "PORT=80", "DB=x"}},
		{"empty real value still wins", []string{"DEBUG="}, map[string]string{"DEBUG": "1"}, []string{"DEBUG="}},
		{"value with equals", []string{"A=b=c"}, map[string]string{"A": "x", "B": "d=e"}, []string{"A=b=c", "B=d=e"}},
		{"entry without equals sets nothing", []string{"WEIRD"}, map[string]string{"WEIRD": "1"}, []string{"WEIRD", "WEIRD=1"}},
		{"duplicates in environ kept", []string{"A=1", "A=2"}, map[string]string{"A": "3"}, []string{"A=1", "A=2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := slices.Clone(tc.environ)
			got := Merge(tc.environ, tc.vars)
			if !slices.Equal(got, tc.want) {
				t.Errorf("Merge(%q, %q)\n got %q\nwant %q", tc.environ, tc.vars, got, tc.want)
			}
			if !slices.Equal(tc.environ, before) {
				t.Errorf("Merge modified environ: %q", tc.environ)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	environ := []string{"A=1", "B=", "C=x=y", "NOEQ", "A=2", "=z"}
	tests := []struct {
		key    string
		want   string
		wantOK bool
	}{
		{"A", "2", true},
		{"B", "", true},
		{"C", "x=y", true},
		{"NOEQ", "", false},
		{"D", "", false},
		{"", "z", true},
	}
	for _, tc := range tests {
		got, ok := Lookup(environ, tc.key)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tc.key, got, ok, tc.want, tc.wantOK)
		}
	}
}

// procman check -e /dev/zero ends with an error naming the file instead
// of reading for ever.
func TestReadDevZero(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero on this system")
	}
	_, err := Read(nil, []File{{Path: "/dev/zero"}})
	if want := "/dev/zero: larger than 1 MiB; is this an env file?"; err == nil || err.Error() != want {
		t.Errorf("got error %v, want %q", err, want)
	}
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("errors.Is(%v, ErrTooLarge) = false", err)
	}
}

// An env file of MaxSize bytes is read; one byte more is an error, also
// for the optional default .env.
func TestReadAtMaxSize(t *testing.T) {
	dir := t.TempDir()
	line := "A=" + strings.Repeat("x", MaxSize-len("A=\n")) + "\n"
	fits := writeFile(t, dir, "fits.env", line)
	res, err := Read(nil, []File{{Path: fits}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Vars["A"]) != MaxSize-len("A=\n") {
		t.Errorf("A has %d bytes", len(res.Vars["A"]))
	}
	big := writeFile(t, dir, ".env", line+"\n")
	_, err = Read(nil, []File{{Path: big, Optional: true}})
	if want := big + ": larger than 1 MiB; is this an env file?"; err == nil || err.Error() != want {
		t.Errorf("got error %v, want %q", err, want)
	}
}
