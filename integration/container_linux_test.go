package integration

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// podmanGlobal are the podman flags that work on the CI machines:
// crun, podman's default runtime, fails there on rlimits and cgroup v1.
var podmanGlobal = []string{"--runtime", "runc", "--cgroup-manager=cgroupfs"}

// runFlags are `podman run`'s flags for every container of the tests. No
// test needs a network from outside, and --network=none works without the
// network plugins that .ci/run's --no-install-recommends may leave out.
var runFlags = []string{"--rm", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096", "--network=none"}

func podman(args ...string) *exec.Cmd {
	return exec.Command("podman", append(append([]string{}, podmanGlobal...), args...)...)
}

// requirePodman skips the test, saying why (or fails it: see missingTool),
// where podman cannot build and run this image: no podman, no static
// busybox, or containers do not run.
func requirePodman(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		missingTool(t, "podman is not installed (.ci/run installs it: apt-get install -y podman runc)")
	}
	busybox := "/bin/busybox"
	f, err := elf.Open(busybox)
	if err != nil {
		missingTool(t, "no %s for the image's /bin/sh (apt-get install -y busybox-static): %v", busybox, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			missingTool(t, "%s is dynamically linked and cannot run FROM scratch (apt-get install -y busybox-static)", busybox)
		}
	}
	if out, err := podman("info").CombinedOutput(); err != nil {
		missingTool(t, "podman does not work here: podman info: %v\n%s", err, out)
	}
}

// The image is built once for all container tests; TestMain removes it
// (atExit).
var (
	imageOnce sync.Once
	image     string // its tag, once built
	imageErr  error  // the build failed: a test failure
	imageSkip string // podman cannot run a container here: a skip (see missingTool)
)

// buildImage builds examples/container into an image with the example's own
// script, as a user would, its procman built with the tests' build tags.
func buildImage(t *testing.T) string {
	t.Helper()
	imageOnce.Do(func() {
		tag := fmt.Sprintf("localhost/procman-it:%d", os.Getpid())
		build := exec.Command("../examples/container/build.sh", tag)
		if buildTags != "" {
			goflags, err := exec.Command("go", "env", "GOFLAGS").Output()
			if err != nil {
				imageErr = fmt.Errorf("go env GOFLAGS: %v", err)
				return
			}
			build.Env = append(os.Environ(), "GOFLAGS="+strings.TrimSpace(string(goflags))+" -tags="+buildTags)
		}
		if out, err := build.CombinedOutput(); err != nil {
			imageErr = fmt.Errorf("examples/container/build.sh: %v\n%s", err, out)
			return
		}
		image = tag
		atExit = append(atExit, removeImage)
		// The probe separates "podman cannot run containers here" (a skip)
		// from procman misbehaving in one (a failure).
		if out, err := podman(append(append([]string{"run"}, runFlags...), tag, "version")...).CombinedOutput(); err != nil {
			imageSkip = fmt.Sprintf("podman cannot run a container here: %v\n%s", err, out)
		}
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	if imageSkip != "" {
		missingTool(t, "%s", imageSkip)
	}
	return image
}

// removeImage removes the image the tests built.
func removeImage() {
	podman("rmi", "--force", image).Run()
}

var containers int

// A container is a procman running as a container's PID 1.
type container struct {
	*procman
	name string // the container's, for podman
}

// runContainer runs the image attached, like `podman run IMAGE args...`,
// with dir (if any) mounted at /test, and returns once procman, the
// container's PID 1, has started its processes.
func runContainer(t *testing.T, image, dir string, args ...string) *container {
	t.Helper()
	containers++
	name := fmt.Sprintf("procman-it-%d-%d", os.Getpid(), containers)
	argv := append([]string{"run", "--name", name}, runFlags...)
	if dir != "" {
		argv = append(argv, "--volume", dir+":/test")
	}
	argv = append(append(argv, image), args...)
	p := launchProcman(t, dir, podman(argv...))
	t.Cleanup(func() {
		podman("rm", "--force", "--time", "0", name).Run()
		p.cmd.Process.Kill()
		<-p.done
	})
	p.waitOutput("started with pid")

	// procman's pid as the host sees it, and its pid namespace: the
	// container's processes are found as in the unshare tests.
	out, err := podman("inspect", "--format", "{{.State.Pid}}", name).Output()
	if err != nil {
		t.Fatalf("podman inspect: %v", err)
	}
	if p.pid, err = strconv.Atoi(strings.TrimSpace(string(out))); err != nil || p.pid <= 0 {
		t.Fatalf("podman inspect: pid %q", out)
	}
	if p.ns, err = os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", p.pid)); err != nil {
		t.Fatal(err)
	}
	return &container{p, name}
}

// stop runs `podman stop -t 30`: SIGTERM to procman, SIGKILL from podman
// only if the container is still running 30 s later.
func (c *container) stop() {
	c.t.Helper()
	if out, err := podman("stop", "--time", "30", c.name).CombinedOutput(); err != nil {
		c.t.Fatalf("podman stop: %v\n%s", err, out)
	}
}

// The example image: the hello app runs, serves, and stops cleanly on
// `podman stop`, each process told by procman.
func TestContainerExample(t *testing.T) {
	requirePodman(t)
	image := buildImage(t)
	p := runContainer(t, image, "")
	p.waitOutput("listening on http://localhost:5000/", "working every")

	out, err := podman("exec", p.name, "wget", "-q", "-O", "-", "http://localhost:5000/").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("Hello from web.1 on port 5000")) {
		t.Errorf("GET / inside the container: %v: %q", err, out)
	}

	p.stop()
	// 143: procman stopped on SIGTERM, before podman's SIGKILL (137).
	if code := p.wait(); code != 143 {
		t.Errorf("exit status: want 143, have %d", code)
	}
	p.wantOutput("SIGTERM received, stopping", "web.1    | shutting down", "web.1    | bye",
		"worker.1 | stopping after", "web.1 exited with code 0", "worker.1 exited with code 0")
}

