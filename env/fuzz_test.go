package env

import (
	"bytes"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/joho/godotenv"
)

// FuzzParse checks, for any file: parse never panics; it agrees with
// godotenv on whether the file is valid and, read over an empty environment,
// on its variables (except where godotenv strips an escaped quote with the
// closing one); an error is a *ParseError with a line inside the file and
// one of the fixed messages (the only variable part is a key), so it cannot
// carry a value. Where godotenv's own message pins the place down, the line
// must match it.
func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add([]byte(tc.src))
	}
	for _, tc := range errorCases {
		f.Add([]byte(tc.src))
	}
	for _, tc := range expansionCases {
		f.Add([]byte(tc.files[0]))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		stmts, err := parse(data, "f.env")

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
			prev := 1
			for _, st := range stmts {
				if st.line < prev || st.line > lines {
					t.Fatalf("parse(%q): statement %s on line %d, after line %d of %d", data, st.key, st.line, prev, lines)
				}
				prev = st.line
			}
			r := newResolver(nil)
			for _, st := range stmts {
				r.set("f.env", st)
			}
			if escapedQuoteAtEnd(stmts) {
				if !slices.Equal(slices.Sorted(maps.Keys(r.vars)), slices.Sorted(maps.Keys(want))) {
					t.Fatalf("parse(%q) sets %q, godotenv %q", data, r.vars, want)
				}
				return
			}
			if !maps.Equal(r.vars, want) {
				t.Fatalf("parse(%q) = %q, godotenv gives %q", data, r.vars, want)
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
	return 1 + bytes.Count(src[:len(src)-len(rest)], []byte("\n")), true
}

// escapedQuoteAtEnd reports whether a quoted value ends in an escaped quote
// of its kind, which godotenv strips along with the closing one.
func escapedQuoteAtEnd(stmts []statement) bool {
	for _, st := range stmts {
		if st.quote != 0 && strings.HasSuffix(st.raw, string(st.quote)) {
			return true
		}
	}
	return false
}

// FuzzRead reads a file over a real environment (one KEY=value entry per
// line of environ) as Read does, without the file system, and checks: the
// process sees every file variable with its value in Vars, and every other
// real variable unchanged; a warning names a name the real environment
// does not set, on a line of the file. And where the file sets no key that
// the real environment sets, so that precedence plays no part, the result
// is godotenv's for the real variables written as lines above the file.
func FuzzRead(f *testing.F) {
	for _, tc := range expansionCases {
		f.Add([]byte(tc.files[0]), strings.Join(tc.environ, "\n"))
	}
	for _, tc := range parseCases {
		f.Add([]byte(tc.src), "A=real\nHOME=/home/ann\nPATH=/bin")
	}
	f.Fuzz(func(t *testing.T, data []byte, environ string) {
		const path = "f.env"
		real := strings.Split(environ, "\n")
		stmts, err := parse(data, path)
		if err != nil {
			return // FuzzParse checks errors
		}
		r := newResolver(real)
		for _, st := range stmts {
			r.set(path, st)
		}
		got := r.result(real)

		for k, v := range got.Vars {
			if have, ok := Lookup(got.Environ, k); !ok || have != v {
				t.Fatalf("%s=%q in Vars, but the process sees %q (set: %v)", k, v, have, ok)
			}
		}
		for _, kv := range real {
			k, _, ok := strings.Cut(kv, "=")
			if _, inVars := got.Vars[k]; !ok || inVars {
				continue
			}
			if have, want := lookup2(got.Environ, k), lookup2(real, k); have != want {
				t.Fatalf("%s: the process sees %q, the real environment has %q", k, have, want)
			}
		}
		lines := bytes.Count(normalize(data), []byte("\n"))
		prev := 1
		for _, w := range got.Warnings {
			if w.Path != path || w.Line < prev || w.Line > lines || !refName.MatchString(w.Name) {
				t.Fatalf("warning %v: want a name on a line from %d to %d", w, prev, lines)
			}
			if _, ok := Lookup(real, w.Name); ok {
				t.Fatalf("warning %v: the real environment sets %s", w, w.Name)
			}
			prev = w.Line
		}

		// The oracle, where it applies.
		var prelude []byte
		for _, kv := range real {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			if !plainKey.MatchString(k) || strings.ContainsAny(v, `'\`+"\r\x00") {
				return
			}
			prelude = append(prelude, k+"='"+v+"'\n"...)
		}
		for _, st := range stmts {
			if _, ok := Lookup(real, st.key); ok {
				return
			}
		}
		if escapedQuoteAtEnd(stmts) {
			return
		}
		want, err := godotenv.UnmarshalBytes(append(prelude, normalize(data)...))
		if err != nil {
			t.Fatalf("godotenv rejects the file with the real variables above it: %v", err)
		}
		for k, v := range got.Vars {
			if want[k] != v {
				t.Fatalf("%s=%q; godotenv, with the real variables above the file, gives %q", k, v, want[k])
			}
		}
	})
}

var (
	refName  = regexp.MustCompile(`^[A-Z0-9_]+$`)
	plainKey = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
)

// lookup2 is Lookup as one string, "" for unset and "=v" for v.
func lookup2(environ []string, key string) string {
	if v, ok := Lookup(environ, key); ok {
		return "=" + v
	}
	return ""
}
