package env

import (
	"bytes"
	"errors"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/joho/godotenv"
)

// FuzzParse checks, for any file: parse never panics; it agrees with
// godotenv on whether the file is valid and on its variables; an error is a
// *ParseError with a line inside the file and one of the fixed messages
// (the only variable part is a key), so it cannot carry a value. Where
// godotenv's own message pins the place down, the line must match it.
func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add([]byte(tc.src))
	}
	for _, tc := range errorCases {
		f.Add([]byte(tc.src))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parse(data, "f.env")

		src := normalize(data)
		lines := bytes.Count(src, []byte("\n"))
		special := bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) ||
			bytes.IndexByte(src, 0) >= 0
		want, gdErr := godotenv.UnmarshalBytes(src)
		_, emptyKey := want[""]

		if err == nil {
			if special || gdErr != nil || emptyKey {
				t.Fatalf("parse(%q) accepted it; godotenv: %v", data, gdErr)
			}
			if !maps.Equal(got, want) {
				t.Fatalf("parse(%q) = %q, godotenv gives %q", data, got, want)
			}
			return
		}

		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Fatalf("parse(%q): %T %v, want *ParseError", data, err, err)
		}
		if pe.Path != "f.env" || pe.Line < 1 || pe.Line > max(lines, 1) {
			t.Fatalf("parse(%q): %v: line outside 1..%d", data, err, lines)
		}
		if !knownMessage.MatchString(pe.Msg) {
			t.Fatalf("parse(%q): unknown message %q", data, pe.Msg)
		}
		if m := hintLine.FindStringSubmatch(pe.Msg); m != nil {
			if n, _ := strconv.Atoi(m[1]); n >= pe.Line {
				t.Fatalf("parse(%q) = %v: the quote must open before the line", data, err)
			}
		}
		if special {
			return
		}
		if gdErr == nil && !emptyKey {
			t.Fatalf("parse(%q) = %v, but godotenv accepts it", data, err)
		}
		if gdErr != nil {
			if want, ok := godotenvLine(src, gdErr); ok && want != pe.Line {
				t.Fatalf("parse(%q) = %v; godotenv's error (%v) is on line %d", data, err, gdErr, want)
			}
			// godotenv quotes an unterminated value from its quote to the end
			// of that line: the line reported must end with it.
			if text, ok := strings.CutPrefix(gdErr.Error(), "unterminated quoted value "); ok {
				line := bytes.Split(src, []byte("\n"))[pe.Line-1]
				if !bytes.HasSuffix(line, []byte(text)) {
					t.Fatalf("parse(%q) = %v; godotenv's error (%v) is not on that line", data, err, gdErr)
				}
			}
		}
	})
}

// knownMessage matches every message parse may give; the only free text in
// it is a key (no "=" and no newline), never a value.
var knownMessage = regexp.MustCompile(`^(` +
	regexp.QuoteMeta(msgUnterminated) + `( for [^=\n]+)?|` +
	`(` + regexp.QuoteMeta(msgExpected) + `|` + regexp.QuoteMeta(msgBadName) + `)` +
	`( \(a value quoted on line [1-9][0-9]* ends on this line\))?|` +
	regexp.QuoteMeta(msgEmptyName) + `|` + regexp.QuoteMeta(msgNUL) + `|` + regexp.QuoteMeta(msgUTF16) + `)$`)

var hintLine = regexp.MustCompile(`quoted on line ([0-9]+)`)

// godotenvLine derives the line of a name error from godotenv's message,
// which quotes the whole rest of the file from the failing statement. Only
// a test may lean on that text: it is an independent check of locate.
func godotenvLine(src []byte, err error) (int, bool) {
	const mid = " in variable name near "
	msg := err.Error()
	if !strings.HasPrefix(msg, "unexpected character ") {
		return 0, false
	}
	i := strings.Index(msg, mid)
	if i < 0 {
		return 0, false
	}
	rest, uerr := strconv.Unquote(msg[i+len(mid):])
	if uerr != nil || !bytes.HasSuffix(src, []byte(rest)) {
		return 0, false
	}
	return lineAt(src, len(src)-len(rest)), true
}
