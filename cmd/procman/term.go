package main

import (
	"io"
	"os"

	"golang.org/x/term"
)

// isTerminal reports whether v is an *os.File open on a terminal.
func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	if !ok {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

// windowSize returns the size of the first of files that is a terminal, or
// 80x24 when none is: what a pty child sees as its screen.
func windowSize(files ...io.Writer) (cols, rows uint16) {
	for _, w := range files {
		f, ok := w.(*os.File)
		if !ok {
			continue
		}
		// GetSize's values come from the kernel's 16-bit winsize.
		w, h, err := term.GetSize(int(f.Fd()))
		if err == nil && w > 0 && h > 0 {
			return uint16(w), uint16(h)
		}
	}
	return 80, 24
}

// A choice is a tri-state flag setting: on, off, or decided by procman.
type choice int

const (
	choiceAuto choice = iota
	choiceOn
	choiceOff
)

// useColor decides, once, whether labels are coloured: --color forces it,
// --no-color forbids it; otherwise only on a terminal, and never when
// NO_COLOR is set to anything (https://no-color.org) or TERM is "dumb".
func useColor(flag choice, tty bool, getenv func(string) string) bool {
	switch flag {
	case choiceOn:
		return true
	case choiceOff:
		return false
	}
	return tty && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb"
}
