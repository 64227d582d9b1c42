package env

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// envNames are the names of the files of an expansion case, in order.
var envNames = []string{".env", ".env.local"}

// expansionCases are env files read over a real environment: what the
// process then sees, and the warnings.
var expansionCases = []struct {
	name    string
	environ []string
	files   []string // the contents of .env, then .env.local
	want    []string // KEY=value entries the process sees
	unset   []string // keys the process does not see
	warn    []Warning
}{
	{
		name:    "DATA_DIR=${HOME}/data uses the real HOME",
		environ: []string{"HOME=/home/ann"},
		files:   []string{"DATA_DIR=${HOME}/data\n"},
		want:    []string{"DATA_DIR=/home/ann/data", "HOME=/home/ann"},
	},
	{
		name:    "FRUIT2=${FRUIT} agrees with the FRUIT the process gets",
		environ: []string{"FRUIT=apple"},
		files:   []string{"FRUIT=banana\nFRUIT2=${FRUIT}\n"},
		want:    []string{"FRUIT=apple", "FRUIT2=apple"},
	},
	{
		name:    "PATH=$PATH:./bin extends the real PATH",
		environ: []string{"PATH=/usr/bin:/bin"},
		files:   []string{"PATH=$PATH:./bin\n"},
		want:    []string{"PATH=/usr/bin:/bin:./bin"},
	},
	{
		name:    "PYTHONPATH=./src:${PYTHONPATH}",
		environ: []string{"PYTHONPATH=/opt/lib"},
		files:   []string{"PYTHONPATH=./src:${PYTHONPATH}\n"},
		want:    []string{"PYTHONPATH=./src:/opt/lib"},
	},
	{
		name:  "PYTHONPATH=./src:${PYTHONPATH} without a real PYTHONPATH is ./src: and no warning",
		files: []string{"PYTHONPATH=./src:${PYTHONPATH}\n"},
		want:  []string{"PYTHONPATH=./src:"},
	},
	{
		name:  "escaped quote at the end of a double-quoted value",
		files: []string{`GREETING="say \"hi\""` + "\n"},
		want:  []string{`GREETING=say "hi"`},
	},
	{
		name:    "a file line extends the real value after the line before it",
		environ: []string{"PATH=/bin"},
		files:   []string{"PATH=$PATH:./bin\nGOBIN=./bin\nPATH=${PATH}:${GOBIN}/tools\nWHERE=$PATH\n"},
		want:    []string{"PATH=/bin:./bin:./bin/tools", "WHERE=/bin:./bin:./bin/tools"},
	},
	{
		name:    "a plain line after an extension does not undo it",
		environ: []string{"FOO=x"},
		files:   []string{"FOO=$FOO:y\nFOO=z\n"},
		want:    []string{"FOO=x:y"},
	},
	{
		name:    "an extension after a plain line extends the real value",
		environ: []string{"FOO=x"},
		files:   []string{"FOO=z\nFOO=$FOO:y\n"},
		want:    []string{"FOO=x:y"},
	},
	{
		name:    "a later file sees the earlier file as merged",
		environ: []string{"HOST=real.example"},
		files:   []string{"HOST=db\nPORT=5432\n", "DATABASE_URL=postgres://${HOST}:${PORT}/app\n"},
		want:    []string{"DATABASE_URL=postgres://real.example:5432/app", "HOST=real.example", "PORT=5432"},
	},
	{
		name:  "a later file extends an earlier file's value",
		files: []string{"FLAGS=-v\n", "FLAGS=\"$FLAGS -race\"\n"},
		want:  []string{"FLAGS=-v -race"},
	},
	{
		name:    "single-quoted values are never expanded",
		environ: []string{"HOME=/home/ann", "PATH=/bin"},
		files:   []string{"A='${HOME} $MISSING'\nPATH='$PATH:./bin'\n"},
		want:    []string{"A=${HOME} $MISSING", "PATH=/bin"},
	},
	{
		name:    `\$ escapes a dollar in double quotes and unquoted values`,
		environ: []string{"HOME=/home/ann"},
		files:   []string{"A=\\$HOME\nB=\"\\${MISSING}\"\n"},
		want:    []string{"A=$HOME", "B=${MISSING}"},
	},
	{
		name:    "an empty real value is set",
		environ: []string{"DEBUG="},
		files:   []string{"X=<${DEBUG}>\n"},
		want:    []string{"X=<>", "DEBUG="},
	},
	{
		name:    "a real value is not expanded again",
		environ: []string{"PASSWORD=pa$HOME"},
		files:   []string{"COPY=$PASSWORD\n"},
		want:    []string{"COPY=pa$HOME"},
	},
	{
		name:    "the last of duplicate real entries counts",
		environ: []string{"A=1", "A=2"},
		files:   []string{"B=$A\n"},
		want:    []string{"B=2"},
	},
	{
		name:    "${DATABSE_URL} is not set anywhere",
		environ: []string{"DATABASE_URL=postgres://db/app"},
		files:   []string{"# settings\nA=1\n\nURL=${DATABSE_URL}\n"},
		want:    []string{"URL="},
		warn:    []Warning{{".env", 4, "DATABSE_URL"}},
	},
	{
		name:  "a name set only on a later line is not set yet",
		files: []string{"B=${A}\nA=1\n"},
		want:  []string{"B=", "A=1"},
		warn:  []Warning{{".env", 1, "A"}},
	},
	{
		name:  "a name set only in a later file is not set yet",
		files: []string{"B=${A}\n", "A=1\n"},
		want:  []string{"B=", "A=1"},
		warn:  []Warning{{".env", 1, "A"}},
	},
	{
		name:  "warnings name their file and the line of their statement",
		files: []string{"A=1\n", "B=\"one\n${X}\n$X ${Y}$X\"\nC='$Z'\nexport D=$A$Z\\$W\n"},
		want:  []string{"B=one\n\n ", "D=1$W"},
		warn:  []Warning{{".env.local", 1, "X"}, {".env.local", 1, "Y"}, {".env.local", 5, "Z"}},
	},
	{
		name:    "a line that refers to its own key and another unset name",
		environ: []string{},
		files:   []string{"PATH=$PATH:$GOPATH/bin\n"},
		want:    []string{"PATH=:/bin"},
		warn:    []Warning{{".env", 1, "GOPATH"}},
	},
}

