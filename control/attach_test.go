package control

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

var detachKeyTests = []struct {
	in   string
	want string // the bytes, when err is ""
	err  string // a part of the error
}{
	{in: "ctrl-b,d", want: "\x02d"},
	{in: DefaultDetachKeys, want: "\x02d"},
	{in: "ctrl-a", want: "\x01"},
	{in: "ctrl-z", want: "\x1a"},
	{in: "ctrl-Q", want: "\x11"},
	{in: "CTRL-p,CTRL-q", want: "\x10\x11"},
	{in: `ctrl-@,ctrl-[,ctrl-\,ctrl-],ctrl-^,ctrl-_`, want: "\x00\x1b\x1c\x1d\x1e\x1f"},
	{in: "q", want: "q"},
	{in: "~,!, ", want: "~! "},
	{in: "a,b,c,d,e", want: "abcde"},

	{in: "", err: "none given"},
	{in: ",", err: `"" is not a key`},
	{in: "ctrl-b,", err: `"" is not a key`},
	{in: "ctrl-b,,d", err: `"" is not a key`},
	{in: "ctrl-", err: `"ctrl-" is not a key`},
	{in: "ctrl-1", err: `"ctrl-1" is not a key`},
	{in: "ctrl-?", err: `"ctrl-?" is not a key`},
	{in: "ctrl-`", err: "is not a key"},
	{in: "ctrl-ab", err: `"ctrl-ab" is not a key`},
	{in: "ctrl+b", err: `"ctrl+b" is not a key`},
	{in: "ctrl-b ,d", err: `"ctrl-b " is not a key`},
	{in: "dd", err: `"dd" is not a key`},
	{in: "\t", err: `"\t" is not a key`},
	{in: "\x7f", err: `"\x7f" is not a key`},
	{in: "é", err: `"é" is not a key`},
	{in: "alt-b", err: `"alt-b" is not a key`},
}

func TestParseDetachKeys(t *testing.T) {
	for _, tt := range detachKeyTests {
		t.Run(tt.in, func(t *testing.T) {
			have, err := ParseDetachKeys(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("want an error containing %q, have %q, %v", tt.err, have, err)
				}
				return
			}
			if err != nil || string(have) != tt.want {
				t.Fatalf("want %q, have %q, %v", tt.want, have, err)
			}
		})
	}
}

// keyName is the name ParseDetachKeys reads back as b.
func keyName(b byte) string {
	switch {
	case 1 <= b && b <= 26:
		return "ctrl-" + string(rune(b-1+'a'))
	case b < ' ':
		return "ctrl-" + string(rune(b+'@'))
	}
	return string(rune(b))
}

// FuzzParseDetachKeys: what ParseDetachKeys accepts is one byte per item,
// none of them DEL or above, and reads back the same from its canonical
// names; what it refuses gets one line that says so.
func FuzzParseDetachKeys(f *testing.F) {
	for _, tt := range detachKeyTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		keys, err := ParseDetachKeys(s)
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "detach keys: ") || strings.Contains(msg, "\n") || len(msg) > 300 {
				t.Fatalf("%q: error %q", s, msg)
			}
			return
		}
		if len(keys) == 0 || len(keys) != strings.Count(s, ",")+1 {
			t.Fatalf("%q: %d keys", s, len(keys))
		}
		var names []string
		for _, k := range keys {
			if k > '~' {
				t.Fatalf("%q: key %#x", s, k)
			}
			names = append(names, keyName(k))
		}
		again, err := ParseDetachKeys(strings.Join(names, ","))
		if err != nil || !bytes.Equal(again, keys) {
			t.Fatalf("%q: %q reads back as %q, %v", s, keys, again, err)
		}
	})
}

func TestDetector(t *testing.T) {
	for _, tt := range []struct {
		name  string
		keys  string
		reads []string
		want  string // passed on, until the sequence or the end
		hit   bool
	}{
		{"plain", "\x02d", []string{"hello", " world"}, "hello world", false},
		{"sequence", "\x02d", []string{"ab\x02d"}, "ab", true},
		{"split across reads", "\x02d", []string{"ab\x02", "d"}, "ab", true},
		{"what follows is dropped", "\x02d", []string{"a\x02dtail"}, "a", true},
		{"prefix then other", "\x02d", []string{"\x02x"}, "\x02x", false},
		{"prefix then other, split", "\x02d", []string{"\x02", "x", "y"}, "\x02xy", false},
		{"prefix at the end is held", "\x02d", []string{"ab\x02"}, "ab", false},
		{"prefix twice, then the rest", "\x02d", []string{"\x02", "\x02", "d"}, "\x02", true},
		{"the second key alone", "\x02d", []string{"d\x02", "\x02x"}, "d\x02\x02x", false},
		{"overlapping", "aab", []string{"aaab"}, "a", true},
		{"overlapping, split", "aab", []string{"a", "a", "a", "b"}, "a", true},
		{"overlapping miss", "aab", []string{"aaac"}, "aaac", false},
		{"periodic", "abab", []string{"abaabab"}, "aba", true},
		{"one key", "\x11", []string{"x\x11y"}, "x", true},
		{"empty reads", "\x02d", []string{"", "\x02", "", "d"}, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := detector{keys: []byte(tt.keys)}
			var have []byte
			hit := false
			for _, r := range tt.reads {
				out, h := d.scan([]byte(r))
				have = append(have, out...)
				if h {
					hit = true
					break
				}
			}
			if string(have) != tt.want || hit != tt.hit {
				t.Errorf("want %q, %v; have %q, %v", tt.want, tt.hit, have, hit)
			}
		})
	}
}

