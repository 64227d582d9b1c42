package env

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
)

// The grammar below is godotenv v1.5.1's, reproduced rather than called:
// godotenv returns only a map of finished values, expanded against the
// file's own earlier keys, while resolving names against the real
// environment needs each statement in order, with its line, its quoting and
// its value as written. Its quirks are kept on purpose, so that a file means
// what it meant to godotenv (FuzzParse holds the two to that), with one
// exception: a quoted value loses exactly its enclosing quotes, where
// godotenv strips every quote at its end and reads "say \"hi\"" as
// `say "hi\`.

// A statement is one KEY=value of an env file as written.
type statement struct {
	key   string
	line  int    // 1-based, where the statement starts
	quote byte   // '\'' or '"' for a quoted value, 0 for an unquoted one
	raw   string // the value without its quotes, not yet unescaped or expanded
}

// parse parses one file's contents into its statements, in order; path is
// for errors only.
func parse(data []byte, path string) ([]statement, error) {
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		return nil, &ParseError{Path: path, Line: 1, Msg: msgUTF16}
	}
	src := normalize(data)
	if i := bytes.IndexByte(src, 0); i >= 0 {
		return nil, &ParseError{Path: path, Line: 1 + bytes.Count(src[:i], []byte("\n")), Msg: msgNUL}
	}
	p := parser{src: src, line: 1}
	stmts, line, msg := p.statements()
	if msg != "" {
		return nil, &ParseError{Path: path, Line: line, Msg: msg}
	}
	return stmts, nil
}

// normalize strips a UTF-8 byte-order mark (godotenv would take it as part
// of the first key), adds a final newline if missing (without one, godotenv
// takes a last line with no "=" as the value of the key "", where with one
// it reports the line as malformed), and drops every CR before a newline
// or the end. godotenv turns CRLF into LF itself, but in one pass, so
// "\r\r\n" would still hold a CR that it takes for the end of an unquoted
// value; the result holds none, so a line of the file is a line here.
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

// A parser walks src, which ends in "\n", counting lines as it goes.
type parser struct {
	src  []byte
	at   int // the offset that line is counted up to
	line int
}

// lineAt returns the 1-based line of offset i; offsets must not decrease
// from one call to the next, so a file is counted once.
func (p *parser) lineAt(i int) int {
	p.line += bytes.Count(p.src[p.at:i], []byte("\n"))
	p.at = i
	return p.line
}

// statements returns every statement, or the line and message of the
// first error. An empty name is reported only when the file has no other
// error, since godotenv accepts it (as the key "") and the other errors
// are the ones it reports.
func (p *parser) statements() (stmts []statement, errLine int, msg string) {
	emptyName := 0
	// The lines where the last value that spans lines opens and closes:
	// junk right after such a value usually means its closing quote is
	// missing, and the error then says where it opened.
	spanOpen, spanClose := 0, 0
	for pos := p.next(0); pos >= 0; {
		st := statement{line: p.lineAt(pos)}
		key, value, ok := p.key(pos)
		if !ok {
			msg := msgBadName
			if p.src[value] == '\n' || !bytes.ContainsAny(p.lineOf(pos), "=:") {
				msg = msgExpected
			}
			if spanClose == st.line {
				msg += fmt.Sprintf(hintQuoted, spanOpen)
			}
			return nil, st.line, msg
		}
		st.key = key
		if key == "" && emptyName == 0 {
			emptyName = st.line
		}
		var end int
		if q := p.src[value]; q == '"' || q == '\'' {
			closing := closingQuote(p.src, value)
			if closing < 0 {
				msg := msgUnterminated
				if key != "" {
					msg += " for " + key
				}
				return nil, p.lineAt(value), msg
			}
			st.quote, st.raw = q, string(p.src[value+1:closing])
			if open, close := p.lineAt(value), p.lineAt(closing); open != close {
				spanOpen, spanClose = open, close
			}
			end = closing + 1
		} else {
			st.raw, end = unquoted(p.src, value)
		}
		stmts = append(stmts, st)
		pos = p.next(end)
	}
	if emptyName > 0 {
		return nil, emptyName, msgEmptyName
	}
	return stmts, 0, ""
}

// next returns the offset of the first statement at or after i, skipping
// white space (newlines included) and comment lines, or -1 at the end.
func (p *parser) next(i int) int {
	for {
		j := bytes.IndexFunc(p.src[i:], func(r rune) bool { return !unicode.IsSpace(r) })
		if j < 0 {
			return -1
		}
		i += j
		if p.src[i] != '#' {
			return i
		}
		i += bytes.IndexByte(p.src[i:], '\n') // src ends in "\n"
	}
}

// key reads the name of the statement at i, after an optional "export ",
// up to its "=" or ":". It returns the name and the offset of the value
// (after the separator and any spaces), or ok false and the offset of the
// character that cannot be in a name: a newline when the line ends first.
//
// As in godotenv, a name is checked byte by byte, each byte taken as the
// Latin-1 character of that number: letters, digits, "_" and "." are
// allowed and spaces skipped, so "A B" is a name and a UTF-8 letter may
// not be.
func (p *parser) key(i int) (key string, value int, ok bool) {
	rest := bytes.TrimLeftFunc(p.src[i:], isSpace)
	if after, found := bytes.CutPrefix(rest, []byte("export")); found && bytes.IndexFunc(after, isSpace) == 0 {
		rest = bytes.TrimLeftFunc(after, isSpace)
	}
	start := len(p.src) - len(rest)
	for j, c := range rest {
		r := rune(c)
		switch {
		case isSpace(r), c == '_', c == '.', unicode.IsLetter(r), unicode.IsNumber(r):
		case c == '=' || c == ':':
			after := bytes.TrimLeftFunc(rest[j+1:], isSpace)
			return strings.TrimRightFunc(string(rest[:j]), unicode.IsSpace), len(p.src) - len(after), true
		default:
			return "", start + j, false
		}
	}
	return "", len(p.src) - 1, false // unreachable: src ends in "\n"
}

// lineOf returns the line that holds offset i, without its newline.
func (p *parser) lineOf(i int) []byte {
	start := bytes.LastIndexByte(p.src[:i], '\n') + 1
	return p.src[start : i+bytes.IndexByte(p.src[i:], '\n')]
}

// closingQuote returns the offset of the quote that closes the value whose
// opening quote is at src[open], or -1: the next quote of the same kind not
// preceded by a backslash (so "a\\" is not closed, as in godotenv).
func closingQuote(src []byte, open int) int {
	q := src[open]
	for i := open + 1; i < len(src); i++ {
		if src[i] == q && src[i-1] != '\\' {
			return i
		}
	}
	return -1
}

// unquoted returns the unquoted value at src[i:] and where it ends: at the
// end of the line or at a CR, without a comment (the last "#" that follows
// a space) and without surrounding spaces. Bytes that are not UTF-8 become
// U+FFFD, as in godotenv.
func unquoted(src []byte, i int) (string, int) {
	end := i + bytes.IndexFunc(src[i:], func(r rune) bool { return r == '\n' || r == '\r' })
	line := []rune(string(src[i:end]))
	n := len(line)
	for j := n - 1; j > 0; j-- {
		if line[j] == '#' && isSpace(line[j-1]) {
			n = j
			break
		}
	}
	return strings.TrimFunc(string(line[:n]), isSpace), end
}

// isSpace is godotenv's white space within a line: unicode.IsSpace
// without the newline.
func isSpace(r rune) bool {
	switch r {
	case '\t', '\v', '\f', '\r', ' ', 0x85, 0xA0:
		return true
	}
	return false
}
