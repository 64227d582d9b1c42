package export

// These tests hand the exported files to the real process managers: they
// must accept them, run every instance with the right PORT, PS and config,
// and stop the whole process group. A manager that is not installed skips
// its test with the reason (CI installs them: Debian's supervisor and
// runit; systemd-analyze comes with systemd).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/procman/procman/procfile"
)

// portableConfig holds values every format can carry exactly, supervisord's
// narrow environment= syntax included.
var portableConfig = map[string]string{
	"RAILS_ENV": "production",
	"SPACES":    "  two  spaces  ",
	"SINGLE":    "it's",
	"DOUBLE":    `say "hi" now`,
	"SHELLISH":  "$HOME `id` $(id) \\n \\ %s %% 100% ${PORT}",
	"PUNCT":     "a=b,c;d#e:f/g(h)[i]{j}|k&l<m>n!o?p*q~r^",
	"UNICODE":   "café ☕ 日本",
	"PEM":       "-----BEGIN KEY-----\nMIIB+/=\nabc\n-----END KEY-----",
	"EMPTY":     "",
	"API_TOKEN": "s3cr3t",
}

// hardConfig holds values that all formats but supervisord carry exactly.
var hardConfig = map[string]string{
	"BOTH":     `it's "x"`,
	"CR":       "a\rb",
	"TAB":      "\ta\tb\t",
	"LINES":    "a\n  b\n\nc\n",
	"QUOTED":   `"quoted"`,
	"COMMENTS": "a ;b #c",
}

func mergeConfig(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// recorder is a Procfile whose every process records its environment and
// the pids of itself and of a child it waits for, then waits: stopping it
// must signal the whole process group, or the child survives. The " ; "
// and "#" exercise the formats' quoting of commands.
const recorder = `cat /proc/self/environ > "environ.$PS" ; sleep 1000 & echo $! > "child.$PS"; echo $$ > "pid.$PS"; : " #;'x' 100%"; wait`

// releaseRecorder is the release phase of the recorder app: it records its
// environment, appends a line to release.runs each time it runs, and exits
// 0 at once, as a finished migration does.
const releaseRecorder = `cat /proc/self/environ > "environ.$PS" ; echo "$PS $$" >> release.runs; : " #;'x' 100%"`

func recorderApp(t *testing.T, formation string, config map[string]string) (App, string) {
	t.Helper()
	top := t.TempDir()
	root := filepath.Join(top, "app")
	// Writable for the unprivileged user of runAsUser (past the umask).
	if err := os.Mkdir(root, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o777); err != nil {
		t.Fatal(err)
	}
	// The release comes last, so that it does not move the others' ports;
	// a formation that does not name it leaves it out.
	text := "web: " + recorder + "\nworker: " + recorder + "\nrelease: " + releaseRecorder + "\n"
	p, err := procfile.Parse(strings.NewReader(text), "Procfile")
	if err != nil {
		t.Fatal(err)
	}
	f, err := procfile.ParseFormation(formation)
	if err != nil {
		t.Fatal(err)
	}
	instances, err := procfile.Instances(p, f, 6000)
	if err != nil {
		t.Fatal(err)
	}
	return App{
		Name:      "rec",
		Root:      root,
		Grace:     3 * time.Second,
		Instances: instances,
		Config:    config,
		Procfile:  "Procfile",
	}, top
}

// runAsUser returns an unprivileged user to run the processes as when the
// test runs as root (so that privilege dropping, and reading the 0600
// config before it, are tested too), and "" otherwise.
func runAsUser(t *testing.T, dirs ...string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		return ""
	}
	if _, err := user.Lookup("nobody"); err != nil {
		return ""
	}
	// t.TempDir's directories are 0700: let nobody reach the app root.
	for _, d := range dirs {
		for p := d; p != "/" && p != "."; p = filepath.Dir(p) {
			if p == os.TempDir() {
				break
			}
			info, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, info.Mode().Perm()|0o011); err != nil {
				t.Fatal(err)
			}
		}
	}
	return "nobody"
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			msg := fmt.Sprintf("%s is not installed (Debian: apt-get install supervisor runit): %v", tool, err)
			if os.Getenv("PROCMAN_REQUIRE_TOOLS") != "" {
				t.Fatal(msg) // .ci/run on Linux: a missing tool is an error, not a skip
			}
			t.Skip(msg)
		}
	}
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline: managers start processes on their own schedule.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	var pid int
	waitFor(t, path, func() bool {
		data, err := os.ReadFile(path)
		if err != nil || !bytes.HasSuffix(data, []byte("\n")) {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
		return err == nil
	})
	return pid
}

