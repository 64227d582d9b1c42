package control

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzRequest feeds the server whatever the fuzzer makes of the table's
// requests, malformed and oversized ones included. Every input gets one
// well-formed reply (an error exactly when ParseRequest rejects it), only
// accepted requests reach the supervisor, and the supervisor keeps
// answering.
func FuzzRequest(f *testing.F) {
	for _, tt := range requestTests {
		f.Add([]byte(tt.line + "\n"))
	}
	f.Add([]byte(strings.Repeat("x", MaxRequest+1)))
	f.Add([]byte(`{"v":1,"op":"ps","op":"quit"}` + "\n"))
	f.Add([]byte(`{"v":1,"op":"scale","counts":{"web":1,"Web":2,"web":3}}` + "\n"))
	f.Add([]byte(`{"V":1,"Op":"ps","oP":"quit"}` + "\n"))
	f.Add([]byte(`{"v":1,"op":"ps","x":"` + strings.Repeat("y", MaxRequest) + `"}` + "\n"))
	s, fk := serveFake(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		before := fk.count()
		resp := raw(t, s.Path(), data)
		_, err := parseAsServer(data)
		// The fake refuses a target called nope, as the supervisor refuses
		// unknown ones.
		if resp.OK != (err == nil) && !(err == nil && strings.HasPrefix(resp.Error, "no process")) {
			t.Fatalf("%.60q: reply %+v, ParseRequest error %v", data, resp, err)
		}
		if !resp.OK && strings.Contains(resp.Error, "\n") {
			t.Fatalf("error reply spans lines: %q", resp.Error)
		}
		want := before
		if err == nil {
			want++
		}
		if have := fk.count(); have != want {
			t.Fatalf("%.60q: the supervisor saw %d requests, want %d", data, have-before, want-before)
		}
		if resp := raw(t, s.Path(), []byte(`{"v":1,"op":"ps"}`+"\n")); !resp.OK || len(resp.Instances) != 2 {
			t.Fatalf("ps after %.60q: %+v", data, resp)
		}
	})
}

// parseAsServer is what the server makes of data: its first line, if the
// line fits in MaxRequest bytes, parsed strictly.
func parseAsServer(data []byte) (Request, error) {
	line := data
	if i := strings.IndexByte(string(data), '\n'); i >= 0 {
		line = data[:i+1]
	}
	if len(line) > MaxRequest {
		return Request{}, errTooLong
	}
	return ParseRequest(line)
}

// FuzzParseRequest: a request ParseRequest accepts means the same thing to
// any JSON reader. encoding/json matches keys without regard to case and
// keeps the last of two equal keys, so an accepted line with a repeated or
// case-folded key would read differently there: such lines must be refused.
func FuzzParseRequest(f *testing.F) {
	for _, tt := range requestTests {
		f.Add([]byte(tt.line))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := ParseRequest(data)
		if err != nil {
			return
		}
		var loose Request
		if err := json.Unmarshal(bytes.TrimSpace(data), &loose); err != nil {
			t.Fatalf("%q: accepted, but encoding/json fails: %v", data, err)
		}
		if !reflect.DeepEqual(req, loose) {
			t.Fatalf("%q: accepted as %+v, but reads as %+v", data, req, loose)
		}
		var fields map[string]json.RawMessage
		json.Unmarshal(bytes.TrimSpace(data), &fields)
		if n := topLevelKeys(data); n != len(fields) {
			t.Fatalf("%q: accepted with %d keys, of which %d distinct", data, n, len(fields))
		}
	})
}

// topLevelKeys counts the keys of the object data, repeats included.
func topLevelKeys(data []byte) int {
	dec := json.NewDecoder(bytes.NewReader(data))
	depth, keys, wantKey := 0, 0, false
	for {
		tok, err := dec.Token()
		if err != nil {
			return keys
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			wantKey = depth == 1 && tok == json.Delim('{')
			continue
		case json.Delim('}'), json.Delim(']'):
			depth--
			wantKey = depth == 1
			continue
		}
		if depth == 1 && wantKey {
			keys++
			wantKey = false
		} else if depth == 1 {
			wantKey = true
		}
	}
}