// The detector passes on everything but the sequence: what it passes on
// and what it holds make up what was typed, and it detaches exactly at
// the first occurrence of the sequence.
func FuzzDetector(f *testing.F) {
	f.Add([]byte("\x02d"), []byte("ab\x02\x02dc"), uint8(3))
	f.Add([]byte("aab"), []byte("aaab"), uint8(1))
	f.Fuzz(func(t *testing.T, keys, typed []byte, split uint8) {
		if len(keys) == 0 {
			return
		}
		d := detector{keys: keys}
		var have []byte
		hit := false
		for rest := typed; len(rest) > 0 && !hit; {
			n := min(len(rest), int(split%8)+1)
			var out []byte
			out, hit = d.scan(rest[:n])
			have = append(have, out...)
			rest = rest[n:]
		}
		at := bytes.Index(typed, keys)
		switch {
		case at >= 0 && (!hit || !bytes.Equal(have, typed[:at])):
			t.Fatalf("keys %q in %q: have %q, %v", keys, typed, have, hit)
		case at < 0 && (hit || !bytes.Equal(append(have, d.flush()...), typed)):
			t.Fatalf("no keys %q in %q: have %q, %v", keys, typed, have, hit)
		}
	})
}

func TestFrameRoundTrip(t *testing.T) {
	for _, payload := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("ab"), 1000), bytes.Repeat([]byte{0xff}, maxFrame)} {
		var b bytes.Buffer
		for _, typ := range []byte{frameInput, frameWindow, frameOutput, frameEnd} {
			if err := writeFrame(&b, typ, payload); err != nil {
				t.Fatal(err)
			}
		}
		if b.Len() != 4*(frameHeader+len(payload)) {
			t.Fatalf("%d bytes: encoded in %d", len(payload), b.Len())
		}
		for _, want := range []byte{frameInput, frameWindow, frameOutput, frameEnd} {
			typ, p, err := readFrame(&b)
			if err != nil || typ != want || !bytes.Equal(p, payload) {
				t.Fatalf("want %q with %d bytes, have %q with %d, %v", want, len(payload), typ, len(p), err)
			}
		}
		if _, _, err := readFrame(&b); err != io.EOF {
			t.Fatalf("after the frames: want io.EOF, have %v", err)
		}
	}
	if err := writeFrame(io.Discard, frameOutput, make([]byte, maxFrame+1)); err == nil {
		t.Error("a frame over maxFrame was written")
	}
	for _, size := range [][2]int{{1, 1}, {80, 24}, {65535, 65535}} {
		p, ok := windowPayload(size[0], size[1])
		cols, rows, err := parseWindow(p)
		if !ok || err != nil || cols != size[0] || rows != size[1] {
			t.Errorf("%v: read back as %d, %d, %v", size, cols, rows, err)
		}
	}
	for _, size := range [][2]int{{0, 24}, {80, 0}, {65536, 24}, {80, -1}} {
		if _, ok := windowPayload(size[0], size[1]); ok {
			t.Errorf("%v: encoded", size)
		}
	}
}

func header(typ byte, n uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{typ}, n)
}

func TestReadFrameMalformed(t *testing.T) {
	for _, tt := range []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"short header", []byte{'i', 0, 0}, io.ErrUnexpectedEOF},
		{"short payload", append(header('i', 3), 'a'), io.ErrUnexpectedEOF},
		{"no payload", header('o', 10), io.ErrUnexpectedEOF},
		{"too long", append(header('o', maxFrame+1), make([]byte, 100)...), errFrameTooLong},
		{"huge", header('i', 0xffffffff), errFrameTooLong},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := readFrame(bytes.NewReader(tt.data))
			if !errors.Is(err, tt.want) {
				t.Errorf("want %v, have %v", tt.want, err)
			}
		})
	}
	for _, p := range [][]byte{nil, {0, 80, 0}, {0, 80, 0, 24, 0}, {0, 0, 0, 24}, {0, 80, 0, 0}} {
		if _, _, err := parseWindow(p); err != errWindow {
			t.Errorf("window %v: want errWindow, have %v", p, err)
		}
	}
}

// readLine keeps what follows the line for the next reader, and stops at
// its bound.
func TestReadLine(t *testing.T) {
	br := bufio.NewReaderSize(strings.NewReader("first\nsecond"), 16)
	if line, err := readLine(br, 100); string(line) != "first\n" || err != nil {
		t.Errorf("have %q, %v", line, err)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "second" {
		t.Errorf("rest %q", rest)
	}
	br = bufio.NewReaderSize(strings.NewReader(strings.Repeat("x", 100)+"\n"), 16)
	if _, err := readLine(br, 100); err != errLineTooLong {
		t.Errorf("101 bytes: want errLineTooLong, have %v", err)
	}
	br = bufio.NewReaderSize(strings.NewReader(strings.Repeat("x", 99)+"\n"), 16)
	if line, err := readLine(br, 100); len(line) != 100 || err != nil {
		t.Errorf("100 bytes: have %d, %v", len(line), err)
	}
}
