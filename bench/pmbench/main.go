//go:build linux

// Command pmbench measures procman as a whole process: how long it takes
// to start N children, how long it takes to stop, and how much memory it
// and its guardian hold, for the Linux build and the portable one side by
// side. Every figure is printed next to a baseline measured in the same
// run, as the median of several runs. bench/run.sh builds procman twice
// and runs it; see that script for the usual invocation.
//
// It is a benchmark tool, not part of procman: it writes to stdout and
// stderr and exits on its own. It reads what it measures from Linux's
// /proc and inotify, and so builds on Linux only.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// waitLimit bounds every wait, so a hang fails the benchmark instead of
// blocking it.
const waitLimit = 60 * time.Second

// settle is how long children stay idle before procman's memory is read,
// so the figure is that of a running app, not of one still starting.
const settle = 500 * time.Millisecond

// restWindow is how long procman's CPU use is watched while its children
// idle: a supervisor at rest should cost nothing, whatever N.
const restWindow = 2 * time.Second

func main() {
	if len(os.Args) > 1 && os.Args[1] == "floor" {
		status, err := spawnFloor(os.Args[2:])
		if err != nil {
			fmt.Fprintf(os.Stderr, "pmbench: %v\n", err)
			os.Exit(1)
		}
		os.Exit(status)
	}
	if len(os.Args) > 1 && os.Args[1] == "idle" {
		// The Go runtime's floor: an idle Go process that only waits for
		// a signal, as procman does once its children run.
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		<-c
		return
	}
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "pmbench: %v\n", err)
		os.Exit(1)
	}
}

type config struct {
	procman  string // the Linux build
	portable string // the portable build (-tags procman_portable), or ""
	runs     int
	startN   []int
	memN     []int
	stopN    []int
	only     string
	extraEnv []string // for procman only: GOGC=..., GOMAXPROCS=... experiments
	also     []string // NAME=PATH: other builds of procman whose memory is measured too
	tmp      string   // where trial directories go
	verbose  bool
}

type listFlag struct{ vals *[]string }

func (l listFlag) String() string     { return "" }
func (l listFlag) Set(v string) error { *l.vals = append(*l.vals, v); return nil }

