package logmux

import (
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// jsonTime is RFC 3339 with a fixed number of sub-second digits, so that
// lines sort as text.
const jsonTime = "2006-01-02T15:04:05.000000Z07:00"

// systemLabel labels procman's own lines in text mode (foreman's word).
const systemLabel = "system"

// appendPrefix appends "15:04:05 web.1  | ", colouring all but the last
// space.
func (m *Mux) appendPrefix(dst []byte, now time.Time, label, on, off string) []byte {
	dst = append(dst, on...)
	if m.opts.Timestamps {
		dst = now.AppendFormat(dst, m.layout)
		dst = append(dst, ' ')
	}
	dst = append(dst, label...)
	for range int(m.width.Load()) - len(label) {
		dst = append(dst, ' ')
	}
	dst = append(dst, " |"...)
	dst = append(dst, off...)
	return append(dst, ' ')
}

// appendTextEvent appends e as a system line, its label coloured with the
// escapes on and off (the Mux's own, or a Logs reader's choice).
func (m *Mux) appendTextEvent(dst []byte, now time.Time, e Event, on, off string) []byte {
	dst = m.appendPrefix(dst, now, systemLabel, on, off)
	msg := e.Msg
	if msg == "" {
		msg = strings.TrimSpace(e.Proc + " " + e.Kind)
	}
	dst = append(dst, strings.TrimRight(msg, "\n")...)
	return append(dst, '\n')
}

// appendJSONHead appends an object up to the opening quote of its "line"
// value; every object of one read shares it.
func appendJSONHead(dst []byte, now time.Time, label string, pid int) []byte {
	dst = append(dst, `{"time":"`...)
	dst = now.UTC().AppendFormat(dst, jsonTime)
	dst = append(dst, `","proc":"`...)
	dst, _ = appendJSONString(dst, []byte(label))
	dst = append(dst, `","pid":`...)
	dst = strconv.AppendInt(dst, int64(pid), 10)
	return append(dst, `,"stream":"output","line":"`...)
}

// appendJSONLine appends the rest of an object started by appendJSONHead.
func appendJSONLine(dst, head, line []byte, partial bool) []byte {
	dst = append(dst, head...)
	dst, invalid := appendJSONString(dst, line)
	dst = append(dst, '"')
	if invalid {
		dst = append(dst, `,"line_b64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, line)
		dst = append(dst, '"')
	}
	if partial {
		dst = append(dst, `,"partial":true`...)
	}
	return append(dst, "}\n"...)
}

func appendJSONEvent(dst []byte, now time.Time, e Event) []byte {
	proc := e.Proc
	if proc == "" {
		proc = systemLabel
	}
	dst = append(dst, `{"time":"`...)
	dst = now.UTC().AppendFormat(dst, jsonTime)
	dst = append(dst, `","proc":"`...)
	dst, _ = appendJSONString(dst, []byte(proc))
	dst = append(dst, '"')
	if e.Pid != 0 {
		dst = append(dst, `,"pid":`...)
		dst = strconv.AppendInt(dst, int64(e.Pid), 10)
	}
	dst = append(dst, `,"stream":"system","event":"`...)
	dst, _ = appendJSONString(dst, []byte(e.Kind))
	dst = append(dst, '"')
	if e.Signal != "" {
		dst = append(dst, `,"signal":"`...)
		dst, _ = appendJSONString(dst, []byte(e.Signal))
		dst = append(dst, '"')
	} else if e.Kind == "exited" || e.Kind == "restart" {
		dst = append(dst, `,"code":`...)
		dst = strconv.AppendInt(dst, int64(e.Code), 10)
	}
	if e.Kind == "restart" {
		dst = append(dst, `,"delay":`...)
		dst = strconv.AppendFloat(dst, e.Delay.Seconds(), 'f', 3, 64)
	}
	if e.Port != 0 {
		dst = append(dst, `,"port":`...)
		dst = strconv.AppendInt(dst, int64(e.Port), 10)
	}
	dst = append(dst, `,"line":"`...)
	dst, _ = appendJSONString(dst, []byte(e.Msg))
	return append(dst, "\"}\n"...)
}

// jsonSafe marks the ASCII bytes that go into a JSON string as they are.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendJSONString appends s escaped for the inside of a JSON string.
// Invalid UTF-8 becomes \ufffd and is reported, so the caller can add the
// exact bytes.
func appendJSONString(dst, s []byte) (_ []byte, invalid bool) {
	if plainASCII(s) {
		return append(dst, s...), false
	}
	start := 0
	for i := 0; i < len(s); {
		// Log lines are mostly plain ASCII: skip it eight bytes at a time.
		for i+8 <= len(s) && plain8(binary.LittleEndian.Uint64(s[i:])) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, `\n`...)
			case '\r':
				dst = append(dst, `\r`...)
			case '\t':
				dst = append(dst, `\t`...)
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			invalid = true
			i++
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...), invalid
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// plainASCII reports whether no byte of s needs escaping, looking at eight
// bytes at a time without a branch per word: most log lines are plain
// ASCII and are then copied as they are.
func plainASCII(s []byte) bool {
	var acc uint64
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64(s[i:])
		q := x ^ (lsb * '"')
		b := x ^ (lsb * '\\')
		// Top bits: x's mark bytes >= 0x80; the others bytes < 0x20, '"'
		// and '\\' (borrows only ever add marks above a true one).
		acc |= x | (x-lsb*0x20)&^x | (q-lsb)&^q | (b-lsb)&^b
	}
	if acc&msb != 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf || !jsonSafe[s[i]] {
			return false
		}
	}
	return true
}

// plain8 reports whether none of the eight bytes in x needs escaping: none
// is a control character, '"', '\\' or outside ASCII. hasZero sets a byte's
// top bit for a zero byte (and never without one in a word with no byte
// >= 0x80, which is checked first).
func plain8(x uint64) bool {
	hasZero := func(v uint64) uint64 { return (v - lsb) & ^v & msb }
	return (x&msb)|hasZero(x^(lsb*'"'))|hasZero(x^(lsb*'\\'))|((x-lsb*0x20)&^x&msb) == 0
}

// runeCut returns n, or less so that p[:n] does not end inside a valid but
// incomplete UTF-8 sequence whose rest is in p[n:].
func runeCut(p []byte, n int) int {
	for i := n - 1; i >= 0 && i > n-utf8.UTFMax; i-- {
		if utf8.RuneStart(p[i]) {
			if i > 0 && !utf8.FullRune(p[i:n]) && utf8.FullRune(p[i:min(len(p), i+utf8.UTFMax)]) {
				return i
			}
			return n
		}
	}
	return n
}
