package export

import (
	"encoding/json"
	"encoding/xml"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// quoteSeeds are the awkward strings every encoder is tried on; the fuzz
// test starts from them.
var quoteSeeds = []string{
	"", "plain", "two words", "  padded  ", "it's", `say "hi"`, `it's "both"`,
	"$HOME ${PORT} $(id) `id` $$", `back\slash \n \" \\`, "100% %s %%", "a ;b #c", "a;b#c",
	"line1\nline2", "a\n  b\n\nc\n", "\r\n", "\t", "\x01\x7f", "café ☕", "\u2028", "\xff\xfe",
	"'", `"`, ";", "#", "%", "-----BEGIN KEY-----\nMIIB+/=\n-----END KEY-----",
}

// The decoders below read each encoder's output the way its consumer
// does, for the subset of the syntax the encoders produce.

// posixDoubleQuoted reads "..." as a POSIX shell and systemd's
// EnvironmentFile= do.
func posixDoubleQuoted(t *testing.T, q string) string {
	if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
		t.Fatalf("not double-quoted: %q", q)
	}
	in := q[1 : len(q)-1]
	var b strings.Builder
	for i := 0; i < len(in); i++ {
		c := in[i]
		if c == '\\' && i+1 < len(in) && strings.IndexByte("\\\"$`", in[i+1]) >= 0 {
			b.WriteByte(in[i+1])
			i++
			continue
		}
		if c == '"' || c == '$' || c == '`' || c == '\\' {
			t.Fatalf("unescaped %q in %q", c, q)
		}
		b.WriteByte(c)
	}
	return b.String()
}