func run(args []string, stdout io.Writer) error {
	var c config
	var startN, memN, stopN string
	fs := flag.NewFlagSet("pmbench", flag.ContinueOnError)
	fs.StringVar(&c.procman, "procman", "", "path of the procman binary to measure, the default (Linux) build (required)")
	fs.StringVar(&c.portable, "portable", "", "path of procman built with -tags procman_portable, measured next to -procman (startup and memory)")
	fs.IntVar(&c.runs, "runs", 7, "repetitions of each measurement; the median is reported")
	fs.StringVar(&startN, "start", "1,10,100,1000", "children counts for the startup benchmark")
	fs.StringVar(&stopN, "stop", "10,100,1000", "children counts for the shutdown benchmark (cooperative children)")
	fs.StringVar(&memN, "mem", "1,100,1000", "children counts for the memory benchmark")
	fs.StringVar(&c.only, "only", "", "run only startup, shutdown or memory")
	fs.Var(listFlag{&c.also}, "also", "`NAME=PATH` of another procman build whose peak RSS is measured too (repeatable)")
	fs.Var(listFlag{&c.extraEnv}, "setenv", "`KEY=VALUE` added to procman's environment (repeatable)")
	fs.StringVar(&c.tmp, "tmp", defaultTmp(), "`DIR` for the children's files (tmpfs keeps file creation out of the figures)")
	fs.BoolVar(&c.verbose, "v", false, "print every run's figure on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.procman == "" {
		return errors.New("-procman is required")
	}
	var err error
	if c.startN, err = parseCounts(startN); err != nil {
		return fmt.Errorf("-start: %w", err)
	}
	if c.memN, err = parseCounts(memN); err != nil {
		return fmt.Errorf("-mem: %w", err)
	}
	if c.stopN, err = parseCounts(stopN); err != nil {
		return fmt.Errorf("-stop: %w", err)
	}
	for i, a := range c.also {
		name, path, ok := strings.Cut(a, "=")
		if !ok || name == "" || path == "" {
			return fmt.Errorf("-also %q: want NAME=PATH", a)
		}
		if path, err = filepath.Abs(path); err != nil {
			return err
		}
		c.also[i] = name + "=" + path
	}
	if c.runs < 1 {
		return errors.New("-runs must be at least 1")
	}
	if c.procman, err = filepath.Abs(c.procman); err != nil {
		return err
	}
	if c.portable != "" {
		if c.portable, err = filepath.Abs(c.portable); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	b := &bench{cfg: c, self: self}
	var rows []row
	var notes []string
	if c.only == "" || c.only == "startup" {
		r, n, err := b.startup()
		if err != nil {
			return err
		}
		rows = append(rows, r...)
		notes = append(notes, n...)
	}
	if c.only == "" || c.only == "shutdown" {
		r, err := b.shutdown()
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}
	if c.only == "" || c.only == "memory" {
		r, n, err := b.memory()
		if err != nil {
			return err
		}
		rows = append(rows, r...)
		notes = append(notes, n...)
	}
	if b.noisy > 0 {
		notes = append(notes, fmt.Sprintf("Warning: %d of %d timed runs started while the machine was busy (less than %.0f%% idle); their figures are inflated.",
			b.noisy, b.runs, quietIdle*100))
	}
	printTable(stdout, rows, c.runs, notes)
	for _, r := range rows {
		if slices.Contains(r.verdicts[:], "MISSED") {
			return errors.New("a target was missed")
		}
	}
	return nil
}

// defaultTmp prefers tmpfs: on a disk file system, creating a thousand
// files in one directory costs more than starting the processes that
// create them, and would swamp what is being measured.
func defaultTmp() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() && unix.Access("/dev/shm", unix.W_OK) == nil {
		return "/dev/shm"
	}
	return os.TempDir()
}