// procman as a container's PID 1 with a Procfile that has everything a
// real one can: grandchildren, daemons out of their group, a process that
// ignores SIGTERM, orphans. Orphans are reaped and do not stop the app;
// `podman stop` reaches every process; the one that ignores SIGTERM is
// killed when procman's grace (-t 2) ends, long before podman's (30 s).
func TestContainerEveryProcessStops(t *testing.T) {
	requirePodman(t)
	image := buildImage(t)
	dir := t.TempDir()
	f := makeFifo(t, dir)
	files := map[string]string{
		"Procfile": `
web: sh trap.sh web-gc & exec sh trap.sh web
worker: setsid sh trap.sh daemon & (setsid sh trap.sh lone-daemon &); exec sh trap.sh worker
stubborn: exec sh trap.sh stubborn ignore
orphans: for i in 1 2 3 4 5; do (sh orphan.sh o$i &); done; exec sh trap.sh orphans
`,
		// trap.sh NAME [ignore]: the busybox twin of the helper's trap.
		"trap.sh": `name=$1
if [ "${2:-}" = ignore ]; then
	trap 'echo "$name got SIGTERM"' TERM
else
	trap 'echo "$name got SIGTERM"; exit 0' TERM
fi
echo $$ > "$name.pid.tmp" && mv "$name.pid.tmp" "$name.pid"
echo "$name ready"
while :; do sleep 1 & wait $!; done
`,
		// orphan.sh NAME: the busybox twin of the helper's orphan.
		"orphan.sh": `exec 3< release
echo $$ > "$1.pid.tmp" && mv "$1.pid.tmp" "$1.pid"
echo "$1 ready"
while read -r line <&3; do :; done
`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	p := runContainer(t, image, dir, "start", "-f", "/test/Procfile", "-t", "2")
	names := []string{"web", "web-gc", "worker", "daemon", "lone-daemon", "stubborn", "orphans"}
	for _, n := range names {
		p.waitOutput(n + " ready")
	}
	ps := p.procs(names...)
	p.checkOrphansReaped(f, 5)
	if out := p.out.String(); !p.running() || strings.Contains(out, "stopping") {
		t.Fatalf("an orphan's exit stopped the app; output:\n%s", out)
	}

	p.stop()
	if code := p.wait(); code != 143 {
		t.Errorf("exit status: want 143 (procman stopped on SIGTERM), have %d", code)
	}
	p.wantOnce(got("SIGTERM", names...)...)
	p.wantOutput("SIGTERM received, stopping", "sending SIGKILL to all processes", "stubborn.1 terminated by SIGKILL")
	p.wantDead(ps...)
}
