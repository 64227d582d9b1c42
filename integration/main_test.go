package integration

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// helperEnv marks a run of the test binary as a helper process (see helper)
// rather than a test run. Every procman under test passes it on to its
// children, together with IT, the path of the test binary, so a Procfile
// line says `exec "$IT" trap web`.
const helperEnv = "PROCMAN_IT_HELPER"

var (
	procmanBin string   // the static procman under test, built by TestMain
	testBin    string   // this test binary, which the Procfiles run as helpers
	buildTags  string   // the -tags this test binary was built with, procman's too
	atExit     []func() // run by TestMain once every test has run
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helper(os.Args[1:]))
	}
	os.Exit(buildAndRun(m))
}

// buildAndRun builds procman the way a container image needs it (static,
// CGO_ENABLED=0) once for every test, then runs the tests. procman gets
// the build tags the tests were built with, so that
// `go test -tags procman_portable` tests the portable implementation.
func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "procman-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-tags" {
				buildTags = s.Value
			}
		}
	}
	procmanBin = filepath.Join(dir, "procman")
	build := exec.Command("go", "build", "-trimpath", "-tags", buildTags, "-o", procmanBin, "./cmd/procman")
	build.Dir = ".." // the module root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building procman: %v\n%s", err, out)
		return 1
	}
	if testBin, err = os.Executable(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		for _, f := range atExit {
			f()
		}
	}()
	return m.Run()
}

// helper is what the test binary does when a Procfile runs it:
//
//	trap NAME [ignore]  write NAME.pid (its pid in its own namespace), print
//	                    "NAME ready", then print "NAME got SIG..." for every
//	                    TERM, INT, HUP, USR1, USR2 or QUIT, and add a line
//	                    "SIG..." to NAME.signals (read when procman, and with
//	                    it the output, is gone); exit 0 on TERM unless told
//	                    to ignore it.
//	orphan NAME         open the FIFO ./release, write NAME.pid, print
//	                    "NAME ready", and exit once the FIFO has no writer:
//	                    run as `(… orphan x &)`, it is an orphan that exits
//	                    when the test says so.
//	spawn-orphans N     start N orphans o1…oN (each through a shell that
//	                    exits at once), then behave as `trap main`, but
//	                    exit 7 on TERM: the command `procman run` runs.
func helper(args []string) int {
	if len(args) < 2 {
		fmt.Fprintf(os.Stderr, "helper: bad arguments %q\n", args)
		return 2
	}
	switch args[0] {
	case "trap":
		return trap(args[1], len(args) > 2 && args[2] == "ignore", 0)
	case "orphan":
		return orphan(args[1])
	case "spawn-orphans":
		var n int
		fmt.Sscan(args[1], &n)
		for i := 1; i <= n; i++ {
			// sh forks the orphan and exits: the orphan's parent is gone
			// before it prints "ready".
			sh := exec.Command("/bin/sh", "-c", fmt.Sprintf(`"$IT" orphan o%d &`, i))
			sh.Stdout, sh.Stderr = os.Stdout, os.Stderr
			if err := sh.Run(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		return trap("main", false, 7)
	}
	fmt.Fprintf(os.Stderr, "helper: unknown mode %q\n", args[0])
	return 2
}

func trap(name string, ignore bool, termCode int) int {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGQUIT)
	// A helper may outlive the reader of its output (procman killed with
	// SIGKILL): a write to the closed pipe must not kill it before the
	// signals the test is about do.
	signal.Ignore(syscall.SIGPIPE)
	if err := writePid(name); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("%s ready\n", name)
	for sig := range sigs {
		sname := unix.SignalName(sig.(syscall.Signal))
		fmt.Printf("%s got %s\n", name, sname)
		if err := appendLine(name+".signals", sname); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		if sig == syscall.SIGTERM && !ignore {
			return termCode
		}
	}
	return 0
}

// appendLine adds line to the file at path in one write.
func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(line + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func orphan(name string) int {
	// The test holds the FIFO open for writing until it releases the
	// orphans, so this open does not block and the read ends in EOF.
	f, err := os.Open("release")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := writePid(name); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("%s ready\n", name)
	io.Copy(io.Discard, f)
	return 0
}

// writePid writes NAME.pid whole (a rename), so a reader never sees half.
func writePid(name string) error {
	tmp := name + ".pid.tmp"
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d\n", os.Getpid()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name+".pid")
}