func parseCounts(s string) ([]int, error) {
	var ns []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive count", f)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

type bench struct {
	cfg   config
	self  string
	runs  int // timed runs
	noisy int // timed runs started although the machine was busy
}

// quiet is called before every timed run; see waitQuiet.
func (b *bench) quiet() {
	b.runs++
	if !waitQuiet() {
		b.noisy++
		b.logf("machine busy: starting the run anyway")
	}
}

// childCmd is every benchmark child: it touches its file (its first
// instruction, which the measuring tool sees through inotify), then becomes
// an idle process that exits at once on SIGTERM, as a server would.
// ignoreTerm makes it a child that ignores SIGTERM (sleep inherits SIG_IGN).
func childCmd(touchDir string, ignoreTerm bool) string {
	c := fmt.Sprintf(`: > %s/"$PS"; exec sleep 3600`, touchDir)
	if ignoreTerm {
		c = `trap '' TERM; ` + c
	}
	return c
}

// A trial is one temporary directory: a Procfile, and an empty directory
// the children touch their files in.
type trial struct {
	dir   string
	touch string
	token string // in every process's environment, to find survivors
}

func (b *bench) newTrial() (*trial, error) {
	dir, err := os.MkdirTemp(b.cfg.tmp, "pmbench-")
	if err != nil {
		return nil, err
	}
	t := &trial{dir: dir, touch: filepath.Join(dir, "touch")}
	if err := os.Mkdir(t.touch, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	var id [8]byte
	rand.Read(id[:])
	t.token = hex.EncodeToString(id[:])
	return t, nil
}

func (t *trial) remove() { os.RemoveAll(t.dir) }

func (t *trial) environ(extra ...string) []string {
	return append(append(os.Environ(), "PMBENCH_TOKEN="+t.token), extra...)
}

// procmanAt returns the command of procman at bin for n copies of child,
// its stdout and stderr discarded (the output path is the throughput
// benchmark's).
func (b *bench) procmanAt(bin string, t *trial, child string, n int, grace string) (*exec.Cmd, error) {
	procfile := filepath.Join(t.dir, "Procfile")
	if err := os.WriteFile(procfile, []byte("w: "+child+"\n"), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "start", "-f", procfile, "-m", "w="+strconv.Itoa(n), "-t", grace)
	cmd.Env = t.environ(b.cfg.extraEnv...)
	cmd.Dir = t.dir
	return cmd, nil
}

// shellLoop returns the baseline: one sh that starts n copies of child in
// the background, as a Procfile runner written in shell would. With
// trapTerm it also stops them on SIGTERM the way procman does (TERM to
// each, wait for all) so its shutdown can be compared.
func shellLoop(t *trial, child string, n int) *exec.Cmd {
	script := `trap 'kill $pids 2>/dev/null; wait; exit 143' TERM
pids=
i=1
while [ $i -le $N ]; do
	PS=w.$i sh -c "$CHILD" &
	pids="$pids $!"
	i=$((i+1))
done
wait`
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = t.environ("N="+strconv.Itoa(n), "CHILD="+child)
	cmd.Dir = t.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// A watcher counts files created in a directory, through inotify, so the
// measuring tool sleeps in poll(2) instead of burning a core.
type watcher struct {
	fd    int
	dir   string
	count int
	buf   []byte
}

func watch(dir string) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify %s: %w", dir, err)
	}
	return &watcher{fd: fd, dir: dir, buf: make([]byte, 64<<10)}, nil
}

func (w *watcher) close() { unix.Close(w.fd) }

// wait returns when n files exist in the directory, with the time the
// event that made them n was read, or an error after waitLimit. A process
// that must stay up (procman) ends the wait with an error if it exits.
func (w *watcher) wait(n int, exited <-chan struct{}) (time.Time, error) {
	end := time.Now().Add(waitLimit)
	pfd := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}
	for w.count < n {
		left := time.Until(end)
		if left <= 0 {
			return time.Time{}, fmt.Errorf("timed out: %d of %d children started", w.count, n)
		}
		select {
		case <-exited:
			return time.Time{}, fmt.Errorf("exited early: %d of %d children started", w.count, n)
		default:
		}
		// A short timeout so an early exit is noticed; an event wakes
		// poll at once, so it does not delay the measurement.
		_, err := unix.Poll(pfd, int(min(left, 100*time.Millisecond)/time.Millisecond)+1)
		if err != nil && err != unix.EINTR {
			return time.Time{}, err
		}
		for {
			k, err := unix.Read(w.fd, w.buf)
			if err == unix.EAGAIN || err == unix.EINTR {
				break
			}
			if err != nil {
				return time.Time{}, err
			}
			overflow := false
			for off := 0; off+unix.SizeofInotifyEvent <= k; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&w.buf[off]))
				if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
					overflow = true
				} else if ev.Mask&unix.IN_CREATE != 0 {
					w.count++
				}
				off += unix.SizeofInotifyEvent + int(ev.Len)
			}
			if overflow {
				// Events were lost: count the directory instead.
				es, err := os.ReadDir(w.dir)
				if err != nil {
					return time.Time{}, err
				}
				w.count = len(es)
			}
		}
	}
	return time.Now(), nil
}

// A process is a started command and a channel closed when it has exited.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
	at     time.Time // when it exited
}

func launch(cmd *exec.Cmd) (*process, time.Time, error) {
	p := &process{cmd: cmd, exited: make(chan struct{})}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, t0, err
	}
	go func() {
		p.err = cmd.Wait()
		p.at = time.Now()
		close(p.exited)
	}()
	return p, t0, nil
}

// stop sends sig and waits for the process to exit, returning when it did.
func (p *process) stop(sig syscall.Signal) (time.Time, error) {
	p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
		return p.at, nil
	case <-time.After(waitLimit):
		p.cmd.Process.Kill()
		<-p.exited
		return time.Time{}, errors.New("did not exit within the limit")
	}
}

// stopGroup ends a baseline shell loop and all its children.
func (p *process) stopGroup() {
	unix.Kill(-p.cmd.Process.Pid, unix.SIGKILL)
	<-p.exited
}

