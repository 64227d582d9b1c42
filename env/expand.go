package env

import (
	"regexp"
	"strings"
	"sync"
)

// These are godotenv v1.5.1's patterns, so that escapes and references
// read as they always have. A reference is "$" or "${" and the longest run
// of A-Z, 0-9 and "_" (a lower-case name is not one, and "$Home" refers to
// H), with an optional "}"; a backslash before the "$" makes it literal.
// They are compiled on first use: a procman without env files never
// pays for them.
var (
	escape    = lazyRegexp(`\\.`)
	unescape  = lazyRegexp(`\\([^$])`)
	reference = lazyRegexp(`(\\)?(\$)(\()?\{?([A-Z0-9_]+)?\}?`)
)

// lazyRegexp returns a function that compiles expr the first time it is
// called.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// value returns what st sets its key to, calling lookup for each name its
// value refers to: a single-quoted value is taken as written; a
// double-quoted one has its \n and \r escapes replaced and every other
// backslash before a character other than "$" dropped, then is expanded;
// an unquoted one is expanded as written. What lookup returns is inserted
// as it is, never expanded again.
func (st statement) value(lookup func(name string) string) string {
	switch st.quote {
	case '\'':
		return st.raw
	case '"':
		s := escape().ReplaceAllStringFunc(st.raw, func(m string) string {
			switch m {
			case `\n`:
				return "\n"
			case `\r`:
				return "\r"
			}
			return m
		})
		return expand(unescape().ReplaceAllString(s, "$1"), lookup)
	}
	return expand(st.raw, lookup)
}

// expand replaces each reference in s with what lookup returns for its
// name, and an escaped "\$" with "$".
func expand(s string, lookup func(name string) string) string {
	matches := reference().FindAllStringSubmatchIndex(s, -1)
	if matches == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range matches {
		b.WriteString(s[last:m[0]])
		last = m[1]
		switch {
		case m[2] >= 0: // escaped: the match without its backslash
			b.WriteString(s[m[0]+1 : m[1]])
		case m[8] >= 0:
			b.WriteString(lookup(s[m[8]:m[9]]))
		default: // a "$" without a name
			b.WriteString(s[m[0]:m[1]])
		}
	}
	b.WriteString(s[last:])
	return b.String()
}
