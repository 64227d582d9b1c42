// Package env reads .env files with godotenv's grammar and merges their
// variables under the real environment. It owns the precedence rules (later
// file wins, the real environment wins over every file, a line that refers
// to its own key extends it), what $VAR means in a file, and the messages
// for malformed files and unset names, which never hold a value. It never
// reads the process environment itself: callers pass it in.
package env

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// A File is one .env file to load. Path is used as given, both to open the
// file and in error messages. A missing Optional file is skipped (the default
// <root>/.env is Optional); any other problem with it is still an error.
type File struct {
	Path     string
	Optional bool
}

// MaxSize is the largest env file Read reads, in bytes. Real ones are a
// few KiB; the cap keeps a wrong -e (/dev/zero, a log file) from taking the
// machine's memory.
const MaxSize = 1 << 20

// ErrTooLarge says that an env file is larger than MaxSize.
var ErrTooLarge = errors.New("larger than 1 MiB; is this an env file?")

// A ParseError reports a malformed .env file. Msg says what is wrong and may
// name a variable, but never contains a value or any other text of the file,
// since .env files hold secrets.
type ParseError struct {
	Path string // as given in File.Path
	Line int    // 1-based
	Msg  string
}

// Error returns "PATH:LINE: MSG".
func (e *ParseError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
}

// Messages of a ParseError; tests and the fuzzer check that every error uses
// one of these, which is what keeps values out of them.
const (
	msgExpected     = `expected KEY=value`
	msgBadName      = `invalid variable name: use letters, digits, "_" and "."`
	msgUnterminated = `unterminated quoted value`
	msgEmptyName    = `missing variable name before "="`
	msgNUL          = `contains a NUL byte (is the file UTF-16?)`
	msgUTF16        = `file is UTF-16; save it as UTF-8`

	// hintQuoted may follow msgExpected or msgBadName.
	hintQuoted = ` (a value quoted on line %d ends on this line)`
)

// A Warning reports a reference ($NAME or ${NAME}) in an env file to a name
// that nothing has set where it is read: neither the real environment nor an
// earlier line of the env files. The reference expands to "". A Warning holds
// the name, never a value.
type Warning struct {
	Path string // as given in File.Path
	Line int    // 1-based: where the statement that holds the reference starts
	Name string // the name referred to
}

// String returns the warning as one line:
// "PATH:LINE: ${NAME} is not set in the environment or earlier in the env
// files; it expands to nothing".
func (w Warning) String() string {
	return fmt.Sprintf("%s:%d: ${%s} is not set in the environment or earlier in the env files; it expands to nothing",
		w.Path, w.Line, w.Name)
}

// A Result is what Read makes of the env files over the real environment.
type Result struct {
	// Environ is what every process gets: the real environment, with each
	// variable a file line extends replaced in place, then every variable the
	// files set that the real environment does not, in sorted key order.
	Environ []string
	// Vars holds each variable the files set, with the value a process gets
	// for it (the one in Environ). It is what procman export writes, and
	// where the base port rule finds PORT.
	Vars map[string]string
	// Warnings lists the references to unset names, in file and line order,
	// each name once per line.
	Warnings []Warning
	// Sources holds, for each variable of Vars whose value a file line gave
	// (not the real environment), that line.
	Sources map[string]Source
}

// A Source is the line of an env file that gave a variable its value.
type Source struct {
	Path string // as given in File.Path
	Line int    // 1-based: where the statement starts
	// Text is the value as written on that line, without its quotes,
	// escapes and references left as they are. It is the file's text, so
	// a caller must not print it unless the variable holds no secret
	// (PORT); unlike the value, it never holds another variable's.
	Text string
}

// Read reads files in order over the real environment environ (KEY=value
// entries; when a key appears more than once, the last entry counts, and an
// entry without "=" sets nothing) and returns the environment every process
// gets. A missing Optional file is skipped; a missing required file, a
// directory or an unreadable file is an error naming the file ("PATH: no
// such file or directory", wrapping the fs error), and so is a file larger
// than MaxSize ("PATH: larger than 1 MiB; is this an env file?", wrapping
// ErrTooLarge), which is not read past MaxSize+1 bytes. A malformed file is
// a *ParseError. environ is not modified.
//
// The grammar is godotenv's (v1.5.1): KEY=value and KEY: value, an optional
// "export " prefix, 'single quotes' taken literally, "double quotes" with \n
// and \r escapes and values spanning lines, # comment lines, " # comment"
// after an unquoted value, and $VAR / ${VAR} references in unquoted and
// double-quoted values, where \$ is a literal "$". A UTF-8 byte-order mark
// and CRLF line endings are accepted. Bytes that are not UTF-8 are kept in
// quoted values but become U+FFFD in unquoted ones (godotenv). A line with
// an empty variable name ("=value"), which godotenv would take as the key
// "", and a NUL byte are errors. A quoted value ends at the first quote of
// its kind not preceded by a backslash and loses just its two quotes, so
// "say \"hi\"" is `say "hi"` (godotenv drops the last quote with the
// closing one).
//
// Precedence: a later line or file wins over an earlier one, and the real
// environment wins over every file. But a line that refers to its own key,
// as in PATH=$PATH:./bin, extends the value the process would otherwise
// get, the real one included, instead of being ignored.
//
// A reference resolves against what the process will see at that point: the
// real environment, and what earlier lines and earlier files have set (with
// the precedence above). So with FRUIT=apple in the real environment,
// FRUIT=banana and then FRUIT2=${FRUIT} in a file give both variables
// "apple". A value found is inserted as it is, never expanded again. A
// name is the longest run of A-Z, 0-9 and "_" after "$" or "${" (godotenv's
// rule: $home is left as written). A name set nowhere yet expands to "" and
// is reported in Warnings (once per line), unless it is the line's own
// key: PYTHONPATH=./src:${PYTHONPATH} with no PYTHONPATH set gives "./src:"
// quietly, as an unset value is the usual case there.
func Read(environ []string, files []File) (Result, error) {
	r := newResolver(environ)
	for _, f := range files {
		data, err := readFile(f.Path)
		if err != nil {
			if f.Optional && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return Result{}, fmt.Errorf("%s: %w", f.Path, err)
		}
		stmts, err := parse(data, f.Path)
		if err != nil {
			return Result{}, err
		}
		for _, st := range stmts {
			r.set(f.Path, st)
		}
	}
	return r.result(environ), nil
}