// survivors lists the processes whose environment holds t's token: what a
// run left behind. Zombies have an empty environ and so are not listed;
// they are reaped by whoever inherited them.
func survivors(t *trial) []int {
	needle := []byte("PMBENCH_TOKEN=" + t.token + "\x00")
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err == nil && bytes.Contains(b, needle) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// clean kills whatever a run left behind, by pid, and says how many.
func clean(t *trial) int {
	pids := survivors(t)
	for _, pid := range pids {
		unix.Kill(pid, unix.SIGKILL)
	}
	return len(pids)
}

// status reads fields of /proc/PID/status in KiB.
func status(pid int, keys ...string) (map[string]int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := make(map[string]int)
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || !slices.Contains(keys, k) {
			continue
		}
		f := strings.Fields(v)
		if len(f) > 0 {
			out[k], _ = strconv.Atoi(f[0])
		}
	}
	return out, nil
}

func (b *bench) logf(format string, args ...any) {
	if b.cfg.verbose {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
	}
}

// Who starts the children in a timed run.
type starter int

const (
	byProcman  starter = iota // the Linux build
	byPortable                // the portable build
	byLoop                    // the shell loop baseline
	byFloor                   // pmbench's bare fork+exec (floor.go)
)

func (w starter) String() string {
	return [...]string{"procman", "procman (portable)", "sh loop", "bare fork+exec"}[w]
}

// isProcman says whether w is a build of procman, which has a guardian.
func (w starter) isProcman() bool { return w == byProcman || w == byPortable }

// prepare makes a trial directory, watches it for the children's files,
// and builds the command that starts n children: procman with -t grace,
// the shell loop, or the floor. The caller removes the trial and closes
// the watcher.
func (b *bench) prepare(n int, ignoreTerm bool, who starter, grace string) (*trial, *watcher, *exec.Cmd, error) {
	t, err := b.newTrial()
	if err != nil {
		return nil, nil, nil, err
	}
	w, err := watch(t.touch)
	if err != nil {
		t.remove()
		return nil, nil, nil, err
	}
	child := childCmd(t.touch, ignoreTerm)
	if who == byLoop {
		return t, w, shellLoop(t, child, n), nil
	}
	bin := b.cfg.procman
	if who == byPortable {
		bin = b.cfg.portable
	}
	cmd, err := b.procmanAt(bin, t, child, n, grace)
	if err != nil {
		w.close()
		t.remove()
		return nil, nil, nil, err
	}
	if who == byFloor {
		cmd.Path = b.self
		cmd.Args = append([]string{b.self, "floor"}, cmd.Args[1:]...)
	}
	return t, w, cmd, nil
}

// startOnce measures one startup: from just before the launch until the
// n-th child has touched its file. It then stops everything.
func (b *bench) startOnce(n int, who starter) (time.Duration, error) {
	t, w, cmd, err := b.prepare(n, false, who, "5")
	if err != nil {
		return 0, err
	}
	defer t.remove()
	defer w.close()
	b.quiet()
	p, t0, err := launch(cmd)
	if err != nil {
		return 0, err
	}
	t1, err := w.wait(n, p.exited)
	if who == byLoop {
		p.stopGroup()
	} else if _, serr := p.stop(unix.SIGTERM); serr != nil && err == nil {
		err = fmt.Errorf("stop: %w", serr)
	}
	if who.isProcman() {
		if gerr := guardianGone(p); gerr != nil && err == nil {
			err = gerr
		}
	}
	if left := clean(t); left > 0 && err == nil && who != byLoop {
		err = fmt.Errorf("%d processes left running after %v exited", left, who)
	}
	if err != nil {
		return 0, err
	}
	return t1.Sub(t0), nil
}

