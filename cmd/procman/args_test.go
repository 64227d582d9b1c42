package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/procman/procman/settings"
)

func TestNormalizeArgs(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"procman", "procman"},
		{"procman --version", "procman --version"},
		{"procman start", "procman start"},
		{"procman start web", "procman start -- web"},
		{"procman -f P start", "procman start -f P"},
		{"procman -f P -e a,b start -e c", "procman start -f P -e a,b -e c"},
		{"procman --procfile=P start web=2", "procman start --procfile=P -- web=2"},
		{"procman start web -t 3 worker", "procman start -t 3 -- web worker"},
		{"procman start web --no-timestamp -q web", "procman start --no-timestamp -q web -- web"},
		{"procman start -t -1", "procman start -t -1"},
		{"procman start -- -web", "procman start -- -web"},
		{"procman start web -h", "procman start -h -- web"},
		{"procman start web --bogus", "procman start --bogus -- web"},
		{"procman check -m web=x extra", "procman check -m web=x -- extra"},
		{"procman start web -e", "procman start -e"},
		{"procman start -- web -e", "procman start -- web -e"},
		// logs: -f is --follow, so a global -f goes by its long name
		{"procman -f P logs -f web", "procman logs --procfile P -f -- web"},
		{"procman -f=P -e x logs", "procman logs --procfile=P -e x"},
		// run: the command's flags are its own
		{"procman run ls -la", "procman run ls -la"},
		{"procman -e x run -p 1 ls -la -e y", "procman run -e x -p 1 ls -la -e y"},
		{"procman run -- ls -la", "procman run -- ls -la"},
		// left for urfave/cli to report
		{"procman --bogus start", "procman --bogus start"},
		{"procman -f P frobnicate", "procman -f P frobnicate"},
		{"procman -f", "procman -f"},
	}
	app := newApp(io.Discard, io.Discard, new(string))
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			have := strings.Join(normalizeArgs(app, strings.Fields(tt.in)), " ")
			if have != tt.want {
				t.Errorf("have %q, want %q", have, tt.want)
			}
		})
	}
}

func TestUseColor(t *testing.T) {
	tests := []struct {
		flag choice
		tty  bool
		env  map[string]string
		want bool
	}{
		{choiceAuto, true, nil, true},
		{choiceAuto, false, nil, false},
		{choiceAuto, true, map[string]string{"NO_COLOR": "1"}, false},
		{choiceAuto, true, map[string]string{"NO_COLOR": ""}, true},
		{choiceAuto, true, map[string]string{"TERM": "dumb"}, false},
		{choiceAuto, true, map[string]string{"TERM": "xterm"}, true},
		{choiceOn, false, map[string]string{"NO_COLOR": "1", "TERM": "dumb"}, true},
		{choiceOff, true, nil, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.flag, tt.tty, tt.env), func(t *testing.T) {
			getenv := func(k string) string { return tt.env[k] }
			if have := useColor(tt.flag, tt.tty, getenv); have != tt.want {
				t.Errorf("have %v, want %v", have, tt.want)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{exitStatus(3), 3},
		{exitStatus(143), 143},
		{&failure{err: errors.New("x")}, 1},
		{&failure{err: errors.New("x"), status: 127}, 127},
		{usageErrorf("bad"), 2},
		{errors.New("from urfave/cli"), 2},
		{fmt.Errorf("wrapped: %w", exitStatus(130)), 130},
		{settled(&settings.InputError{Err: errors.New("bad")}), 2},
		{settled(errors.New("root directory: getwd failed")), 1},
	}
	for _, tt := range tests {
		if have := exitCode(tt.err); have != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, have, tt.want)
		}
	}
}

func TestOneLine(t *testing.T) {
	if have, want := oneLine("a\nb\r\nc\n"), "a; b; c"; have != want {
		t.Errorf("have %q, want %q", have, want)
	}
}

// TestRunInProcess covers run's own error path without a child process: the
// message is one line on stderr and nothing reaches stdout.
func TestRunInProcess(t *testing.T) {
	var stdout, stderr strings.Builder
	status := run([]string{"procman", "start", "-t", "-1"}, &stdout, &stderr)
	if status != 2 || stdout.Len() != 0 || stderr.String() != "procman: -t \"-1\": timeout must not be negative\n" {
		t.Errorf("have %d, stdout %q, stderr %q", status, stdout.String(), stderr.String())
	}
}

// A flag in a usage error is written as the user typed it.
func TestUnknownFlagAsTyped(t *testing.T) {
	tests := []struct {
		args string
		want string
	}{
		{"procman start --no-such-flag", "procman: start: flag provided but not defined: --no-such-flag\n"},
		{"procman start -no-such-flag", "procman: start: flag provided but not defined: -no-such-flag\n"},
		{"procman --no-such-flag start", "procman: flag provided but not defined: --no-such-flag\n"},
		{"procman start web --no-such-flag=1 --other", "procman: start: flag provided but not defined: --no-such-flag\n"},
		{"procman check --no-such-flag", "procman: check: flag provided but not defined: --no-such-flag\n"},
		{"procman ps --json --no-such-flag", "procman: ps: flag provided but not defined: --no-such-flag\n"},
		{"procman start --timeout", "procman: start: flag needs an argument: --timeout\n"},
		{"procman start -t", "procman: start: flag needs an argument: -t\n"},
		{"procman start --color=maybe", "procman: start: invalid boolean value \"maybe\" for --color: parse error\n"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			var stdout, stderr strings.Builder
			if status := run(strings.Fields(tt.args), &stdout, &stderr); status != 2 {
				t.Errorf("status %d, want 2", status)
			}
			if have := stderr.String(); have != tt.want {
				t.Errorf("have %q, want %q", have, tt.want)
			}
		})
	}
	// Only the flag's name changes, never a value that looks like one.
	msg := `start: invalid value "for -x" for flag -t: bad`
	if have := flagAsTyped(msg, []string{"procman", "start", "--t=for -x"}); have != `start: invalid value "for -x" for flag --t: bad` {
		t.Errorf("have %q", have)
	}
}
