package settings

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// fileName is the project file, in the root: what foreman's .foreman is to
// foreman.
const fileName = ".procman"

// foremanFile is foreman's project file, which foreman reads from the
// current directory; procman reads it there when the root has no
// .procman, so that a foreman project runs as it did.
const foremanFile = ".foreman"

// foremanKeys are the keys of .foreman that procman reads: the long names
// of foreman start's flags, each the key of the same procman flag. Any
// other key (export's app, user, template, ...) is ignored with a warning.
var foremanKeys = []string{"procfile", "root", "env", "formation", "concurrency", "port", "timeout", "color", "timestamp"}

// maxFileSize is the largest project file procman reads, in bytes: a few
// settings take a few hundred.
const maxFileSize = 1 << 20

// errTooLarge says that a project file is larger than maxFileSize.
var errTooLarge = errors.New("larger than 1 MiB; is this a project file?")

// A key is a flag that the project file may name: one of start's flags, by
// its long name.
type key struct {
	name  string           // the flag's name, which messages use
	alias string           // another long name of the flag, also a key
	field func(*Flags) any // the flag in Flags: *String, *Bool or *List
	// locates says the flag finds the project file (-f, -d), so the file
	// cannot set it.
	locates bool
}

// keys are start's flags, the policy flags included.
var keys = []key{
	{name: "procfile", field: func(f *Flags) any { return &f.Procfile }, locates: true},
	{name: "root", field: func(f *Flags) any { return &f.Root }, locates: true},
	{name: "env", field: func(f *Flags) any { return &f.Env }},
	{name: "formation", alias: "concurrency", field: func(f *Flags) any { return &f.Formation }},
	{name: "port", field: func(f *Flags) any { return &f.Port }},
	{name: "timeout", field: func(f *Flags) any { return &f.Timeout }},
	{name: "timestamp", field: func(f *Flags) any { return &f.Timestamp }},
	{name: "no-timestamp", field: func(f *Flags) any { return &f.NoTimestamp }},
	{name: "color", field: func(f *Flags) any { return &f.Color }},
	{name: "no-color", field: func(f *Flags) any { return &f.NoColor }},
	{name: "pty", field: func(f *Flags) any { return &f.PTY }},
	{name: "log-format", field: func(f *Flags) any { return &f.LogFormat }},
	{name: "time-format", field: func(f *Flags) any { return &f.TimeFormat }},
	{name: "quiet", field: func(f *Flags) any { return &f.Quiet }},
	{name: "socket", field: func(f *Flags) any { return &f.Socket }},
	{name: "attach", field: func(f *Flags) any { return &f.Attach }},
	{name: "no-release", field: func(f *Flags) any { return &f.NoRelease }},
	{name: "can-die", field: func(f *Flags) any { return &f.CanDie }},
	{name: "any-can-die", field: func(f *Flags) any { return &f.AnyCanDie }},
	{name: "restart", field: func(f *Flags) any { return &f.Restart }},
	{name: "restart-policy", field: func(f *Flags) any { return &f.RestartPolicy }},
	{name: "max-restarts", field: func(f *Flags) any { return &f.MaxRestarts }},
	{name: "after", field: func(f *Flags) any { return &f.After }},
}

// Keys returns the keys the project file knows: the long names of
// procman start's flags, aliases included, in no particular order.
func Keys() []string {
	var names []string
	for _, k := range keys {
		names = append(names, k.name)
		if k.alias != "" {
			names = append(names, k.alias)
		}
	}
	return names
}

func lookupKey(name string) (key, bool) {
	i := slices.IndexFunc(keys, func(k key) bool { return k.name == name || k.alias == name })
	if i < 0 {
		return key{}, false
	}
	return keys[i], true
}

// given reports whether f sets the flag.
func (k key) given(f *Flags) bool {
	switch v := k.field(f).(type) {
	case *String:
		return v.Set
	case *Bool:
		return v.Set
	case *List:
		return v.Set
	}
	return false
}

func (k key) isList() bool {
	_, ok := k.field(new(Flags)).(*List)
	return ok
}

func (k key) isBool() bool {
	_, ok := k.field(new(Flags)).(*Bool)
	return ok
}

// opposite is the switch that negates k (--no-X for --X and back), if any.
func (k key) opposite() (key, bool) {
	if base, ok := strings.CutPrefix(k.name, "no-"); ok {
		return lookupKey(base)
	}
	return lookupKey("no-" + k.name)
}

// An entry is one "key: value" line of a project file.
type entry struct {
	key, value string
	line       int
}

// A projectFile is a project file's entries, and, once applied, those it
// gave to flags the command line did not set, so that messages about their
// values can name the file and line.
type projectFile struct {
	path    string             // as messages name it: ".procman", "app/.procman", ".foreman"
	dir     string             // where relative env paths start from: the root as given, or "" for .foreman
	foreman bool               // foreman's .foreman: foreman's keys, the others ignored
	entries []entry            // as read, in order
	values  map[string][]entry // the entries applied, by the key's flag name
	notices []Notice           // what applying it has to tell the user
}