// gone reports whether pid has exited (a zombie has), from kill(2) and
// ps(1), which every Unix has.
func gone(pid int) bool {
	if syscall.Kill(pid, 0) == syscall.ESRCH {
		return true
	}
	out, err := exec.Command("ps", "-o", "stat=", "-p", strconv.Itoa(pid)).Output()
	state := strings.TrimSpace(string(out))
	return err != nil && state == "" || strings.HasPrefix(state, "Z")
}

// checkRecorded waits for every instance's records and checks its
// environment; it adds the pids of every process and its child to pids.
func checkRecorded(t *testing.T, app App, config map[string]string, pids map[string][]int) {
	t.Helper()
	for _, in := range app.Instances {
		if in.Name == procfile.Release {
			continue
		}
		label := in.Label()
		pid := readPid(t, filepath.Join(app.Root, "pid."+label))
		pids[label] = append(pids[label], pid)
		child := readPid(t, filepath.Join(app.Root, "child."+label))
		pids[label] = append(pids[label], child)
		checkEnviron(t, app, in, config)
	}
}

// checkEnviron checks the environment that instance in recorded: its
// PORT and PS, and the config.
func checkEnviron(t *testing.T, app App, in procfile.Instance, config map[string]string) {
	t.Helper()
	label := in.Label()
	data, err := os.ReadFile(filepath.Join(app.Root, "environ."+label))
	if err != nil {
		t.Fatal(err)
	}
	environ := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSuffix(string(data), "\x00"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		environ[k] = v
	}
	want := map[string]string{"PORT": strconv.Itoa(in.Port), "PS": label}
	for k, v := range config {
		if k != "PORT" && k != "PS" {
			want[k] = v
		}
	}
	for k, v := range want {
		if have, ok := environ[k]; !ok || have != v {
			t.Errorf("%s: %s = %q (set: %v), want %q", label, k, have, ok, v)
		}
	}
}

