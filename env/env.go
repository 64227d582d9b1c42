// Package env reads .env files with godotenv's grammar and merges their
// variables under the real environment. It owns the precedence rules (later
// file wins, the real environment wins over every file) and the error
// messages for malformed files, which name file and line but never a value.
// It never reads the process environment itself: callers pass it in.
package env

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/joho/godotenv"
)

// A File is one .env file to load. Path is used as given, both to open the
// file and in error messages. A missing Optional file is skipped (the default
// <root>/.env is Optional); any other problem with it is still an error.
type File struct {
	Path     string
	Optional bool
}

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

// Load reads files in order and returns their variables; when several files
// set a key, the later file wins. A missing Optional file is skipped; a
// missing required file, a directory or an unreadable file is an error
// naming the file ("PATH: no such file or directory", wrapping the fs error).
// A malformed file is a *ParseError.
//
// The grammar is godotenv's (v1.5.1): KEY=value and KEY: value, an optional
// "export " prefix, 'single quotes' taken literally, "double quotes" with \n
// and \r escapes and values spanning lines, # comment lines, " # comment"
// after an unquoted value, and $VAR / ${VAR} expansion in unquoted and
// double-quoted values. A UTF-8 byte-order mark and CRLF line endings are
// accepted. Bytes that are not UTF-8 are kept in quoted values but become
// U+FFFD in unquoted ones (godotenv). A line with an empty variable name
// ("=value"), which godotenv would take as the key "", and a NUL byte are
// errors.
//
// Expansion follows godotenv's rule: $VAR is the value VAR was given on an
// earlier line of the same file, or "" if none. It never sees the real
// environment, nor other files: a file means the same thing wherever procman
// runs, and Load does not read the process environment. So ${HOME} in a
// .env file is "" unless the file sets HOME above it.
func Load(files []File) (map[string]string, error) {
	vars := make(map[string]string)
	for _, f := range files {
		data, err := os.ReadFile(f.Path)
		if err != nil {
			if f.Optional && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("%s: %w", f.Path, err)
		}
		fileVars, err := parse(data, f.Path)
		if err != nil {
			return nil, err
		}
		for k, v := range fileVars {
			vars[k] = v
		}
	}
	return vars, nil
}

