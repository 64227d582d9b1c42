package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// A terminal is a program the script runs on a pty of its own, as a user
// at a terminal would: procman attach needs one to be interactive.
type terminal struct {
	cmd    *exec.Cmd
	master *os.File
	done   chan struct{} // closed once the program has exited and its output is read
	err    error         // from Wait, valid once done is closed

	mu   sync.Mutex
	out  bytes.Buffer // everything the program wrote
	seen int          // how much of out the last expect matched
}

func (t *terminal) output() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Clone(t.out.Bytes())
}

// ptyCmds are the scripts' commands for programs on a terminal:
//
//	term NAME PROGRAM [ARGS...]
//	                start PROGRAM in the background on a new 100x30 pty,
//	                its controlling terminal and its stdin, stdout and stderr
//	type NAME TEXT  write TEXT to NAME's terminal as typed keys; TEXT is a Go
//	                string literal without its quotes (\r is Enter, \x02
//	                Ctrl-b)
//	expect NAME RE  wait until what NAME wrote after the last match of
//	                expect matches the regular expression RE
//	resize NAME COLS ROWS
//	                change the size of NAME's terminal (the kernel sends it
//	                SIGWINCH)
//	termsignal NAME SIG
//	                send signal SIG (TERM, KILL, ...) to NAME
//	waitgrep FILE RE
//	                wait until FILE exists and matches the regular
//	                expression RE (a spawned program's output file)
//	termexit NAME STATUS
//	                wait for NAME to exit with STATUS; all it wrote becomes
//	                stdout for the next checks
var ptyCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"term":       cmdTerm,
	"type":       cmdType,
	"expect":     cmdExpect,
	"resize":     cmdResize,
	"termexit":   cmdTermexit,
	"termsignal": cmdTermsignal,
	"waitgrep":   cmdWaitgrep,
}

func init() {
	for name, cmd := range ptyCmds {
		scriptCmds[name] = cmd
	}
}

var (
	termsMu sync.Mutex
	terms   = map[*testscript.TestScript]map[string]*terminal{}
)

func termOf(ts *testscript.TestScript, name string) *terminal {
	termsMu.Lock()
	defer termsMu.Unlock()
	t := terms[ts][name]
	if t == nil {
		ts.Fatalf("no terminal called %q", name)
	}
	return t
}

func cmdTerm(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: term NAME PROGRAM [ARGS...]")
	}
	name := args[0]
	t := &terminal{cmd: command(ts, args[1:]), done: make(chan struct{})}
	master, err := pty.StartWithSize(t.cmd, &pty.Winsize{Cols: 100, Rows: 30})
	ts.Check(err)
	t.master = master
	termsMu.Lock()
	if terms[ts] == nil {
		terms[ts] = make(map[string]*terminal)
	}
	if _, dup := terms[ts][name]; dup {
		termsMu.Unlock()
		ts.Fatalf("term: %s is already running", name)
	}
	terms[ts][name] = t
	termsMu.Unlock()
	ts.Defer(func() {
		t.cmd.Process.Kill()
		<-t.done
		termsMu.Lock()
		delete(terms, ts)
		termsMu.Unlock()
	})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			t.mu.Lock()
			t.out.Write(buf[:n])
			t.mu.Unlock()
			if err != nil {
				break // EIO once the program and its children closed the terminal
			}
		}
		t.err = t.cmd.Wait()
		master.Close()
		close(t.done)
	}()
}

func cmdType(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: type NAME TEXT")
	}
	text, err := strconv.Unquote(`"` + args[1] + `"`)
	ts.Check(err)
	_, err = termOf(ts, args[0]).master.Write([]byte(text))
	ts.Check(err)
}

func cmdExpect(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: expect NAME REGEXP")
	}
	t := termOf(ts, args[0])
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	end := time.Now().Add(deadline)
	for {
		t.mu.Lock()
		loc := re.FindIndex(t.out.Bytes()[t.seen:])
		if loc != nil {
			t.seen += loc[1]
		}
		t.mu.Unlock()
		if loc != nil {
			return
		}
		select {
		case <-t.done:
			// Look once more: the last output came with the exit.
			t.mu.Lock()
			loc = re.FindIndex(t.out.Bytes()[t.seen:])
			t.mu.Unlock()
			if loc != nil {
				return
			}
			ts.Fatalf("%s exited (%v) without writing %q; it wrote:\n%s", args[0], t.err, args[1], t.output())
		default:
		}
		if time.Now().After(end) {
			ts.Fatalf("timed out waiting for %q from %s; it wrote:\n%s", args[1], args[0], t.output())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func cmdResize(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: resize NAME COLS ROWS")
	}
	cols, err := strconv.Atoi(args[1])
	ts.Check(err)
	rows, err := strconv.Atoi(args[2])
	ts.Check(err)
	ts.Check(pty.Setsize(termOf(ts, args[0]).master, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)}))
}

func cmdTermexit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: termexit NAME STATUS")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	t := termOf(ts, args[0])
	select {
	case <-t.done:
	case <-time.After(deadline):
		ts.Fatalf("%s did not exit; it wrote:\n%s", args[0], t.output())
	}
	have := 0
	var exit *exec.ExitError
	if errors.As(t.err, &exit) {
		have = exit.ExitCode()
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			have = 128 + int(ws.Signal())
		}
	} else if t.err != nil {
		ts.Fatalf("%s: %v", args[0], t.err)
	}
	ts.Logf("%s wrote:\n%s", args[0], t.output())
	if have != want {
		ts.Fatalf("%s exited with %d, want %d", args[0], have, want)
	}
	// The checks that follow read it as the program's stdout.
	ts.Stdout().Write(t.output())
}

func cmdTermsignal(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: termsignal NAME SIG")
	}
	sig := unix.SignalNum("SIG" + args[1])
	if sig == 0 {
		ts.Fatalf("termsignal: unknown signal %q", args[1])
	}
	ts.Check(termOf(ts, args[0]).cmd.Process.Signal(sig))
}

// prompter is a small interactive program, as a debugger prompt is: it
// writes its pid to PIDFILE, then asks "name? " and answers each line it
// reads: "got LINE"; "size" prints its terminal's size as "size COLS
// ROWS"; "quit" exits 7; the end of its input exits 0. A SIGWINCH prints
// "resized COLS ROWS".
func prompter() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: prompter PIDFILE")
		os.Exit(2)
	}
	if err := os.WriteFile(os.Args[1], []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf(format, args...)
	}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	go func() {
		for range winch {
			w, h, _ := term.GetSize(0)
			say("resized %d %d\n", w, h)
		}
	}()
	in := bufio.NewScanner(os.Stdin)
	for {
		say("name? ")
		if !in.Scan() {
			os.Exit(0)
		}
		switch line := strings.TrimRight(in.Text(), "\r"); line {
		case "quit":
			os.Exit(7)
		case "size":
			w, h, err := term.GetSize(0)
			if err != nil {
				say("size: %v\n", err)
				continue
			}
			say("size %d %d\n", w, h)
		default:
			say("got %s\n", line)
		}
	}
}

func cmdWaitgrep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitgrep FILE REGEXP")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	end := time.Now().Add(deadline)
	for {
		b, _ := os.ReadFile(ts.MkAbs(args[0]))
		if re.Match(b) {
			return
		}
		if time.Now().After(end) {
			ts.Fatalf("timed out waiting for %q in %s; it holds:\n%s", args[1], args[0], b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