// startup times the start of n children by each build of procman, the
// sh loop and the floor, in turns. Each build's figure is set against the
// sh loop (the target that README states) and against the floor (the
// portable build's target: what a Go supervisor could reach at best).
func (b *bench) startup() ([]row, []string, error) {
	var rows []row
	var floorNotes []string
	order := []starter{byProcman, byLoop, byFloor}
	if b.cfg.portable != "" {
		order = []starter{byProcman, byPortable, byLoop, byFloor}
	}
	for _, n := range b.cfg.startN {
		times := make(map[starter][]float64)
		var vsLoop, vsFloor [nBuilds][]float64
		var floorRatios []float64
		for i := 0; i < b.cfg.runs; i++ {
			// Rotate the order so no one always runs on a machine warmed
			// (or tired) by another.
			for k := range order {
				who := order[(i+k)%len(order)]
				d, err := b.startOnce(n, who)
				if err != nil {
					return nil, nil, fmt.Errorf("startup of %d children (%v): %w", n, who, err)
				}
				b.logf("startup n=%d %v: %v", n, who, d)
				times[who] = append(times[who], seconds(d))
			}
			sh, floor := times[byLoop][i], times[byFloor][i]
			for build, who := range []starter{byProcman, byPortable} {
				if ts := times[who]; len(ts) > i {
					vsLoop[build] = append(vsLoop[build], ts[i]/sh)
					vsFloor[build] = append(vsFloor[build], ts[i]/floor)
				}
			}
			floorRatios = append(floorRatios, floor/sh)
		}
		name := fmt.Sprintf("startup, %d %s", n, plural(n, "child", "children"))
		loop := row{name: name, unit: "time", baseline: stats(times[byLoop]), basename: "sh loop"}
		fl := row{name: name + ", against the floor", unit: "time", baseline: stats(times[byFloor]), basename: "bare Go fork+exec"}
		for build, who := range []starter{byProcman, byPortable} {
			if len(times[who]) == 0 {
				continue
			}
			loop.builds[build], fl.builds[build] = stats(times[who]), stats(times[who])
			loop.ratios[build], fl.ratios[build] = stats(vsLoop[build]).median, stats(vsFloor[build]).median
			if n >= 100 {
				loop.target = "≤ 0.8× sh loop"
				loop.verdicts[build] = judge(loop.ratios[build] <= 0.8, build == linuxBuild)
			}
			if n == 100 && build == portableBuild {
				fl.target = "portable ≤ 1.2× floor"
				fl.verdicts[build] = judge(fl.ratios[build] <= 1.2, true)
			}
		}
		rows = append(rows, loop, fl)
		floorNotes = append(floorNotes, fmt.Sprintf("%d: %.2f×", n, stats(floorRatios).median))
	}
	notes := []string{"The floor against the sh loop, by children: " + strings.Join(floorNotes, ", ") + "."}
	return rows, notes, nil
}

// stopOnce starts n children, waits until all have touched their file,
// then measures from SIGTERM until the supervisor (procman, or the shell
// loop baseline) has exited, and checks that nothing is left running.
func (b *bench) stopOnce(n int, ignoreTerm, baseline bool, grace string) (time.Duration, error) {
	who := byProcman
	if baseline {
		who = byLoop
	}
	t, w, cmd, err := b.prepare(n, ignoreTerm, who, grace)
	if err != nil {
		return 0, err
	}
	defer t.remove()
	defer w.close()
	p, _, err := launch(cmd)
	if err != nil {
		return 0, err
	}
	if _, err := w.wait(n, p.exited); err != nil {
		p.stopGroup()
		clean(t)
		return 0, err
	}
	// The sh loop's trap is set before its first child starts, so once
	// every child has started, SIGTERM reaches the trap.
	b.quiet()
	t0 := time.Now()
	t1, err := p.stop(unix.SIGTERM)
	if baseline {
		unix.Kill(-p.cmd.Process.Pid, unix.SIGKILL)
	} else if gerr := guardianGone(p); gerr != nil && err == nil {
		err = gerr
	}
	if left := clean(t); left > 0 && err == nil {
		err = fmt.Errorf("%d processes left running after exit", left)
	}
	if err != nil {
		return 0, err
	}
	return t1.Sub(t0), nil
}