// readFile reads the file at path, or fails with ErrTooLarge once it has
// read more than MaxSize bytes: os.ReadFile would read a device such as
// /dev/zero for ever.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	switch {
	case err != nil:
		return nil, err
	case len(data) > MaxSize:
		return nil, ErrTooLarge
	}
	return data, nil
}

// A resolver applies statements, in order, to what a process will see.
type resolver struct {
	real     map[string]string
	vars     map[string]string // every key a file sets: the value a process gets
	extended map[string]bool   // the keys of real that a file line extends
	sources  map[string]Source // the line that gave each key of vars not from real its value
	warnings []Warning
}

func newResolver(environ []string) *resolver {
	r := &resolver{
		real:     make(map[string]string, len(environ)),
		vars:     make(map[string]string),
		extended: make(map[string]bool),
		sources:  make(map[string]Source),
	}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			r.real[k] = v
		}
	}
	return r
}

// set applies st, a statement of the file at path.
func (r *resolver) set(path string, st statement) {
	self := false
	v := st.value(func(name string) string {
		if name == st.key {
			self = true
		}
		if v, ok := r.vars[name]; ok {
			return v
		}
		if v, ok := r.real[name]; ok {
			return v
		}
		if name != st.key {
			r.warn(Warning{Path: path, Line: st.line, Name: name})
		}
		return ""
	})
	_, isReal := r.real[st.key]
	switch {
	case self || !isReal:
		r.vars[st.key] = v
		r.sources[st.key] = Source{Path: path, Line: st.line, Text: st.raw}
		if isReal {
			r.extended[st.key] = true
		}
	default:
		// The real environment wins over this line, but not over an
		// extension that an earlier line made.
		if _, ok := r.vars[st.key]; !ok {
			r.vars[st.key] = r.real[st.key]
		}
	}
}

// warn adds w unless it is already there: a line reports a name once.
func (r *resolver) warn(w Warning) {
	for i := len(r.warnings) - 1; i >= 0 && r.warnings[i].Path == w.Path && r.warnings[i].Line == w.Line; i-- {
		if r.warnings[i] == w {
			return
		}
	}
	r.warnings = append(r.warnings, w)
}

// result returns what the statements set so far make of environ, the real
// environment r was made from.
func (r *resolver) result(environ []string) Result {
	return Result{
		Environ:  merge(environ, r.vars, r.extended),
		Vars:     r.vars,
		Warnings: r.warnings,
		Sources:  r.sources,
	}
}

// merge returns environ with each key in extended set to its value in vars,
// followed by KEY=value for every variable of vars whose key environ does
// not set, in sorted key order.
func merge(environ []string, vars map[string]string, extended map[string]bool) []string {
	set := make(map[string]bool, len(environ))
	out := make([]string, 0, len(environ)+len(vars))
	for _, kv := range environ {
		if k, _, ok := strings.Cut(kv, "="); ok {
			set[k] = true
			if extended[k] {
				kv = k + "=" + vars[k]
			}
		}
		out = append(out, kv)
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		if !set[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = append(out, k+"="+vars[k])
	}
	return out
}

// Load reads files in order and returns their variables, resolved as Read
// resolves them over an empty environment: a later file wins, and a
// reference sees only earlier lines and files. Errors are Read's. A process
// must get Read's Environ instead, which resolves the files against the
// real environment; Load and Merge remain only until their callers use Read.
func Load(files []File) (map[string]string, error) {
	res, err := Read(nil, files)
	return res.Vars, err
}

// Merge returns environ followed by KEY=value for every variable of vars
// whose key environ does not set, in sorted key order so the result is
// deterministic. The real environment wins over the files (twelve-factor),
// even where it sets a key to "". An environ entry without "=" sets nothing
// and is kept as it is. The result is a new slice; environ is not modified.
// Merge knows nothing of lines that extend a real variable: Read's Environ
// is what a process must get.
func Merge(environ []string, vars map[string]string) []string {
	return merge(environ, vars, nil)
}

// Lookup returns the value of key in environ (KEY=value entries) and whether
// it is set. When key appears more than once the last entry wins, as it does
// for a child started by os/exec.
func Lookup(environ []string, key string) (string, bool) {
	for i := len(environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(environ[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}
