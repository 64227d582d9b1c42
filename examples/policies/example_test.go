// Package policies_test runs the lifecycle-policy example for real: procman
// built from this repository starts the Procfile with the policies in
// .procman, and a job goes through the web server and the worker.
package policies_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// deadline is generous: the first start compiles web and worker.
const deadline = 3 * time.Minute

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func waitFor(t *testing.T, what string, out *syncBuffer, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("gave up after %v waiting for %s; output:\n%s", deadline, what, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type job struct {
	ID     int    `json:"id"`
	Status string `json:"status"`
	Result string `json:"result"`
}

func TestExample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds procman, web and worker")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command")
	}
	tmp := t.TempDir()
	procman := filepath.Join(tmp, "procman")
	// The procman under test is built with this test binary's tags, so
	// that go test -tags procman_portable runs the portable build here too.
	build := exec.Command(goBin, "build", "-tags", buildTags(), "-o", procman, "../../cmd/procman")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build procman: %v\n%s", err, out)
	}

	port := freePort(t)
	web := "http://127.0.0.1:" + strconv.Itoa(port)
	out := new(syncBuffer)
	cmd := exec.Command(procman, "start", "--no-timestamp", "-p", strconv.Itoa(port))
	cmd.Env = append(os.Environ(),
		"VAR_DIR="+filepath.Join(tmp, "var"),
		"BIN_DIR="+filepath.Join(tmp, "bin"),
		"WEB_URL="+web,
		"NO_COLOR=1")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	done := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(done) }()
	defer func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
			<-done
		}
	}()

	started := regexp.MustCompile(`worker\.1 started`)
	waitFor(t, "the worker to start", out, func() bool { return started.MatchString(out.String()) })

	resp, err := http.PostForm(web+"/jobs", url.Values{"text": {"count these four words"}})
	if err != nil {
		t.Fatal(err)
	}
	var queued job
	err = json.NewDecoder(resp.Body).Decode(&queued)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /jobs: %s, %v", resp.Status, err)
	}
	var got job
	waitFor(t, "the worker to do the job", out, func() bool {
		resp, err := http.Get(web + "/jobs")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var jobs []job
		if json.NewDecoder(resp.Body).Decode(&jobs) != nil || len(jobs) < queued.ID {
			return false
		}
		got = jobs[queued.ID-1]
		return got.Status == "done"
	})
	if want := regexp.MustCompile(`^4 words, sha256 [0-9a-f]{8}$`); !want.MatchString(got.Result) {
		t.Errorf("result %q, want %v", got.Result, want)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	var exitErr *exec.ExitError
	select {
	case <-done:
		if !errors.As(waitErr, &exitErr) || exitErr.ExitCode() != 143 {
			t.Errorf("procman: %v, want exit status 143", waitErr)
		}
	case <-time.After(deadline):
		t.Fatalf("procman still running after SIGTERM; output:\n%s", out)
	}

	// The policies at work, in order: the release first; the worker once
	// web accepts connections; on stop, the worker before web (an exit is
	// reported once its output is drained, so the exit lines may come
	// later than the next process's own lines).
	text := out.String()
	for _, seq := range [][]string{
		{`release\.1 +\| applying 001_jobs`, `release\.1 exited with code 0`, `web\.1 started`},
		{`web\.1 ready on :` + strconv.Itoa(port), `worker\.1 started`},
		{`css\.1 +\| built .*app\.css`},
		{`worker\.1 +\| job \d+: 4 words`},
		{`SIGTERM received`, `worker\.1 +\| stopping`, `web\.1 +\| shutting down`},
		{`worker\.1 exited with code 0`},
		{`web\.1 exited with code 0`},
	} {
		rest := text
		for _, re := range seq {
			loc := regexp.MustCompile(re).FindStringIndex(rest)
			if loc == nil {
				t.Fatalf("no %q after %v in the output:\n%s", re, seq, text)
			}
			rest = rest[loc[1]:]
		}
	}
}

// buildTags returns the -tags this test binary was built with.
func buildTags() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-tags" {
				return s.Value
			}
		}
	}
	return ""
}