func (b *bench) shutdown() ([]row, error) {
	type kind struct {
		name       string
		n          int
		ignoreTerm bool
		grace      string
		target     func(procman, base float64) bool
		targetText string
		baseline   bool
	}
	var kinds []kind
	for _, n := range b.cfg.stopN {
		k := kind{name: fmt.Sprintf("shutdown, %d %s exiting on SIGTERM", n, plural(n, "child", "children")),
			n: n, grace: "5", baseline: true}
		if n == 10 {
			k.target = func(pm, _ float64) bool { return pm < 0.050 }
			k.targetText = "< 50 ms"
		}
		kinds = append(kinds, k)
	}
	kinds = append(kinds, kind{name: "shutdown, 1 child ignoring SIGTERM, -t 2", n: 1, ignoreTerm: true, grace: "2",
		target: func(pm, _ float64) bool { return pm < 2.050 }, targetText: "< 2 s + 50 ms"})
	var rows []row
	for _, k := range kinds {
		var pm, sh []float64
		for i := 0; i < b.cfg.runs; i++ {
			d, err := b.stopOnce(k.n, k.ignoreTerm, false, k.grace)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k.name, err)
			}
			b.logf("%s: %v", k.name, d)
			pm = append(pm, seconds(d))
			if k.baseline {
				d, err := b.stopOnce(k.n, k.ignoreTerm, true, k.grace)
				if err != nil {
					return nil, fmt.Errorf("%s (sh loop): %w", k.name, err)
				}
				b.logf("%s, sh loop: %v", k.name, d)
				sh = append(sh, seconds(d))
			}
		}
		r := row{name: k.name, unit: "time", target: k.targetText}
		r.builds[linuxBuild] = stats(pm)
		if k.baseline {
			r.baseline, r.basename = stats(sh), "sh trap+kill+wait"
		} else {
			g, _ := strconv.ParseFloat(k.grace, 64)
			r.baseline, r.basename = summary{median: g, lo: g, hi: g, n: 1}, "the grace period"
		}
		if k.target != nil {
			r.verdicts[linuxBuild] = judge(k.target(r.builds[linuxBuild].median, r.baseline.median), true)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// memFigures is what memOnce measures of procman and its guardian.
type memFigures struct {
	hwm, rss, cpu float64 // procman's peak RSS and RSS (MiB), its share of one CPU
	guardian      bool    // whether procman's guardian was found
	ghwm, gcpu    float64 // the guardian's peak RSS (MiB) and share of one CPU
}

// memOnce starts n idle children and returns procman's peak RSS (VmHWM)
// read just before it is stopped, in MiB, and its RSS at that moment;
// and its guardian's peak RSS, when there is a guardian.
//
// With a window, it also returns the share of one CPU that procman (and
// its guardian, with the children the guardian has reaped) used while the
// children were idle, over that window (after the settling).
func (b *bench) memOnce(bin string, n int, window time.Duration) (memFigures, error) {
	var m memFigures
	t, err := b.newTrial()
	if err != nil {
		return m, err
	}
	defer t.remove()
	w, err := watch(t.touch)
	if err != nil {
		return m, err
	}
	defer w.close()
	cmd, err := b.procmanAt(bin, t, childCmd(t.touch, false), n, "5")
	if err != nil {
		return m, err
	}
	p, _, err := launch(cmd)
	if err != nil {
		return m, err
	}
	pid := p.cmd.Process.Pid
	_, err = w.wait(n, p.exited)
	var st, gst map[string]int
	if err == nil {
		time.Sleep(settle) // idle children: measure the app at rest
		g, found := findGuardian(pid)
		if window > 0 {
			c0, g0, t0 := cpuTime(pid), guardianCPU(g), time.Now()
			time.Sleep(window)
			el := float64(time.Since(t0))
			m.cpu = float64(cpuTime(pid)-c0) / el
			m.gcpu = float64(guardianCPU(g)-g0) / el
		}
		st, err = status(pid, "VmHWM", "VmRSS")
		if found && err == nil {
			// A guardian that has gone since is no guardian.
			gst, _ = status(g, "VmHWM")
			m.guardian = gst != nil
		}
	}
	if _, serr := p.stop(unix.SIGTERM); serr != nil && err == nil {
		err = fmt.Errorf("stop: %w", serr)
	}
	if gerr := guardianGone(p); gerr != nil && err == nil {
		err = gerr
	}
	if left := clean(t); left > 0 && err == nil {
		err = fmt.Errorf("%d processes left running after procman exited", left)
	}
	if err != nil {
		return memFigures{}, err
	}
	m.hwm, m.rss = float64(st["VmHWM"])/1024, float64(st["VmRSS"])/1024
	m.ghwm = float64(gst["VmHWM"]) / 1024
	return m, nil
}

// cpuTime returns the CPU time all threads of process pid have used, in
// nanoseconds, from /proc/PID/task/*/schedstat (finer than the clock
// ticks of /proc/PID/stat). Threads that already exited are not counted,
// which only makes the figure smaller.
func cpuTime(pid int) time.Duration {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, _ := os.ReadDir(dir)
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			total += time.Duration(ns)
		}
	}
	return total
}

