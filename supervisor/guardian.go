package supervisor

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The guardian keeps the promise that nothing procman started outlives it,
// also when procman cannot keep it itself: killed with SIGKILL (by the OOM
// killer, kill -9) or crashed. It is a /bin/sh (about a megabyte: a second
// Go runtime would double procman's memory) started by Run in a session of
// its own, so a terminal's Ctrl-C or hangup never reaches it, and through
// a background job, so it is not procman's child and procman's reaper
// never waits for it. procman tells it on a pipe which process groups it
// started and which it has seen empty; when that pipe reaches end of file
// without a "bye" (procman is gone, whatever the way), it stops every
// group still listed as procman would (SIGTERM, the grace period, SIGKILL)
// and exits. On a clean stop procman says "bye" and waits until the
// guardian has exited. A process group id cannot be reused while the
// group has members, so a group the guardian signals is one procman
// started, unless it emptied and a new group took its number in the tenth
// of a second between the guardian's checks. Processes that move to a
// process group of their own are out of its reach.
//
//go:embed guardian.sh
var guardianScript string

// guardianWord is the guardian's $0, followed by procman's pid in its
// argument list, so that ps shows what it is and tools can find it.
const guardianWord = "procman-guardian"

// guardianWait bounds how long procman waits for the guardian to start
// (its launching shell to exit) and to exit after "bye".
const guardianWait = 10 * time.Second

// A guardian is procman's end of the pipe to its guardian.
type guardian struct {
	ctl    *os.File // procman's messages: the guardian's fd 3
	ack    *os.File // reaches end of file once the guardian has exited
	failed bool     // a message could not be written: send no more
}

// startGuardian starts the guardian of processes stopped within grace.
// It must run before any other child is started through r, and before
// procman becomes a subreaper (or the guardian would come back to it as
// an orphan).
func startGuardian(r *reaper, grace time.Duration) (g *guardian, err error) {
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer ctlR.Close()
	ackR, ackW, err := os.Pipe()
	if err != nil {
		ctlW.Close()
		return nil, err
	}
	defer ackW.Close()
	defer func() {
		if err != nil {
			ctlW.Close()
			ackR.Close()
		}
	}()
	null, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer null.Close()
	ticks := int(math.Ceil(grace.Seconds() * 10))
	pid, err := r.start(spawn{
		argv:  []string{"/bin/sh", "-c", compact(guardianScript), guardianWord, strconv.Itoa(os.Getpid()), strconv.Itoa(ticks)},
		env:   []string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin"},
		dir:   "/",
		files: []*os.File{null, ackW, null, ctlR},
		sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		return nil, fmt.Errorf("start the guardian: %w", err)
	}
	// The launching shell exits as soon as the guardian runs in the
	// background; no other child exists yet, so its exit is the one to
	// wait for.
	end := time.After(guardianWait)
	for launched := false; !launched; {
		select {
		case b := <-r.batches:
			for _, e := range b.exits {
				launched = launched || e.pid == pid
			}
		case <-end:
			return nil, errors.New("start the guardian: its shell did not exit")
		}
	}
	return &guardian{ctl: ctlW, ack: ackR}, nil
}

// compact drops a shell script's comment lines and indentation, so that
// the guardian's command line in ps is short.
func compact(script string) string {
	var b strings.Builder
	for line := range strings.Lines(script) {
		line = strings.TrimLeft(line, " \t")
		if line != "\n" && !strings.HasPrefix(line, "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// add tells the guardian about newly started process groups.
func (g *guardian) add(pgids []int) { g.send("+", pgids) }

// remove tells the guardian that these groups are empty: it must never
// signal them, as their numbers may be reused.
func (g *guardian) remove(pgids []int) { g.send("-", pgids) }

func (g *guardian) send(op string, pgids []int) {
	if g == nil || g.failed || len(pgids) == 0 {
		return
	}
	var b strings.Builder
	b.WriteString(op)
	for _, pg := range pgids {
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(pg))
	}
	b.WriteByte('\n')
	// The guardian reads at once; a deadline keeps a stopped or vanished
	// guardian from stalling the supervisor, which stops its processes
	// itself all the same. The pipe stays open: its end of file would
	// tell the guardian that procman is gone.
	g.ctl.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := g.ctl.WriteString(b.String()); err != nil {
		g.failed = true
	}
}

// bye ends the guardian after a clean stop and waits until it has exited.
func (g *guardian) bye() {
	if g == nil {
		return
	}
	g.ctl.SetWriteDeadline(time.Now().Add(time.Second))
	g.ctl.WriteString("bye\n")
	g.ctl.Close()
	g.ack.SetReadDeadline(time.Now().Add(guardianWait))
	var b [1]byte
	for {
		if _, err := g.ack.Read(b[:]); err != nil {
			break
		}
	}
	g.ack.Close()
}
