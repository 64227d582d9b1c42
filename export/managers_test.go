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
	text := "web: " + recorder + "\nworker: " + recorder + "\n"
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
			t.Skipf("%s is not installed (Debian: apt-get install supervisor runit): %v", tool, err)
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

// gone reports whether pid has exited (a zombie has).
func gone(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	i := bytes.LastIndexByte(data, ')')
	return i < 0 || i+2 >= len(data) || data[i+2] == 'Z'
}

// checkRecorded waits for every instance's records and checks its
// environment; it adds the pids of every process and its child to pids.
func checkRecorded(t *testing.T, app App, config map[string]string, pids map[string][]int) {
	t.Helper()
	for _, in := range app.Instances {
		label := in.Label()
		pid := readPid(t, filepath.Join(app.Root, "pid."+label))
		pids[label] = append(pids[label], pid)
		child := readPid(t, filepath.Join(app.Root, "child."+label))
		pids[label] = append(pids[label], child)
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
	app, top := recorderApp(t, "web=2,worker=1", config)
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
	if len(args) != 4 {
		t.Fatalf("want 3 services and a target, have %v", args)
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
	conf := filepath.Join(top, "supervisord.conf")
	sock := filepath.Join(top, "supervisor.sock")
	main := strings.Join([]string{
		"[unix_http_server]",
		"file=" + sock,
		"[supervisord]",
		"nodaemon=true",
		"logfile=" + filepath.Join(top, "supervisord.log"),
		"pidfile=" + filepath.Join(top, "supervisord.pid"),
		"childlogdir=" + app.LogDir,
		"[rpcinterface:supervisor]",
		"supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
		"[supervisorctl]",
		"serverurl=unix://" + sock,
		"[include]",
		"files=" + filepath.Join(dir, "*.conf"),
		"",
	}, "\n")
	if err := os.WriteFile(conf, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	sup := exec.Command("supervisord", "-n", "-c", conf)
	// A file, not a pipe: the programs inherit it, and a pipe would keep
	// Wait waiting for them.
	sup.Stdout, sup.Stderr = logFile(t, top), logFile(t, top)
	if err := sup.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- sup.Wait() }()
	stopped := false
	pids := map[string][]int{}
	defer func() {
		if !stopped {
			stopManager(t, sup, syscall.SIGTERM, exited)
		}
		killLeftovers(t, pids)
		if t.Failed() {
			out, _ := os.ReadFile(filepath.Join(top, "manager.log"))
			data, _ := os.ReadFile(filepath.Join(top, "supervisord.log"))
			t.Logf("supervisord output:\n%s\nlog:\n%s", out, data)
		}
	}()

	checkRecorded(t, app, portableConfig, pids)

	status, err := exec.Command("supervisorctl", "-c", conf, "status").CombinedOutput()
	for _, name := range []string{"rec:rec-web-1", "rec:rec-web-2", "rec:rec-worker-1"} {
		if !bytes.Contains(status, []byte(name)) {
			t.Errorf("supervisorctl status lacks %s (%v):\n%s", name, err, status)
		}
	}

	// supervisord's own shutdown stops every program, and with
	// stopasgroup the child the shell waits for goes too.
	if err := sup.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		stopped = true
	case <-time.After(60 * time.Second):
		t.Fatal("supervisord did not exit after SIGTERM")
	}
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

// TestLaunchdPlist parses the plists with a real plist reader (Python's
// plistlib; launchd itself runs only on macOS) and checks that the command,
// the environment and the settings arrive exactly.
func TestLaunchdPlist(t *testing.T) {
	need(t, "python3")
	config := mergeConfig(portableConfig, hardConfig)
	app, top := recorderApp(t, "web=2,worker=1", config)
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
		KeepAlive            map[string]bool
		StandardOutPath      string
	}
	if err := json.Unmarshal(out, &plists); err != nil {
		t.Fatal(err)
	}
	for i, in := range app.Instances {
		p := plists[paths[i]]
		name := "rec-" + in.Name + "-" + strconv.Itoa(in.Num)
		if p.Label != name || p.WorkingDirectory != app.Root || p.UserName != "shop" ||
			p.ExitTimeOut != 3 || !p.RunAtLoad || p.KeepAlive["SuccessfulExit"] ||
			p.StandardOutPath != "/var/log/rec/"+name+".log" {
			t.Errorf("%s: %+v", name, p)
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