func TestEnvExpansion(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, tc := range expansionCases {
		t.Run(tc.name, func(t *testing.T) {
			var files []File
			for i, src := range tc.files {
				writeFile(t, ".", envNames[i], src)
				files = append(files, File{Path: envNames[i]})
			}
			got, err := Read(tc.environ, files)
			if err != nil {
				t.Fatal(err)
			}
			for _, kv := range tc.want {
				k, want, _ := strings.Cut(kv, "=")
				if have, ok := Lookup(got.Environ, k); !ok || have != want {
					t.Errorf("%s: have %q (set: %v), want %q", k, have, ok, want)
				}
				// Vars holds what the process sees too, for the keys the
				// files set.
				if have, ok := got.Vars[k]; ok && have != want {
					t.Errorf("Vars[%s] = %q, want %q", k, have, want)
				}
			}
			for _, k := range tc.unset {
				if v, ok := Lookup(got.Environ, k); ok {
					t.Errorf("%s=%q, want it unset", k, v)
				}
			}
			if !slices.Equal(got.Warnings, tc.warn) {
				t.Errorf("warnings\nhave %v\nwant %v", got.Warnings, tc.warn)
			}
		})
	}
}

// TestReadResult checks the whole of a Result: where the variables go in
// Environ, and that Vars holds every key a file sets, with the value the
// process gets.
func TestReadResult(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.env", "PATH=$PATH:./bin\nFRUIT=banana\nFRUIT2=${FRUIT}\nZ=1\n")
	b := writeFile(t, dir, "b.env", "B=$Z\n")
	environ := []string{"HOME=/h", "PATH=/bin", "WEIRD", "FRUIT=apple", "PATH=/usr/bin"}
	before := slices.Clone(environ)

	got, err := Read(environ, []File{{Path: a}, {Path: b}})
	if err != nil {
		t.Fatal(err)
	}
	wantEnviron := []string{"HOME=/h", "PATH=/usr/bin:./bin", "WEIRD", "FRUIT=apple", "PATH=/usr/bin:./bin", "B=1", "FRUIT2=apple", "Z=1"}
	if !slices.Equal(got.Environ, wantEnviron) {
		t.Errorf("Environ\nhave %q\nwant %q", got.Environ, wantEnviron)
	}
	wantVars := map[string]string{"PATH": "/usr/bin:./bin", "FRUIT": "apple", "FRUIT2": "apple", "Z": "1", "B": "1"}
	if !maps.Equal(got.Vars, wantVars) {
		t.Errorf("Vars\nhave %q\nwant %q", got.Vars, wantVars)
	}
	if len(got.Warnings) != 0 {
		t.Errorf("warnings: %v", got.Warnings)
	}
	if !slices.Equal(environ, before) {
		t.Errorf("Read modified environ: %q", environ)
	}
}

func TestWarningString(t *testing.T) {
	w := Warning{Path: ".env", Line: 4, Name: "DATABSE_URL"}
	want := ".env:4: ${DATABSE_URL} is not set in the environment or earlier in the env files; it expands to nothing"
	if have := w.String(); have != want {
		t.Errorf("\nhave %s\nwant %s", have, want)
	}
}

// TestWarningsHideValues: a warning says which name is unset, and nothing
// of the value that refers to it.
func TestWarningsHideValues(t *testing.T) {
	path := writeFile(t, t.TempDir(), "s.env", "TOKEN=hunter2\nURL=\"https://hunter2@${HOST}/x\"\nB=hunter2${TOKN}\n")
	got, err := Read([]string{"PASSWORD=hunter2"}, []File{{Path: path}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Warnings) != 2 {
		t.Fatalf("warnings: %v, want 2", got.Warnings)
	}
	for _, w := range got.Warnings {
		if strings.Contains(w.String(), "hunter2") {
			t.Errorf("%s: contains the value", w)
		}
	}
}

// Sources names the line that gave each variable its value, with the
// value as written there; a variable whose value is the real one has none.
func TestReadSources(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.env", "PORT=50x0\nHOME=/file\nPATH=$PATH:./bin\nQ=\"a b\" # c\n")
	b := writeFile(t, dir, "b.env", "\nexport PORT=${BASE}\n")
	got, err := Read([]string{"HOME=/h", "PATH=/bin"}, []File{{Path: a}, {Path: b}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Source{
		"PORT": {Path: b, Line: 2, Text: "${BASE}"},
		"PATH": {Path: a, Line: 3, Text: "$PATH:./bin"},
		"Q":    {Path: a, Line: 4, Text: "a b"},
	}
	if !maps.Equal(got.Sources, want) {
		t.Errorf("Sources\nhave %+v\nwant %+v", got.Sources, want)
	}
}
