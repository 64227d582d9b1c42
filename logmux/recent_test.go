package logmux

import (
	"io"
	"testing"
)

func TestLastLinesRaw(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		max  int
		want string
	}{
		{"a\nb\nc\n", 2, 100, "b\nc\n"},
		{"a\nb\nc\n", 5, 100, "a\nb\nc\n"},
		{"a\nb\nname? ", 1, 100, "name? "},
		{"a\nb\nname? ", 2, 100, "b\nname? "},
		{"", 3, 100, ""},
		{"aaaa\nbbbb\ncccc\n", 3, 8, "cccc\n"},
		{"xxxxxxxxxxxx", 1, 4, "xxxx"},
	} {
		if got := string(lastLinesRaw([]byte(tt.in), tt.n, tt.max)); got != tt.want {
			t.Errorf("lastLinesRaw(%q, %d, %d) = %q, want %q", tt.in, tt.n, tt.max, got, tt.want)
		}
	}
}

// A tap that starts with the recent past gets the last lines of that
// process, raw, then what follows, with nothing lost or doubled; another
// label's output and an earlier process under the same label are left out.
func TestTapRecent(t *testing.T) {
	m := New(io.Discard, Options{Now: fixed})
	old := newTestStream(m, "web.1", 10)
	old.process([]byte("from the old run\n"), fixed())
	s := newTestStream(m, "web.1", 11)
	other := newTestStream(m, "worker.1", 12)
	s.process([]byte("one\ntwo\n"), fixed())
	other.process([]byte("not mine\n"), fixed())
	s.process([]byte("three\nname? "), fixed())
	tap := m.TapRecent("web.1", 11, 2)
	s.process([]byte("alice\n"), fixed())
	tap.End()
	if got, want := readAll(t, tap), "three\nname? alice\n"; got != want {
		t.Errorf("tap: %q, want %q", got, want)
	}
	all := m.TapRecent("web.1", 11, 100)
	all.End()
	if got, want := readAll(t, all), "one\ntwo\nthree\nname? alice\n"; got != want {
		t.Errorf("all of it: %q, want %q", got, want)
	}
}
