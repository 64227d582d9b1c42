package export

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Each manager reads its files with its own quoting rules, and the values
// come from Procfiles and env files that may hold anything. Every function
// here either returns text that the manager reads back as exactly the input,
// or an error; none of them puts the value itself in the error, because
// env-file values may be secrets.

// systemdArg quotes s as one word of a systemd command line (ExecStart=).
// Inside double quotes systemd honours C escapes; outside of any quoting it
// expands % specifiers and $VAR, so both are doubled to leave expansion to
// the shell that runs the command.
func systemdArg(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("is not valid UTF-8")
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '%':
			b.WriteString("%%")
		case '$':
			b.WriteString("$$")
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\x%02x`, r)
				continue
			}
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String(), nil
}

// systemdValue escapes a plain setting value (a path, a user, a
// description): only % specifiers are special there, but a line break would
// end the setting and leading or trailing blanks would be trimmed.
func systemdValue(s string) (string, error) {
	if err := plainLine(s); err != nil {
		return "", err
	}
	return strings.ReplaceAll(s, "%", "%%"), nil
}

// envFileValue quotes s for a KEY="value" line that both systemd's
// EnvironmentFile= and a POSIX shell read back unchanged: inside double
// quotes both treat a backslash before \ " $ ` as an escape and everything
// else, newlines included, as literal text.
func envFileValue(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("is not valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "", fmt.Errorf("contains a NUL byte")
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '"', '$', '`':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String(), nil
}

// shQuote quotes s as one POSIX shell word.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// supervisord reads its config in three passes: Python's configparser
// (which cuts a value at a ';' or '#' that follows whitespace and trims each
// line), then %-interpolation, then shlex. These helpers produce text that
// survives all three.

// supervisorArg quotes s as one word of a supervisord command=, which is
// split with shlex in POSIX mode. Single-quoted chunks carry the text; a
// quote, ';' or '#' goes in double quotes of its own so that no comment
// marker ever follows whitespace.
func supervisorArg(s string) (string, error) {
	if err := supervisorText(s); err != nil {
		return "", err
	}
	if strings.ContainsAny(s, "\n") {
		return "", fmt.Errorf("contains a line break")
	}
	var b strings.Builder
	open := false
	for _, r := range s {
		switch r {
		case '\'', ';', '#':
			if open {
				b.WriteByte('\'')
				open = false
			}
			b.WriteByte('"')
			b.WriteRune(r)
			b.WriteByte('"')
		default:
			if !open {
				b.WriteByte('\'')
				open = true
			}
			if r == '%' {
				b.WriteString("%%")
			} else {
				b.WriteRune(r)
			}
		}
	}
	if open {
		b.WriteByte('\'')
	}
	if s == "" {
		b.WriteString("''")
	}
	return b.String(), nil
}

// supervisorValue checks and escapes a plain supervisord setting such as
// directory= or user=.
func supervisorValue(s string) (string, error) {
	if err := plainLine(s); err != nil {
		return "", err
	}
	if err := supervisorText(s); err != nil {
		return "", err
	}
	if commentAfterSpace(s) {
		return "", fmt.Errorf("has a ';' or '#' after a blank, which supervisord reads as a comment")
	}
	return strings.ReplaceAll(s, "%", "%%"), nil
}

// supervisorEnv renders KEY="value" for environment=. supervisord splits
// that setting with shlex in non-POSIX mode and then strips quote characters
// from both ends of each value: there is no escape, so a value can be
// written only if one kind of quote is absent from it, it does not begin or
// end with a quote, and no comment marker follows whitespace. A line break
// survives only as configparser's continuation line, which is trimmed, so
// each continued line must be non-empty and have no blank at either end.
func supervisorEnv(key, value string) (string, error) {
	if err := supervisorEnvValue(value); err != nil {
		return "", fmt.Errorf("the value of %s %w", key, err)
	}
	quote := `"`
	if strings.Contains(value, `"`) {
		quote = "'"
	}
	value = strings.ReplaceAll(value, "%", "%%")
	// configparser joins continuation lines with "\n" after trimming them,
	// so the indentation added here is removed again.
	value = strings.ReplaceAll(value, "\n", "\n  ")
	return key + "=" + quote + value + quote, nil
}

func supervisorEnvValue(value string) error {
	if err := supervisorText(value); err != nil {
		return err
	}
	if commentAfterSpace(value) {
		return fmt.Errorf("has a ';' or '#' after a blank, which supervisord reads as a comment")
	}
	if strings.HasPrefix(value, "'") || strings.HasPrefix(value, `"`) ||
		strings.HasSuffix(value, "'") || strings.HasSuffix(value, `"`) {
		return fmt.Errorf("begins or ends with a quote, which supervisord strips")
	}
	if strings.Contains(value, `"`) && strings.Contains(value, "'") {
		return fmt.Errorf("holds both kinds of quote, which supervisord cannot escape")
	}
	lines := strings.Split(value, "\n")
	for i, line := range lines {
		if i > 0 && (line == "" || strings.TrimSpace(line) != line ||
			line[0] == ';' || line[0] == '#') {
			return fmt.Errorf("has a line break followed by an empty line, a blank, ';' or '#', which supervisord trims")
		}
		if i < len(lines)-1 && strings.TrimRight(line, " \t") != line {
			return fmt.Errorf("has a blank before a line break, which supervisord trims")
		}
	}
	return nil
}

// supervisorText rejects what no supervisord setting can carry: Python
// reads the file as UTF-8 text with universal newlines, so a carriage
// return would turn into a line break.
func supervisorText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("is not valid UTF-8")
	}
	for _, r := range s {
		if r == '\r' || r == 0 {
			return fmt.Errorf("contains a carriage return or NUL")
		}
	}
	return nil
}

func commentAfterSpace(s string) bool {
	for i := 1; i < len(s); i++ {
		if (s[i] == ';' || s[i] == '#') && (s[i-1] == ' ' || s[i-1] == '\t') {
			return true
		}
	}
	return false
}

// plainLine rejects what a one-line setting cannot hold: control
// characters and blanks at either end (which ini-style readers trim).
func plainLine(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("is not valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("contains a control character")
		}
	}
	if strings.TrimSpace(s) != s {
		return fmt.Errorf("begins or ends with a blank")
	}
	return nil
}

// xmlText escapes s for a plist <string>. XML 1.0 cannot carry most C0
// control characters at all, not even as character references.
func xmlText(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("is not valid UTF-8")
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '"':
			b.WriteString("&quot;")
		case r == '\n':
			b.WriteString("&#10;")
		case r == '\r':
			b.WriteString("&#13;")
		case r == '\t':
			b.WriteString("&#9;")
		case r < 0x20 || r == 0xFFFE || r == 0xFFFF:
			return "", fmt.Errorf("contains a character that XML cannot carry")
		default:
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}

// yamlString quotes s as a YAML double-quoted scalar. JSON's string
// escapes are a subset of YAML's, so a JSON string literal is one.
func yamlString(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("is not valid UTF-8")
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// kubeCommand escapes a command for a container's command: Kubernetes
// expands $(VAR) there and turns $$ into $, so every $ is doubled to hand
// the command to the shell as written.
func kubeCommand(s string) string {
	return strings.ReplaceAll(s, "$", "$$")
}