// shLoopRSS returns the peak RSS, in MiB, of the sh loop running n idle
// children: what the same app costs when a shell starts it.
func (b *bench) shLoopRSS(n int) (float64, error) {
	t, err := b.newTrial()
	if err != nil {
		return 0, err
	}
	defer t.remove()
	w, err := watch(t.touch)
	if err != nil {
		return 0, err
	}
	defer w.close()
	sh, _, err := launch(shellLoop(t, childCmd(t.touch, false), n))
	if err != nil {
		return 0, err
	}
	_, err = w.wait(n, sh.exited)
	var st map[string]int
	if err == nil {
		time.Sleep(settle)
		st, err = status(sh.cmd.Process.Pid, "VmHWM")
	}
	sh.stopGroup()
	clean(t)
	if err != nil {
		return 0, err
	}
	return float64(st["VmHWM"]) / 1024, nil
}

// goFloor returns the peak RSS, in MiB, of an idle Go process: the
// runtime's share of procman's figure, which no change to procman's code
// can remove.
func (b *bench) goFloor() (float64, error) {
	idle := exec.Command(b.self, "idle")
	p, _, err := launch(idle)
	if err != nil {
		return 0, err
	}
	time.Sleep(settle)
	st, err := status(p.cmd.Process.Pid, "VmHWM")
	p.stop(unix.SIGTERM)
	if err != nil {
		return 0, err
	}
	return float64(st["VmHWM"]) / 1024, nil
}