// Merge returns environ followed by KEY=value for every variable of vars
// whose key environ does not set, in sorted key order so the result is
// deterministic. The real environment wins over the files (twelve-factor),
// even where it sets a key to "". An environ entry without "=" sets nothing
// and is kept as it is. The result is a new slice; environ is not modified.
func Merge(environ []string, vars map[string]string) []string {
	set := make(map[string]bool, len(environ))
	for _, kv := range environ {
		if k, _, ok := strings.Cut(kv, "="); ok {
			set[k] = true
		}
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		if !set[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := make([]string, 0, len(environ)+len(keys))
	out = append(out, environ...)
	for _, k := range keys {
		out = append(out, k+"="+vars[k])
	}
	return out
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

// parse parses one file's contents; path is for errors only.
func parse(data []byte, path string) (map[string]string, error) {
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		return nil, &ParseError{Path: path, Line: 1, Msg: msgUTF16}
	}
	src := normalize(data)
	if i := bytes.IndexByte(src, 0); i >= 0 {
		return nil, &ParseError{Path: path, Line: lineAt(src, i), Msg: msgNUL}
	}
	vars, err := godotenv.UnmarshalBytes(src)
	if err != nil {
		line, msg := locate(src)
		return nil, &ParseError{Path: path, Line: line, Msg: msg}
	}
	if _, ok := vars[""]; ok {
		return nil, &ParseError{Path: path, Line: locateEmptyName(src), Msg: msgEmptyName}
	}
	return vars, nil
}

// normalize strips a UTF-8 byte-order mark (godotenv would take it as part
// of the first key), adds a final newline if missing (without one, godotenv
// takes a last line with no "=" as the value of the key "", where with one
// it reports the line as malformed), and drops every CR before a newline
// or the end. godotenv turns CRLF into LF itself, but in one pass, so
// "\r\r\n" would still hold a CRLF that it reads differently from the line
// counting here; the result holds none, so godotenv parses exactly these
// bytes.
func normalize(data []byte) []byte {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	src := make([]byte, 0, len(data)+1)
	for i := 0; i < len(data); i++ {
		if data[i] != '\r' {
			src = append(src, data[i])
			continue
		}
		j := i
		for j < len(data) && data[j] == '\r' {
			j++
		}
		if j < len(data) && data[j] != '\n' { // at the end, a newline follows
			src = append(src, data[i:j]...)
		}
		i = j - 1
	}
	if len(src) > 0 && src[len(src)-1] != '\n' {
		src = append(src, '\n')
	}
	return src
}

// The locating below uses godotenv itself as the oracle, asking it about
// prefixes of the file, instead of a second hand-written parser that could
// disagree with it; and it never looks at godotenv's error text, which
// quotes the file. It relies on three facts about godotenv's grammar:
//
//   - The error is in one statement S: either its name (a character that
//     cannot be in a name, or the end of the line before any "=") on the line
//     where S starts, or its quoted value, which then runs on to the end of
//     the file without a closing quote.
//   - Errors do not depend on values, so a prefix of the file that ends at a
//     line end parses exactly like the whole file up to that point, except
//     that a quoted value that goes on past the prefix (a multi-line "value")
//     is unterminated in it. Appending that value's quote character on a line
//     of its own closes it, and then the prefix parses.
//   - A closing quote is the first later quote character of the same kind not
//     preceded by a backslash.
//
// So when a prefix still fails with either quote appended, the error is in
// a name within the prefix; and when the whole file parses with the right
// quote appended, its error is an unterminated value.

// locate returns the line and message for src, which godotenv rejects.
func locate(src []byte) (int, string) {
	for _, q := range []byte{'"', '\''} {
		if !parses(withQuote(src, q)) {
			continue
		}
		open := openQuote(src, q)
		if open < 0 {
			return lineAt(src, len(src)-1), msgUnterminated
		}
		if key := keyBefore(src[:open]); key != "" {
			return lineAt(src, open), msgUnterminated + " for " + key
		}
		return lineAt(src, open), msgUnterminated
	}

	// A name error: the first line L whose prefix fails even with a quote
	// appended. Prefixes ending before L fail only by cutting a multi-line
	// value, or parse, so the test is monotonic and a binary search finds L.
	ends := lineEnds(src)
	n := len(ends)
	l := 1 + sort.Search(n, func(i int) bool {
		p := src[:ends[i]+1]
		return !parses(p) && !parses(withQuote(p, '"')) && !parses(withQuote(p, '\''))
	})
	if l > n {
		l = n // unreachable for what godotenv rejects; keeps Line in range
	}
	// The name runs to the end of line L with no "=" (rather than hitting a
	// character a name cannot have) exactly when adding "=x" there mends it:
	// statements before S end on or before line L, so they still parse.
	line := src[lineStart(ends, l-1):ends[l-1]]
	mended := append(src[:ends[l-1]:ends[l-1]], "=x\n"...)
	msg := msgBadName
	if !bytes.ContainsAny(line, "=:") || parses(mended) {
		msg = msgExpected
	}
	// When line L closes a value quoted on an earlier line, the real mistake
	// is usually a missing closing quote up there: say where it opened.
	if l > 1 {
		p := src[:ends[l-2]+1]
		for _, q := range []byte{'"', '\''} {
			if !parses(p) && parses(withQuote(p, q)) {
				if open := openQuote(p, q); open >= 0 {
					msg += fmt.Sprintf(hintQuoted, lineAt(src, open))
				}
				break
			}
		}
	}
	return l, msg
}

// openQuote returns the offset of the quote that opens the value left
// unterminated at the end of src, where q is its quote character, or -1.
// That quote follows "=", ":" or a space, and every later q is escaped, or
// it would have closed the value: so it is the last unescaped q.
func openQuote(src []byte, q byte) int {
	for i := len(src) - 1; i > 0; i-- {
		if src[i] == q && src[i-1] != '\\' {
			return i
		}
	}
	return -1
}

// locateEmptyName returns the line of the first statement whose name is
// empty, for a src that godotenv accepts. A prefix that cuts a multi-line
// value is closed with its quote first, as in locate.
func locateEmptyName(src []byte) int {
	ends := lineEnds(src)
	l := 1 + sort.Search(len(ends), func(i int) bool {
		p := src[:ends[i]+1]
		for _, cand := range [][]byte{p, withQuote(p, '"'), withQuote(p, '\'')} {
			if vars, err := godotenv.UnmarshalBytes(cand); err == nil {
				_, ok := vars[""]
				return ok
			}
		}
		return false
	})
	return min(l, len(ends))
}

// keyBefore returns the name of the statement whose value starts right after
// prefix, by giving that statement two different plain values: the key that
// takes each of them is S's (no other value can depend on S's).
func keyBefore(prefix []byte) string {
	a, errA := godotenv.UnmarshalBytes(append(prefix[:len(prefix):len(prefix)], "a\n"...))
	b, errB := godotenv.UnmarshalBytes(append(prefix[:len(prefix):len(prefix)], "b\n"...))
	if errA != nil || errB != nil {
		return ""
	}
	for k, v := range a {
		if v == "a" && b[k] == "b" {
			return k
		}
	}
	return ""
}

func parses(src []byte) bool {
	_, err := godotenv.UnmarshalBytes(src)
	return err == nil
}

// withQuote returns a copy of src, which ends in "\n", with a line holding
// just q appended; the quote is never escaped since a newline precedes it.
func withQuote(src []byte, q byte) []byte {
	return append(src[:len(src):len(src)], q, '\n')
}

// lineEnds returns the offset of every "\n" in src.
func lineEnds(src []byte) []int {
	var ends []int
	for i, c := range src {
		if c == '\n' {
			ends = append(ends, i)
		}
	}
	return ends
}

func lineStart(ends []int, i int) int {
	if i == 0 {
		return 0
	}
	return ends[i-1] + 1
}

// lineAt returns the 1-based line of byte offset i.
func lineAt(src []byte, i int) int {
	return 1 + bytes.Count(src[:i], []byte("\n"))
}