// systemdWord reads one double-quoted word of an ExecStart= line: C
// escapes, then %% and $$ as systemd's specifier and variable expansion
// leave them.
func systemdWord(t *testing.T, q string) string {
	if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
		t.Fatalf("not double-quoted: %q", q)
	}
	in := q[1 : len(q)-1]
	var b strings.Builder
	for i := 0; i < len(in); i++ {
		switch c := in[i]; {
		case c == '\\':
			i++
			switch in[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'x':
				n, err := strconv.ParseUint(in[i+1:i+3], 16, 8)
				if err != nil {
					t.Fatalf("bad \\x in %q", q)
				}
				b.WriteByte(byte(n))
				i += 2
			default:
				b.WriteByte(in[i])
			}
		case c == '%' || c == '$':
			if i+1 >= len(in) || in[i+1] != c {
				t.Fatalf("lone %q in %q", c, q)
			}
			b.WriteByte(c)
			i++
		case c == '"':
			t.Fatalf("unescaped quote in %q", q)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// shlexWord reads text as Python's configparser, %-interpolation and
// shlex.split in POSIX mode do, for one word made of '...' and "..."
// chunks without escapes.
func shlexWord(t *testing.T, q string) string {
	if commentAfterSpace(q) {
		t.Fatalf("configparser would cut %q at a comment", q)
	}
	q = strings.ReplaceAll(q, "%%", "\x00")
	if strings.Contains(q, "%") {
		t.Fatalf("lone %% in %q", q)
	}
	q = strings.ReplaceAll(q, "\x00", "%")
	var b strings.Builder
	for len(q) > 0 {
		quote := q[0]
		if quote != '\'' && quote != '"' {
			t.Fatalf("unquoted text in %q", q)
		}
		end := strings.IndexByte(q[1:], quote)
		if end < 0 {
			t.Fatalf("unterminated chunk in %q", q)
		}
		chunk := q[1 : end+1]
		if quote == '"' && strings.ContainsAny(chunk, "\\") {
			t.Fatalf("escape in a double-quoted chunk %q", q)
		}
		b.WriteString(chunk)
		q = q[end+2:]
	}
	return b.String()
}

// supervisorEnvRead reads KEY="value" as configparser (continuation lines
// trimmed and joined with \n), %-interpolation and supervisord's non-POSIX
// shlex plus strip('\'"') do.
func supervisorEnvRead(t *testing.T, kv string) string {
	if commentAfterSpace(kv) {
		t.Fatalf("configparser would cut %q at a comment", kv)
	}
	lines := strings.Split(kv, "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	kv = strings.Join(lines, "\n")
	_, v, _ := strings.Cut(kv, "=")
	v = strings.ReplaceAll(v, "%%", "%")
	quote := v[0]
	if strings.IndexByte(v[1:len(v)-1], quote) >= 0 {
		t.Fatalf("the value ends early in %q", kv)
	}
	return strings.Trim(v, `'"`)
}

func checkQuoting(t *testing.T, s string) {
	if q, err := envFileValue(s); err == nil {
		if got := posixDoubleQuoted(t, q); got != s {
			t.Errorf("envFileValue(%q) = %q reads back as %q", s, q, got)
		}
	} else if utf8.ValidString(s) && !strings.Contains(s, "\x00") {
		t.Errorf("envFileValue(%q): %v", s, err)
	}
	if q, err := systemdArg(s); err == nil {
		if got := systemdWord(t, q); got != s {
			t.Errorf("systemdArg(%q) = %q reads back as %q", s, q, got)
		}
		if strings.ContainsAny(q, "\n\r") {
			t.Errorf("systemdArg(%q) = %q spans lines", s, q)
		}
	} else if utf8.ValidString(s) {
		t.Errorf("systemdArg(%q): %v", s, err)
	}
	if q, err := supervisorArg(s); err == nil {
		if got := shlexWord(t, q); got != s {
			t.Errorf("supervisorArg(%q) = %q reads back as %q", s, q, got)
		}
	}
	if kv, err := supervisorEnv("K", s); err == nil {
		if got := supervisorEnvRead(t, kv); got != s {
			t.Errorf("supervisorEnv(%q) = %q reads back as %q", s, kv, got)
		}
	} else if strings.Contains(err.Error(), s) && s != "" {
		t.Errorf("supervisorEnv(%q): the error shows the value: %v", s, err)
	}
	if q, err := xmlText(s); err == nil {
		var v struct {
			S string `xml:",chardata"`
		}
		if err := xml.Unmarshal([]byte("<s>"+q+"</s>"), &v); err != nil || v.S != s {
			t.Errorf("xmlText(%q) = %q reads back as %q (%v)", s, q, v.S, err)
		}
	}
	if q, err := yamlString(s); err == nil {
		var v string
		if err := json.Unmarshal([]byte(q), &v); err != nil || v != s {
			t.Errorf("yamlString(%q) = %q reads back as %q (%v)", s, q, v, err)
		}
		if strings.ContainsAny(q, "\n\r") {
			t.Errorf("yamlString(%q) = %q spans lines", s, q)
		}
	} else if utf8.ValidString(s) {
		t.Errorf("yamlString(%q): %v", s, err)
	}
	if got := strings.ReplaceAll(kubeCommand(s), "$$", "$"); got != s {
		t.Errorf("kubeCommand(%q) reads back as %q", s, got)
	}
}

func TestQuoting(t *testing.T) {
	for _, s := range quoteSeeds {
		checkQuoting(t, s)
	}
}

// TestSupervisorEnvRefuses: what supervisord cannot carry is refused, not
// written differently.
func TestSupervisorEnvRefuses(t *testing.T) {
	for _, s := range []string{`it's "both"`, "'lead", "trail\"", "a ;b", "a #b", "a\n b", "a \nb", "a\n\nb", "a\n#b", "a\rb", "\xff"} {
		if kv, err := supervisorEnv("K", s); err == nil {
			t.Errorf("supervisorEnv(%q) = %q, want an error", s, kv)
		}
	}
}

func FuzzQuoting(f *testing.F) {
	for _, s := range quoteSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkQuoting(t, s)
	})
}
