// Package procfile owns the Procfile grammar, the formation (how many copies
// of each process type run) and the ports those copies get. It is pure: it
// reads what it is given and returns values or errors, and never starts a
// process, prints, or looks at the environment.
package procfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// Release is the name of Heroku's release-phase entry. The lifecycle code
// treats an entry with this name specially; Parse, Formation and Instances
// treat it as an ordinary process type.
const Release = "release"

// An Entry is one process type of a Procfile.
type Entry struct {
	Name    string // [A-Za-z0-9_-]+
	Command string // run as /bin/sh -c Command; continuations already joined
	Line    int    // 1-based line of the name
}

// A Procfile is a parsed Procfile, entries in file order.
type Procfile struct {
	Path      string // as given by the user, for messages
	Entries   []Entry
	Continued []int // lines of entries that used a backslash continuation
}

// A ParseError is a Procfile that does not follow the grammar. Line is the
// 1-based line it concerns, or 0 when it concerns the whole file; Error
// returns "Path:Line: Msg", or "Path: Msg" when Line is 0.
type ParseError struct {
	Path string
	Line int
	Msg  string
}

// Error implements error.
func (e *ParseError) Error() string {
	if e.Line == 0 {
		return e.Path + ": " + e.Msg
	}
	return e.Path + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Parse reads a whole Procfile from r; path names it in error messages.
//
// A line is "name: command": name matches [A-Za-z0-9_-]+ (spaces or tabs
// before it are allowed), command is the rest of the line after the colon
// and any spaces or tabs, left exactly as written for /bin/sh. Blank lines
// and lines whose first non-blank character is '#' are skipped. CRLF line
// endings, a UTF-8 byte-order mark and a missing final newline are accepted.
// An entry line ending in an odd number of backslashes continues on the next
// line as in the shell: the backslash and the newline are removed and the
// next line, indentation included, is appended; such entries are listed in
// Continued. The rule does not look at quotes: a backslash ending a line
// inside single quotes continues it too, where the shell would keep both.
//
// A UTF-16 file, any other line, an empty command, a repeated name and a
// file without entries are *ParseError values. An error reading r is
// returned wrapped, prefixed with path. Parse reads at most MaxSize bytes:
// a longer input (a mistaken -f /dev/zero) is an error, ErrTooLarge.
func Parse(r io.Reader, path string) (*Procfile, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%s: %w", path, ErrTooLarge)
	}
	fail := func(line int, format string, args ...any) (*Procfile, error) {
		return nil, &ParseError{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	if bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF}) {
		return fail(0, "file is UTF-16; save it as UTF-8")
	}
	// Without a byte-order mark, UTF-16 shows as a NUL beside every ASCII
	// character. No shell command can hold a NUL either, so any NUL means
	// the file is not a UTF-8 text Procfile.
	if bytes.IndexByte(data, 0) >= 0 {
		return fail(0, "file has NUL bytes, as UTF-16 does; save it as UTF-8")
	}
	data = bytes.TrimPrefix(data, utf8BOM)

	lines := strings.Split(string(data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	p := &Procfile{Path: path}
	first := make(map[string]int)
	var joined strings.Builder
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		line := strings.TrimSuffix(lines[i], "\r")
		if blank := strings.TrimLeft(line, " \t"); blank == "" || blank[0] == '#' {
			// A comment ends at its newline even after a backslash, as
			// in the shell.
			continue
		}
		continued := false
		if continues(line) {
			continued = true
			joined.Reset()
			for continues(line) && i+1 < len(lines) {
				joined.WriteString(line[:len(line)-1])
				i++
				line = strings.TrimSuffix(lines[i], "\r")
			}
			if continues(line) {
				// A backslash on the file's last line continues onto
				// nothing, as if the missing final newline were there.
				line = line[:len(line)-1]
			}
			joined.WriteString(line)
			line = joined.String()
		}

		name, command, ok := splitEntry(line)
		if !ok {
			return fail(lineNo, "expected %q", "name: command")
		}
		if strings.TrimSpace(command) == "" {
			return fail(lineNo, "empty command for %q", name)
		}
		if prev, dup := first[name]; dup {
			return fail(lineNo, "duplicate process name %q (first on line %d)", name, prev)
		}
		first[name] = lineNo
		p.Entries = append(p.Entries, Entry{Name: name, Command: command, Line: lineNo})
		if continued {
			p.Continued = append(p.Continued, lineNo)
		}
	}
	if len(p.Entries) == 0 {
		return fail(0, "no processes defined")
	}
	return p, nil
}

// MaxSize is the largest Procfile procman reads, in bytes. Real ones are a
// few hundred bytes; the cap keeps a wrong -f (a device, a log file) from
// taking the machine's memory.
const MaxSize = 1 << 20

// ErrTooLarge says that a file is larger than procman reads.
var ErrTooLarge = errors.New("larger than 1 MiB; is this a Procfile?")

// ParseFile opens and parses the Procfile at path. An error opening or
// reading it reads "path: reason" (for example
// "Procfile: no such file or directory") and wraps the underlying error, so
// errors.Is(err, fs.ErrNotExist) holds for a missing file; grammar errors are
// *ParseError as from Parse.
func ParseFile(path string) (*Procfile, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	p, err := Parse(f, path)
	var pe *fs.PathError
	if errors.As(err, &pe) {
		// Reading a directory fails with "read Procfile: is a directory";
		// the operation adds nothing for the user.
		return nil, fmt.Errorf("%s: %w", path, pe.Err)
	}
	return p, err
}

// Names returns the process type names in file order.
func (p *Procfile) Names() []string {
	names := make([]string, len(p.Entries))
	for i, e := range p.Entries {
		names[i] = e.Name
	}
	return names
}

// Lookup returns the entry called name, and whether there is one.
func (p *Procfile) Lookup(name string) (Entry, bool) {
	for _, e := range p.Entries {
		if e.Name == name {
			return e, true
		}
	}
	return Entry{}, false
}

// continues reports whether line ends in a backslash that escapes the
// newline: an even run of backslashes is escaped backslashes, as in the shell.
func continues(line string) bool {
	n := 0
	for n < len(line) && line[len(line)-1-n] == '\\' {
		n++
	}
	return n%2 == 1
}

// splitEntry splits "name: command", allowing blanks before the name.
func splitEntry(line string) (name, command string, ok bool) {
	s := strings.TrimLeft(line, " \t")
	n := 0
	for n < len(s) && isNameByte(s[n]) {
		n++
	}
	if n == 0 || n == len(s) || s[n] != ':' {
		return "", "", false
	}
	return s[:n], strings.TrimLeft(s[n+1:], " \t"), true
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// validName reports whether s matches [A-Za-z0-9_-]+.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}