// readProjectFile reads proj's project file, .procman in its root, or,
// when there is none, foreman's .foreman in the current directory. With
// neither, the file has no entries.
func readProjectFile(proj Project) (*projectFile, error) {
	file := &projectFile{
		path:   filepath.Join(proj.dir, fileName),
		dir:    proj.dir,
		values: make(map[string][]entry),
	}
	data, err := readFile(filepath.Join(proj.Root, fileName))
	if errors.Is(err, fs.ErrNotExist) {
		return readForemanFile(file)
	}
	if err != nil {
		return nil, inputf("%s: %s", file.path, pathReason(err))
	}
	if file.entries, err = parseFile(data, file.path); err != nil {
		return nil, &InputError{err}
	}
	return file, nil
}

// readForemanFile reads .foreman from the current directory, as foreman
// does, with its relative paths taken from there too, as foreman takes
// them; without one it returns empty, the file procman did not find.
func readForemanFile(empty *projectFile) (*projectFile, error) {
	data, err := readFile(foremanFile)
	if errors.Is(err, fs.ErrNotExist) {
		return empty, nil
	}
	file := &projectFile{path: foremanFile, foreman: true, values: make(map[string][]entry)}
	if err != nil {
		return nil, inputf("%s: %s", file.path, pathReason(err))
	}
	if file.entries, err = parseFile(data, file.path); err != nil {
		return nil, &InputError{err}
	}
	file.notices = append(file.notices, Notice{
		Msg: "reading settings from " + foremanFile + "; see docs/foreman.md to move them to " + fileName,
	})
	return file, nil
}

// readFile reads the file at path, or fails with errTooLarge once it has
// read more than maxFileSize bytes, as a link to /dev/zero would make it
// read for ever.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	switch {
	case err != nil:
		return nil, err
	case len(data) > maxFileSize:
		return nil, errTooLarge
	}
	return data, nil
}

// apply checks the file's entries in order and sets each on f unless the
// command line set that flag or its opposite.
func (file *projectFile) apply(f *Flags) error {
	// Whether the command line set a flag is decided before the file sets
	// any: a key may come back, and --X and --no-X count as one.
	given := make(map[string]bool)
	for _, k := range keys {
		given[k.name] = k.given(f)
	}
	first := make(map[string]int)
	for _, e := range file.entries {
		if file.foreman && !slices.Contains(foremanKeys, e.key) {
			file.notices = append(file.notices, Notice{Warning: true, Msg: fmt.Sprintf(
				"%s:%d: key %q ignored: procman reads %s from %s", file.path, e.line, e.key, keyList(foremanKeys), file.path)})
			continue
		}
		k, err := file.check(e, first)
		if err != nil {
			return err
		}
		if o, ok := k.opposite(); given[k.name] || ok && given[o.name] {
			continue
		}
		file.setFlag(f, k, e)
		file.values[k.name] = append(file.values[k.name], e)
	}
	return nil
}

// checkLocation checks what .foreman's procfile and root keys made of
// the project, which the command line made proj: the root must be a
// directory, and may not hold a .procman that procman would then not read.
func (file *projectFile) checkLocation(proj Project, flags Flags) error {
	var where entry // the key that moved the root
	for _, name := range []string{"root", "procfile"} {
		if es := file.values[name]; len(es) > 0 && where.key == "" {
			where = es[0]
		}
	}
	if where.key == "" {
		return nil
	}
	if e := file.values["root"]; len(e) > 0 {
		if err := dirProblem(e[0].value); err != nil {
			return inputf("%s:%d: root %q: %s", file.path, e[0].line, e[0].value, err)
		}
	}
	moved, err := readProject(flags)
	if err != nil || moved.Root == proj.Root {
		return err
	}
	if _, err := os.Stat(filepath.Join(moved.Root, fileName)); err == nil {
		return inputf("%s:%d: %s %q leads to %s, and procman reads one of the two: move the settings of %s into it",
			file.path, where.line, where.key, where.value, filepath.Join(moved.dir, fileName), file.path)
	}
	return nil
}

// check returns the flag that e sets, and whether the file may set it
// there: first holds the line of each flag's first entry so far.
func (file *projectFile) check(e entry, first map[string]int) (key, error) {
	k, ok := lookupKey(e.key)
	switch {
	case !ok:
		return k, inputf("%s:%d: unknown key %q (keys are the long names of start's flags)", file.path, e.line, e.key)
	case k.locates && !file.foreman:
		return k, inputf("%s:%d: %s cannot be set in %s, which is found through it", file.path, e.line, e.key, fileName)
	}
	if line, dup := first[k.name]; dup && !k.isList() {
		return k, inputf("%s:%d: %s given twice (first on line %d)", file.path, e.line, e.key, line)
	}
	first[k.name] = e.line
	if _, ok := file.parseBool(e.value); k.isBool() && !ok {
		return k, inputf("%s:%d: %s: %q is not true or false", file.path, e.line, e.key, e.value)
	}
	return k, nil
}