// releaseRuns returns the lines release.runs holds: one per run of the
// release phase.
func releaseRuns(t *testing.T, app App) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(app.Root, "release.runs"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// releaseOf returns the app's release instance.
func releaseOf(t *testing.T, app App) procfile.Instance {
	t.Helper()
	for _, in := range app.Instances {
		if in.Name == procfile.Release {
			return in
		}
	}
	t.Fatal("the app has no release phase")
	return procfile.Instance{}
}

// logFile opens (appending) the file where a manager's own output goes.
func logFile(t *testing.T, dir string) *os.File {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "manager.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// stopManager stops a manager after a failed test the way its own
// shutdown works, and kills it only if that hangs.
func stopManager(t *testing.T, cmd *exec.Cmd, sig syscall.Signal, exited <-chan error) {
	t.Helper()
	cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Errorf("%s did not stop on %v; killing it", cmd.Path, sig)
		cmd.Process.Kill()
		<-exited
	}
}

// killLeftovers makes sure that a failed test leaves no process behind:
// each recorded process leads its own group.
func killLeftovers(t *testing.T, pids map[string][]int) {
	for _, list := range pids {
		for _, pid := range list {
			if !gone(pid) {
				syscall.Kill(-pid, syscall.SIGKILL)
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

func checkGone(t *testing.T, pids map[string][]int, labels ...string) {
	t.Helper()
	if len(labels) == 0 {
		for l := range pids {
			labels = append(labels, l)
		}
		sort.Strings(labels)
	}
	for _, l := range labels {
		for _, pid := range pids[l] {
			waitFor(t, fmt.Sprintf("%s's process %d to exit", l, pid), func() bool { return gone(pid) })
		}
	}
}

func TestSystemdAnalyzeVerify(t *testing.T) {
	need(t, "systemd-analyze")
	config := mergeConfig(portableConfig, hardConfig)
	app, top := recorderApp(t, "web=2,worker=1,release=1", config)
	app.LogDir = filepath.Join(top, "log")
	app.User = "root"
	dir := filepath.Join(top, "units")
	if err := Write("systemd", dir, app, ""); err != nil {
		t.Fatal(err)
	}
	units, err := filepath.Glob(filepath.Join(dir, "rec*.*"))
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, u := range units {
		if strings.HasSuffix(u, ".service") || strings.HasSuffix(u, ".target") {
			args = append(args, u)
		}
	}
	if len(args) != 5 {
		t.Fatalf("want 3 services, the release and a target, have %v", args)
	}
	cmd := exec.Command("systemd-analyze", append([]string{"verify", "--man=no"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	// systemd reads EnvironmentFile= double-quoted values with the POSIX
	// shell's rules; a shell reading the file back checks the quoting.
	script := "set -a; . " + shQuote(filepath.Join(dir, "rec.env")) + "; exec cat /proc/self/environ"
	out, err = exec.Command("/bin/sh", "-c", script).Output()
	if err != nil {
		t.Fatal(err)
	}
	environ := map[string]string{}
	for _, kv := range strings.Split(string(out), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		environ[k] = v
	}
	for k, v := range config {
		if environ[k] != v {
			t.Errorf("%s: env file gives %q, want %q", k, environ[k], v)
		}
	}
}

// A supervisord is a real supervisord, the test's child, whose config
// includes the exported DIR/*.conf.
type supervisord struct {
	t       *testing.T
	top     string
	conf    string
	cmd     *exec.Cmd
	exited  chan error
	stopped bool
}

// startSupervisord starts supervisord in top with the files exported to
// dir; the test's cleanup stops it (and shows its logs after a failure).
func startSupervisord(t *testing.T, top, dir, childLogDir string) *supervisord {
	t.Helper()
	s := &supervisord{t: t, top: top, conf: filepath.Join(top, "supervisord.conf")}
	sock := filepath.Join(top, "supervisor.sock")
	main := strings.Join([]string{
		"[unix_http_server]",
		"file=" + sock,
		"[supervisord]",
		"nodaemon=true",
		"logfile=" + filepath.Join(top, "supervisord.log"),
		"pidfile=" + filepath.Join(top, "supervisord.pid"),
		"childlogdir=" + childLogDir,
		"[rpcinterface:supervisor]",
		"supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
		"[supervisorctl]",
		"serverurl=unix://" + sock,
		"[include]",
		"files=" + filepath.Join(dir, "*.conf"),
		"",
	}, "\n")
	if err := os.WriteFile(s.conf, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command("supervisord", "-n", "-c", s.conf)
	// A file, not a pipe: the programs inherit it, and a pipe would keep
	// Wait waiting for them.
	s.cmd.Stdout, s.cmd.Stderr = logFile(t, top), logFile(t, top)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.exited = make(chan error, 1)
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		if !s.stopped {
			stopManager(t, s.cmd, syscall.SIGTERM, s.exited)
		}
		if t.Failed() {
			out, _ := os.ReadFile(filepath.Join(top, "manager.log"))
			t.Logf("supervisord output:\n%s\nlog:\n%s", out, s.log())
		}
	})
	return s
}

// ctl runs supervisorctl; its exit status is not an error, as status
// exits non-zero whenever a program is not running.
func (s *supervisord) ctl(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("supervisorctl", append([]string{"-c", s.conf}, args...)...).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		s.t.Fatal(err)
	}
	return string(out)
}

func (s *supervisord) log() string {
	data, _ := os.ReadFile(filepath.Join(s.top, "supervisord.log"))
	return string(data)
}

// stop is supervisord's own shutdown, which stops every program (with
// stopasgroup, the whole process group).
func (s *supervisord) stop() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	select {
	case <-s.exited:
		s.stopped = true
	case <-time.After(60 * time.Second):
		s.t.Fatal("supervisord did not exit after SIGTERM")
	}
}

// TestSystemdRunsTheReleaseFirst reads the units as systemd does (key =
// value lines, repeated keys adding up): the release is a oneshot that
// stays active after exiting 0 and is never restarted, and every process
// unit is ordered after it and requires it, so that none starts if it fails.
func TestSystemdRunsTheReleaseFirst(t *testing.T) {
	app, top := recorderApp(t, "web=2,worker=1,release=1", nil)
	dir := filepath.Join(top, "units")
	if err := Write("systemd", dir, app, ""); err != nil {
		t.Fatal(err)
	}
	release := readUnit(t, filepath.Join(dir, "rec-release-1.service"))
	for key, want := range map[string]string{
		"Service.Type":            "oneshot",
		"Service.RemainAfterExit": "yes",
		"Service.Restart":         "",
		"Service.Environment":     "PORT=6200 PS=release.1",
		"Unit.PartOf":             "rec.target",
	} {
		if have := release[key]; have != want {
			t.Errorf("rec-release-1.service: %s=%q, want %q", key, have, want)
		}
	}
	target := readUnit(t, filepath.Join(dir, "rec.target"))
	if !strings.Contains(" "+target["Unit.Wants"]+" ", " rec-release-1.service ") {
		t.Errorf("rec.target: Wants=%q does not start the release", target["Unit.Wants"])
	}
	for _, name := range []string{"rec-web-1", "rec-web-2", "rec-worker-1"} {
		unit := readUnit(t, filepath.Join(dir, name+".service"))
		for _, key := range []string{"Unit.After", "Unit.Requires"} {
			if !strings.Contains(" "+unit[key]+" ", " rec-release-1.service ") {
				t.Errorf("%s.service: %s=%q lacks rec-release-1.service", name, key, unit[key])
			}
		}
		if unit["Service.Restart"] != "on-failure" {
			t.Errorf("%s.service: Restart=%q", name, unit["Service.Restart"])
		}
	}
}

// readUnit returns a unit file's settings as "Section.Key" to the values
// of every line that sets it, joined by spaces.
func readUnit(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	unit := map[string]string{}
	section := ""
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case line == "" || line[0] == '#':
		case line[0] == '[':
			section = strings.Trim(line, "[]")
		default:
			k, v, _ := strings.Cut(line, "=")
			key := section + "." + k
			if unit[key] != "" {
				v = unit[key] + " " + v
			}
			unit[key] = v
		}
	}
	return unit
}

func TestSupervisord(t *testing.T) {
	need(t, "supervisord", "supervisorctl")
	app, top := recorderApp(t, "web=2,worker=1", portableConfig)
	app.User = runAsUser(t, app.Root)
	app.LogDir = filepath.Join(top, "log")
	if err := os.Mkdir(app.LogDir, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(top, "conf.d")
	if err := Write("supervisord", dir, app, ""); err != nil {
		t.Fatal(err)
	}
	pids := map[string][]int{}
	t.Cleanup(func() { killLeftovers(t, pids) })
	sup := startSupervisord(t, top, dir, app.LogDir)

	checkRecorded(t, app, portableConfig, pids)

	status := sup.ctl("status")
	for _, name := range []string{"rec:rec-web-1", "rec:rec-web-2", "rec:rec-worker-1"} {
		if !strings.Contains(status, name) {
			t.Errorf("supervisorctl status lacks %s:\n%s", name, status)
		}
	}

	// With stopasgroup, the child the shell waits for stops too.
	sup.stop()
	checkGone(t, pids)
}

// TestSupervisordRunsTheReleaseOnceWhenAsked: supervisord cannot start one
// program after another has exited, so the release phase is a program that
// supervisord does not start by itself, that runs once when started, and
// that is not started again after it exits 0.
func TestSupervisordRunsTheReleaseOnceWhenAsked(t *testing.T) {
	need(t, "supervisord", "supervisorctl")
	app, top := recorderApp(t, "web=1,release=1", portableConfig)
	app.User = runAsUser(t, app.Root)
	dir := filepath.Join(top, "conf.d")
	if err := Write("supervisord", dir, app, ""); err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(top, "log")
	if err := os.Mkdir(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	pids := map[string][]int{}
	t.Cleanup(func() { killLeftovers(t, pids) })
	sup := startSupervisord(t, top, dir, logDir)

	// web.1 runs: supervisord has started everything it starts by itself.
	checkRecorded(t, app, portableConfig, pids)
	if runs := releaseRuns(t, app); len(runs) != 0 {
		t.Errorf("supervisord started the release by itself: %q", runs)
	}
	if status := sup.ctl("status", "rec-release-1"); !strings.Contains(status, "STOPPED") {
		t.Errorf("release before it is started:\n%s", status)
	}

	if out := sup.ctl("start", "rec-release-1"); !strings.Contains(out, "rec-release-1: started") {
		t.Fatalf("supervisorctl start rec-release-1:\n%s", out)
	}
	waitFor(t, "the release to exit", func() bool {
		return strings.Contains(sup.ctl("status", "rec-release-1"), "EXITED")
	})
	checkEnviron(t, app, releaseOf(t, app), portableConfig)
	// supervisord decides whether to start an exited program again in the
	// pass over its programs that follows the exit, before it answers the
	// next request: EXITED in an answer means it did not. Ask again after
	// an update, which must not start it either.
	sup.ctl("reread")
	sup.ctl("update")
	if status := sup.ctl("status", "rec-release-1"); !strings.Contains(status, "EXITED") {
		t.Errorf("release after it exited and an update:\n%s", status)
	}
	if runs := releaseRuns(t, app); len(runs) != 1 {
		t.Errorf("the release ran %d times, want once: %q", len(runs), runs)
	}
	log := sup.log()
	if n := strings.Count(log, "spawned: 'rec-release-1'"); n != 1 {
		t.Errorf("supervisord spawned the release %d times, want once", n)
	}
	if !strings.Contains(log, "exited: rec-release-1 (exit status 0; expected)") {
		t.Errorf("supervisord's log lacks the release's exit with status 0")
	}

	sup.stop()
	checkGone(t, pids)
}

func TestRunit(t *testing.T) {
	need(t, "runsv", "sv", "chpst", "svlogd")
	config := mergeConfig(portableConfig, hardConfig)
	app, top := recorderApp(t, "web=2,worker=1", config)
	app.User = runAsUser(t, app.Root)
	dir := filepath.Join(top, "service")
	if err := Write("runit", dir, app, ""); err != nil {
		t.Fatal(err)
	}
	// One runsv per exported service directory, as runsvdir would start
	// them, but as the test's own children so that it can wait for them.
	type runsv struct {
		dir    string
		cmd    *exec.Cmd
		exited chan error
	}
	var services []*runsv
	pids := map[string][]int{}
	defer func() {
		for _, s := range services {
			if s.exited != nil {
				stopManager(t, s.cmd, syscall.SIGTERM, s.exited)
			}
		}
		killLeftovers(t, pids)
		if t.Failed() {
			out, _ := os.ReadFile(filepath.Join(top, "manager.log"))
			t.Logf("runsv output:\n%s", out)
		}
	}()
	for _, in := range app.Instances {
		s := &runsv{dir: filepath.Join(dir, "rec-"+in.Name+"-"+strconv.Itoa(in.Num))}
		s.cmd = exec.Command("runsv", s.dir)
		s.cmd.Stdout, s.cmd.Stderr = logFile(t, top), logFile(t, top)
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		s.exited = make(chan error, 1)
		go func() { s.exited <- s.cmd.Wait() }()
		services = append(services, s)
	}

	checkRecorded(t, app, config, pids)

	// sv down runs control/t, which stops the whole process group.
	web1 := filepath.Join(dir, "rec-web-1")
	if out, err := exec.Command("sv", "-w", "30", "down", web1).CombinedOutput(); err != nil {
		t.Fatalf("sv down: %v\n%s", err, out)
	}
	checkGone(t, pids, "web.1")
	if out, _ := exec.Command("sv", "status", web1).CombinedOutput(); !bytes.HasPrefix(out, []byte("down: ")) {
		t.Errorf("sv status after sv down: %s", out)
	}
	for _, pid := range pids["worker.1"] {
		if gone(pid) {
			t.Errorf("worker.1's process %d stopped with web.1", pid)
		}
	}
	// sv kill runs control/k, which kills the whole process group; runsv
	// then starts the service again, as it is still wanted up.
	web2 := filepath.Join(dir, "rec-web-2")
	for _, f := range []string{"pid.web.2", "child.web.2"} {
		if err := os.Remove(filepath.Join(app.Root, f)); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("sv", "kill", web2).CombinedOutput(); err != nil {
		t.Fatalf("sv kill: %v\n%s", err, out)
	}
	checkGone(t, pids, "web.2")
	pids["web.2"] = append(pids["web.2"], readPid(t, filepath.Join(app.Root, "child.web.2")))
	pids["web.2"] = append(pids["web.2"], readPid(t, filepath.Join(app.Root, "pid.web.2")))

	// The log service got the output: svlogd's current file exists.
	waitFor(t, "the log service", func() bool {
		_, err := os.Stat(filepath.Join(dir, "rec-worker-1", "log", "main", "current"))
		return err == nil
	})

	// A TERM makes runsv stop its service (through control/t) and the
	// log service, then exit.
	for _, s := range services {
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-s.exited:
			s.exited = nil
		case <-time.After(60 * time.Second):
			t.Fatalf("runsv %s did not exit after SIGTERM", s.dir)
		}
	}
	checkGone(t, pids)
}

// TestRunitRunsTheReleaseOnlyWhenAsked: runit cannot start one service
// after another has exited, so runsv does not start the release phase's
// service by itself (./down), sv once runs it once, and its ./finish marks
// it down again, so that not even an sv up (as in sv up /etc/service/APP-*)
// makes runsv start it a second time.
func TestRunitRunsTheReleaseOnlyWhenAsked(t *testing.T) {
	need(t, "runsv", "sv", "chpst", "svlogd")
	app, top := recorderApp(t, "release=1", portableConfig)
	app.User = runAsUser(t, app.Root)
	dir := filepath.Join(top, "service")
	if err := Write("runit", dir, app, ""); err != nil {
		t.Fatal(err)
	}
	svc := filepath.Join(dir, "rec-release-1")
	cmd := exec.Command("runsv", svc)
	cmd.Stdout, cmd.Stderr = logFile(t, top), logFile(t, top)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		stopManager(t, cmd, syscall.SIGTERM, exited)
		if t.Failed() {
			out, _ := os.ReadFile(filepath.Join(top, "manager.log"))
			t.Logf("runsv output:\n%s", out)
		}
	}()
	status := func() string {
		out, _ := exec.Command("sv", "status", svc).CombinedOutput()
		return string(out)
	}
	// Down and not wanted up: runsv has decided, and will not start it.
	down := func() bool {
		st := status()
		return strings.HasPrefix(st, "down: ") && !strings.Contains(st, "want up")
	}
	waitFor(t, "runsv to report the release down", down)
	if runs := releaseRuns(t, app); len(runs) != 0 {
		t.Errorf("runsv started the release by itself: %q", runs)
	}

	for i, command := range []string{"once", "up"} {
		if out, err := exec.Command("sv", command, svc).CombinedOutput(); err != nil {
			t.Fatalf("sv %s: %v\n%s", command, err, out)
		}
		waitFor(t, "the release to run once more and be down", func() bool {
			return len(releaseRuns(t, app)) == i+1 && down()
		})
	}
	checkEnviron(t, app, releaseOf(t, app), portableConfig)
	if runs := releaseRuns(t, app); len(runs) != 2 {
		t.Errorf("the release ran %d times after sv once and sv up, want 2: %q", len(runs), runs)
	}
}

// TestLaunchdPlist parses the plists with a real plist reader (Python's
// plistlib; launchd itself runs only on macOS) and checks that the command,
// the environment and the settings arrive exactly.
func TestLaunchdPlist(t *testing.T) {
	need(t, "python3")
	config := mergeConfig(portableConfig, hardConfig)
	app, top := recorderApp(t, "web=2,worker=1,release=1", config)
	app.User = "shop"
	app.LogDir = "/var/log/rec"
	dir := filepath.Join(top, "agents")
	if err := Write("launchd", dir, app, ""); err != nil {
		t.Fatal(err)
	}
	const script = `
import json, plistlib, sys
out = {}
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        out[path] = plistlib.load(f)
json.dump(out, sys.stdout)
`
	var paths []string
	for _, in := range app.Instances {
		paths = append(paths, filepath.Join(dir, "rec-"+in.Name+"-"+strconv.Itoa(in.Num)+".plist"))
	}
	out, err := exec.Command("python3", append([]string{"-c", script}, paths...)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("plistlib: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var plists map[string]struct {
		Label                string
		ProgramArguments     []string
		WorkingDirectory     string
		UserName             string
		EnvironmentVariables map[string]string
		ExitTimeOut          int
		RunAtLoad            bool
		KeepAlive            any // a dict, or false for the release
		StandardOutPath      string
	}
	if err := json.Unmarshal(out, &plists); err != nil {
		t.Fatal(err)
	}
	for i, in := range app.Instances {
		p := plists[paths[i]]
		name := "rec-" + in.Name + "-" + strconv.Itoa(in.Num)
		if p.Label != name || p.WorkingDirectory != app.Root || p.UserName != "shop" ||
			p.ExitTimeOut != 3 || p.StandardOutPath != "/var/log/rec/"+name+".log" {
			t.Errorf("%s: %+v", name, p)
		}
		// Restarted when it fails and started at load; the release phase
		// runs only when started, and is never restarted.
		keepAlive := map[string]any{"SuccessfulExit": false}
		if in.Name == procfile.Release {
			if p.RunAtLoad || p.KeepAlive != false {
				t.Errorf("%s: RunAtLoad %v, KeepAlive %v, want false and false", name, p.RunAtLoad, p.KeepAlive)
			}
		} else if !p.RunAtLoad || !reflect.DeepEqual(p.KeepAlive, keepAlive) {
			t.Errorf("%s: RunAtLoad %v, KeepAlive %v, want true and %v", name, p.RunAtLoad, p.KeepAlive, keepAlive)
		}
		if want := []string{"/bin/sh", "-c", in.Command}; strings.Join(p.ProgramArguments, "\x00") != strings.Join(want, "\x00") {
			t.Errorf("%s: ProgramArguments %q, want %q", name, p.ProgramArguments, want)
		}
		want := mergeConfig(config, map[string]string{"PORT": strconv.Itoa(in.Port), "PS": in.Label()})
		for k, v := range want {
			if p.EnvironmentVariables[k] != v {
				t.Errorf("%s: %s = %q, want %q", name, k, p.EnvironmentVariables[k], v)
			}
		}
		if len(p.EnvironmentVariables) != len(want) {
			t.Errorf("%s: %d variables, want %d", name, len(p.EnvironmentVariables), len(want))
		}
	}
}