// memory measures each build's peak RSS and CPU at rest with n idle
// children, its guardian's peak RSS, and the two together, which the
// targets bound for both builds.
func (b *bench) memory() ([]row, []string, error) {
	limits := map[int]float64{1: 6, 100: 9, 1000: 40}
	withGuardian := map[int]float64{1: 8, 100: 10}
	bins := [nBuilds]string{b.cfg.procman, b.cfg.portable}
	var rows []row
	var rest []string
	var floors []float64
	var idle, guardian []row         // after the memory rows
	var runs, unguarded [nBuilds]int // runs of each build, and those without a guardian
	for _, n := range b.cfg.memN {
		var hwm, rss, cpu, ghwm, gcpu, both [nBuilds][]float64
		var shLoop []float64
		for i := 0; i < b.cfg.runs; i++ {
			for build, bin := range bins {
				if bin == "" {
					continue
				}
				m, err := b.memOnce(bin, n, restWindow)
				if err != nil {
					return nil, nil, fmt.Errorf("memory with %d children (%s): %w", n, buildNames[build], err)
				}
				b.logf("memory n=%d %s: VmHWM %.2f MiB, VmRSS %.2f MiB; guardian %v, VmHWM %.2f MiB",
					n, buildNames[build], m.hwm, m.rss, m.guardian, m.ghwm)
				hwm[build], rss[build], cpu[build] = append(hwm[build], m.hwm), append(rss[build], m.rss), append(cpu[build], m.cpu)
				runs[build]++
				if m.guardian {
					ghwm[build], gcpu[build] = append(ghwm[build], m.ghwm), append(gcpu[build], m.gcpu)
					both[build] = append(both[build], m.hwm+m.ghwm)
				} else {
					unguarded[build]++
				}
			}
			s, err := b.shLoopRSS(n)
			if err != nil {
				return nil, nil, fmt.Errorf("memory with %d children (sh loop): %w", n, err)
			}
			g, err := b.goFloor()
			if err != nil {
				return nil, nil, fmt.Errorf("memory of an idle Go process: %w", err)
			}
			b.logf("memory n=%d: sh loop %.2f MiB; idle Go %.2f MiB", n, s, g)
			shLoop, floors = append(shLoop, s), append(floors, g)
		}
		children := fmt.Sprintf("%d idle %s", n, plural(n, "child", "children"))
		r := row{name: "peak RSS, " + children, unit: "MiB", baseline: stats(shLoop), basename: "sh loop"}
		gr := row{name: "guardian peak RSS, " + children, unit: "MiB"}
		br := row{name: "procman + guardian peak RSS, " + children, unit: "MiB"}
		cr := row{name: "CPU at rest, " + children, unit: "CPU"}
		gcr := row{name: "guardian CPU at rest, " + children, unit: "CPU"}
		lim, hasLim := limits[n]
		blim, hasBlim := withGuardian[n]
		if hasLim {
			r.target = fmt.Sprintf("≤ %g MiB", lim)
		}
		if hasBlim {
			br.target = fmt.Sprintf("≤ %g MiB", blim)
		}
		for build := range bins {
			if len(hwm[build]) == 0 {
				continue
			}
			r.builds[build], cr.builds[build] = stats(hwm[build]), stats(cpu[build])
			if hasLim {
				r.verdicts[build] = judge(r.builds[build].median <= lim, build == linuxBuild)
			}
			// A run without a guardian leaves "-": there is nothing to judge.
			if len(ghwm[build]) == 0 {
				continue
			}
			gr.builds[build], gcr.builds[build], br.builds[build] = stats(ghwm[build]), stats(gcpu[build]), stats(both[build])
			if hasBlim {
				br.verdicts[build] = judge(br.builds[build].median <= blim, true)
			}
		}
		rows = append(rows, r)
		rest = append(rest, fmt.Sprintf("%d: %.1f MiB", n, stats(rss[linuxBuild]).median))
		idle = append(idle, cr)
		guardian = append(guardian, gr, br, gcr)
		for _, a := range b.cfg.also {
			alt, path, _ := strings.Cut(a, "=")
			var ah []float64
			for i := 0; i < b.cfg.runs; i++ {
				m, err := b.memOnce(path, n, 0)
				if err != nil {
					return nil, nil, fmt.Errorf("memory with %d children (%s): %w", n, alt, err)
				}
				ah = append(ah, m.hwm)
			}
			// Another Linux build is shown for comparison; only the build
			// under test decides the exit status.
			ar := row{name: r.name + ", " + alt, unit: "MiB", baseline: stats(shLoop), basename: "sh loop", target: r.target}
			ar.builds[linuxBuild] = stats(ah)
			if hasLim {
				ar.verdicts[linuxBuild] = judge(ar.builds[linuxBuild].median <= lim, false)
			}
			rows = append(rows, ar)
		}
	}
	rows = append(append(rows, guardian...), idle...)
	notes := []string{
		fmt.Sprintf("CPU at rest: CPU time over %v while the children idle, as a share of one CPU (a shell uses none);", restWindow),
		"the guardian's counts the children it has reaped, such as a sleep it runs.",
		fmt.Sprintf("Peak RSS of an idle Go process (the runtime's floor): %.1f MiB.", stats(floors).median),
		"procman's RSS at rest (Linux build), by children: " + strings.Join(rest, ", ") + ".",
		"procman + guardian: the sum of the two peaks, per run.",
	}
	for build, n := range unguarded {
		if n > 0 {
			notes = append(notes, fmt.Sprintf("The %s had no guardian (no process whose argv has %q followed by procman's pid) in %d of %d runs.",
				buildNames[build], guardianWord, n, runs[build]))
		}
	}
	return rows, notes, nil
}

func seconds(d time.Duration) float64 { return d.Seconds() }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