// parseBool reads a switch's value: true or false as Go writes them, and
// in .foreman, which foreman reads as YAML, also yes, no, on and off.
func (file *projectFile) parseBool(v string) (value, ok bool) {
	if b, err := strconv.ParseBool(v); err == nil {
		return b, true
	}
	if file.foreman {
		switch strings.ToLower(v) {
		case "yes", "on":
			return true, true
		case "no", "off":
			return false, true
		}
	}
	return false, false
}

// keyList joins keys for a message: "a, b and c".
func keyList(keys []string) string {
	if len(keys) < 2 {
		return strings.Join(keys, "")
	}
	return strings.Join(keys[:len(keys)-1], ", ") + " and " + keys[len(keys)-1]
}

// setFlag sets the flag k to e's value, which check accepted. A list's
// values, split at commas and trimmed as on the command line, add to those
// of the file's earlier lines.
func (file *projectFile) setFlag(f *Flags, k key, e entry) {
	switch v := k.field(f).(type) {
	case *String:
		*v = String{Value: e.value, Set: true}
	case *Bool:
		b, _ := file.parseBool(e.value)
		*v = Bool{Value: b, Set: true}
	case *List:
		if !v.Set {
			*v = List{Set: true}
		}
		for _, item := range strings.Split(e.value, ",") {
			item = strings.TrimSpace(item)
			if k.name == "env" && item != "" && !filepath.IsAbs(item) {
				// Relative to the root, where the file is.
				item = filepath.Join(file.dir, item)
			}
			v.Values = append(v.Values, item)
		}
	}
}

// settings returns the values of the flag called name and where each came
// from, for messages: from the project file if it set them, else from the
// command line. For a list flag, each item is a setting of its own,
// trimmed. A flag nobody set has none.
func (s *Settings) settings(name string) []setting {
	var out []setting
	k, _ := lookupKey(name)
	if entries := s.file.values[name]; len(entries) > 0 {
		for _, e := range entries {
			items := []string{e.value}
			if k.isList() {
				items = strings.Split(e.value, ",")
			}
			for _, v := range items {
				v = strings.TrimSpace(v)
				out = append(out, setting{v, fmt.Sprintf("%s:%d: %s %q", s.file.path, e.line, e.key, v)})
			}
		}
		return out
	}
	switch v := k.field(&s.flags).(type) {
	case *String:
		if v.Set {
			out = append(out, setting{v.Value, fmt.Sprintf("--%s %q", name, v.Value)})
		}
	case *List:
		if v.Set {
			for _, item := range v.Values {
				item = strings.TrimSpace(item)
				out = append(out, setting{item, fmt.Sprintf("--%s %q", name, item)})
			}
		}
	}
	return out
}

// A setting is one value of a flag and where it came from, for messages:
// `--after "a=b"` or `.procman:3: after "a=b"`.
type setting struct {
	value string
	where string
}

// parseFile reads a project file: one "key: value" per line; blank lines
// and lines whose first non-blank character is '#' are skipped; a value
// ends at " #" (a comment), unless it is wholly quoted with ' or ", which
// are removed (nothing is unescaped); spaces around keys and values are
// dropped; CRLF line endings, a UTF-8 byte-order mark and YAML's "---"
// before the first entry are accepted.
// Keys are not checked here. It is a small subset of YAML (foreman's
// .foreman is YAML) read by hand: a YAML reader would reject the repeated
// keys of list flags, unescape quoted values and lose the line numbers that
// messages name.
func parseFile(data []byte, path string) ([]entry, error) {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	var entries []entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line == "---" && len(entries) == 0 {
			continue
		}
		e, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		e.line = n
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return entries, nil
}

// parseLine reads one trimmed line that is not blank nor a comment.
func parseLine(line string) (entry, error) {
	key, value, ok := strings.Cut(line, ":")
	key = strings.TrimSpace(key)
	if !ok || !validKey(key) {
		return entry{}, fmt.Errorf("expected %q", "key: value")
	}
	value, err := unquote(strings.TrimSpace(value))
	switch {
	case err != nil:
		return entry{}, fmt.Errorf("%s: %w", key, err)
	case value == "":
		return entry{}, fmt.Errorf("no value for %s", key)
	case strings.ContainsFunc(value, func(r rune) bool { return r != '\t' && unicode.IsControl(r) }):
		return entry{}, fmt.Errorf("%s: value holds a control character", key)
	}
	return entry{key: key, value: value}, nil
}

func validKey(key string) bool {
	if key == "" {
		return false
	}
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// unquote removes a comment or the quotes from a trimmed value.
func unquote(v string) (string, error) {
	if v != "" && (v[0] == '"' || v[0] == '\'') {
		end := strings.IndexByte(v[1:], v[0])
		if end < 0 {
			return "", fmt.Errorf("%c not closed", v[0])
		}
		rest := strings.TrimSpace(v[end+2:])
		if rest != "" && rest[0] != '#' {
			return "", fmt.Errorf("text after the closing %c", v[0])
		}
		return v[1 : end+1], nil
	}
	if i := strings.Index(v, "#"); i >= 0 && (i == 0 || v[i-1] == ' ' || v[i-1] == '\t') {
		v = strings.TrimSpace(v[:i])
	}
	return v, nil
}
