package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// deadline bounds every wait: generous, so that a slow machine passes and
// a hang fails.
const deadline = 30 * time.Second

// sockPath is a socket path in a fresh directory, short enough for a
// socket address however long the temp dir's name.
func sockPath(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pmc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, SocketName)
}

// serve listens at a fresh path and serves until the test ends.
func serve(t testing.TB) *Server {
	t.Helper()
	s, err := Listen(sockPath(t))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

// fake stands in for the supervisor's owner: it answers every request at
// once from a fixed table, as the owner does, until stop is closed.
type fake struct {
	mu  sync.Mutex
	ops []string
}

func (f *fake) run(asks <-chan Ask, stop <-chan struct{}) {
	table := []Instance{
		{Label: "web.1", Name: "web", State: "running", Pid: 100, Port: 5000, Started: time.Now()},
		{Label: "web.2", Name: "web", State: "running", Pid: 101, Port: 5001, Started: time.Now()},
	}
	for {
		select {
		case req := <-asks:
			f.mu.Lock()
			f.ops = append(f.ops, req.Op)
			f.mu.Unlock()
			var r Answer
			switch req.Op {
			case "ps":
				r.Instances = table
			case "stop", "restart":
				for _, t := range req.Targets {
					if t == "nope" {
						r.Err = fmt.Errorf("no process %q (have web.1, web.2)", t)
					}
				}
				if r.Err == nil {
					r.Instances = table[:1]
				}
			case "scale", "quit":
			case "logs":
				r.Feed = endedFeed("")
			case "attach":
				r.Session = &fakeSession{fakeFeed: endedFeed(""), input: make(chan []byte), resizes: make(chan [2]int, 1)}
			default:
				r.Err = fmt.Errorf("unknown operation %q", req.Op)
			}
			select {
			case req.Reply <- r:
			default:
			}
		case <-stop:
			return
		}
	}
}

func (f *fake) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ops)
}

func serveFake(t testing.TB) (*Server, *fake) {
	t.Helper()
	s := serve(t)
	f := &fake{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { f.run(s.Asks(), stop); close(done) }()
	t.Cleanup(func() { close(stop); <-done })
	return s, f
}

// raw sends data as it is and reads the reply line, which must be a
// well-formed Response of version 1.
func raw(t testing.TB, path string, data []byte) Response {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(deadline))
	// The server stops reading an oversized request and answers: a
	// failed write is expected then, the reply still arrives.
	go func() {
		c.Write(data)
		c.(*net.UnixConn).CloseWrite()
	}()
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		t.Fatalf("no reply to %.40q: %v", data, err)
	}
	var resp Response
	dec := json.NewDecoder(strings.NewReader(string(line)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&resp); err != nil {
		t.Fatalf("reply %q: %v", line, err)
	}
	if resp.V != Version || resp.OK == (resp.Error != "") {
		t.Fatalf("malformed reply %q", line)
	}
	return resp
}

func call(t testing.TB, path string, req Request) Response {
	t.Helper()
	resp, err := Call(path, req, deadline)
	if err != nil {
		t.Fatalf("%s: %v", req.Op, err)
	}
	return resp
}

func TestServeAnswers(t *testing.T) {
	s, _ := serveFake(t)
	resp := call(t, s.Path(), Request{V: 1, Op: "ps"})
	if len(resp.Instances) != 2 || resp.Instances[1].Label != "web.2" || resp.Instances[1].Port != 5001 {
		t.Errorf("ps: %+v", resp)
	}
	if _, err := Call(s.Path(), Request{V: 1, Op: "restart", Targets: []string{"nope"}}, deadline); err == nil ||
		err.Error() != `no process "nope" (have web.1, web.2)` {
		t.Errorf("restart nope: want the supervisor's error as it is, have %v", err)
	}
	if _, err := Call(s.Path(), Request{V: 1, Op: "restart"}, deadline); err == nil ||
		!strings.Contains(err.Error(), "name a process type") {
		t.Errorf("restart without targets: have %v", err)
	}
}

// Malformed, oversized and unknown requests each get an error reply; the
// supervisor never sees them and keeps answering.
func TestServeRejectsBadRequests(t *testing.T) {
	s, f := serveFake(t)
	bad := [][]byte{
		[]byte("\n"),
		[]byte("{\n"),
		[]byte("\x00\x01\x02\n"),
		[]byte(`{"v":1,"op":"ps"` + "\n" + `,"x":1}` + "\n"),
		[]byte(strings.Repeat("[", 10000) + "\n"),
		[]byte(strings.Repeat("x", MaxRequest+1)),
		[]byte(strings.Repeat("x", 4*MaxRequest) + "\n"),
		[]byte(`{"v":1,"op":"ps","pad":"` + strings.Repeat(" ", MaxRequest) + `"}` + "\n"),
	}
	for _, tt := range requestTests {
		if tt.err != "" {
			bad = append(bad, []byte(tt.line+"\n"))
		}
	}
	for _, data := range bad {
		resp := raw(t, s.Path(), data)
		if resp.OK {
			t.Errorf("%.40q: want an error reply, have %+v", data, resp)
		}
	}
	if n := f.count(); n != 0 {
		t.Errorf("the supervisor saw %d bad requests", n)
	}
	if resp := raw(t, s.Path(), []byte(strings.Repeat("x", MaxRequest+1))); !strings.Contains(resp.Error, "longer than 65536 bytes") {
		t.Errorf("oversized: %q", resp.Error)
	}
	if resp := call(t, s.Path(), Request{V: 1, Op: "ps"}); len(resp.Instances) != 2 {
		t.Errorf("ps after bad requests: %+v", resp)
	}
}

// The limit counts the newline: a request of exactly MaxRequest bytes is
// read, one byte more is not.
func TestServeRequestLimit(t *testing.T) {
	s, _ := serveFake(t)
	req := `{"v":1,"op":"ps"}`
	fit := req + strings.Repeat(" ", MaxRequest-len(req)-1) + "\n"
	if resp := raw(t, s.Path(), []byte(fit)); !resp.OK {
		t.Errorf("request of %d bytes: %s", len(fit), resp.Error)
	}
	over := req + strings.Repeat(" ", MaxRequest-len(req)) + "\n"
	if resp := raw(t, s.Path(), []byte(over)); resp.OK {
		t.Errorf("request of %d bytes: want an error", len(over))
	}
	// Without a newline, the end of the connection ends the request.
	if resp := raw(t, s.Path(), []byte(req)); !resp.OK {
		t.Errorf("request without newline: %s", resp.Error)
	}
}

// A client that connects and says nothing holds only its own connection,
// and only until the timeout.
func TestServeSilentClient(t *testing.T) {
	path := sockPath(t)
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	s.timeout = 300 * time.Millisecond
	go s.Serve()
	defer s.Close()
	f := &fake{}
	stop := make(chan struct{})
	defer close(stop)
	go f.run(s.Asks(), stop)

	silent, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	call(t, path, Request{V: 1, Op: "ps"}) // answered while the silent one waits
	silent.SetDeadline(time.Now().Add(deadline))
	line, err := bufio.NewReader(silent).ReadBytes('\n')
	if err != nil || !strings.Contains(string(line), "no request before the timeout") {
		t.Errorf("silent client: have %q, %v", line, err)
	}
}

// More clients at once than the server serves at once all get answers.
func TestServeManyClients(t *testing.T) {
	s, f := serveFake(t)
	const n = 3 * maxConns
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			resp, err := Call(s.Path(), Request{V: 1, Op: "ps"}, deadline)
			if err == nil && len(resp.Instances) != 2 {
				err = fmt.Errorf("ps: %+v", resp)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if f.count() != n {
		t.Errorf("want %d requests, have %d", n, f.count())
	}
}

// A supervisor that no longer reads requests (Run has returned) costs a
// client a timeout and an error, never a hang.
func TestServeSupervisorGone(t *testing.T) {
	path := sockPath(t)
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	s.askWait = 200 * time.Millisecond
	go s.Serve()
	defer s.Close()
	_, err = Call(path, Request{V: 1, Op: "ps"}, deadline)
	if err == nil || !strings.Contains(err.Error(), "did not take the request") {
		t.Errorf("want a timeout error, have %v", err)
	}
}

// Close answers a client still waiting for the supervisor or still
// sending, then removes the socket; Serve returns nil.
func TestCloseAnswersWaitingClients(t *testing.T) {
	path := sockPath(t)
	s, served := serveAt(t, path)

	waiting := make(chan error, 1)
	go func() { _, err := Call(path, Request{V: 1, Op: "ps"}, deadline); waiting <- err }()
	silent, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silent.Write([]byte(`{"v":1,`)) // and no more
	// The request is in the server's hands once it waits on the channel;
	// nothing reads it, as the supervisor has gone.
	waitFor(t, "a connection in progress", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.conns) == 2
	})

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if err := <-waiting; err == nil || err.Error() != "procman is stopping" {
		t.Errorf("waiting client: have %v", err)
	}
	silent.SetDeadline(time.Now().Add(deadline))
	line, _ := bufio.NewReader(silent).ReadBytes('\n')
	if !strings.Contains(string(line), "procman is stopping") {
		t.Errorf("silent client: have %q", line)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
	if _, err := Call(path, Request{V: 1, Op: "ps"}, deadline); !errors.Is(err, ErrNotRunning) {
		t.Errorf("after Close: want ErrNotRunning, have %v", err)
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The socket is 0600 from the start, even under umask 0.
func TestListenMode(t *testing.T) {
	old := unix.Umask(0)
	path := sockPath(t)
	s, err := Listen(path)
	unix.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	info, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Type() != os.ModeSocket || info.Mode().Perm() != 0o600 {
		t.Errorf("want a socket with mode 0600, have %v", info.Mode())
	}
	if names := dirNames(t, filepath.Dir(path)); len(names) != 1 || names[0] != SocketName {
		t.Errorf("want only %s in the directory, have %q", SocketName, names)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// A file that appears at path after the check for a stale socket is left
// alone, and so is the directory.
func TestBindKeepsExistingFile(t *testing.T) {
	path := sockPath(t)
	if err := os.WriteFile(path, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := bindPrivate(path)
	var inUse *InUseError
	if !errors.As(err, &inUse) || inUse.Path != path {
		t.Errorf("want an *InUseError, have %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "mine" {
		t.Errorf("the file was touched")
	}
	if names := dirNames(t, filepath.Dir(path)); len(names) != 1 {
		t.Errorf("want only the file in the directory, have %q", names)
	}
}

// The kernel names this user as the peer at both ends of a connection.
func TestPeerUID(t *testing.T) {
	path := sockPath(t)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := l.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	for _, c := range []*net.UnixConn{server, client} {
		raw, err := c.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		uid, credErr := -1, error(nil)
		if err := raw.Control(func(fd uintptr) { uid, credErr = peerUID(int(fd)) }); err != nil {
			t.Fatal(err)
		}
		if credErr != nil || uid != os.Geteuid() {
			t.Errorf("peerUID: want %d, have %d, %v", os.Geteuid(), uid, credErr)
		}
	}
}

// A client of another user is refused even when the socket's mode and
// directory would let it in, and the supervisor never sees its request.
// Only root can run one: the test binary, copied where that user can run
// it, as TestHelperCall.
func TestServeRefusesOtherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(filepath.Dir(sockPath(t)), "control.test")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	s, f := serveFake(t)
	for _, p := range []string{filepath.Dir(bin), filepath.Dir(s.Path())} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(s.Path(), 0o666); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestHelperCall$")
	cmd.Env = append(os.Environ(), "PROCMAN_TEST_CALL="+s.Path())
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot run a client as user 65534 here: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v\n%s", err, out.String())
	}
	if want := "call: permission denied: this procman answers only its own user\n"; !strings.Contains(out.String(), want) {
		t.Errorf("want %q, have %q", want, out.String())
	}
	if n := f.count(); n != 0 {
		t.Errorf("the supervisor saw %d requests", n)
	}
}

// TestHelperCall is not a test: TestServeRefusesOtherUser runs it as
// another user to call the socket at $PROCMAN_TEST_CALL.
func TestHelperCall(t *testing.T) {
	path := os.Getenv("PROCMAN_TEST_CALL")
	if path == "" {
		return
	}
	_, err := Call(path, Request{V: 1, Op: "ps"}, deadline)
	fmt.Printf("call: %v\n", err)
}

func TestListenLive(t *testing.T) {
	s, _ := serveFake(t)
	_, err := Listen(s.Path())
	var inUse *InUseError
	if !errors.As(err, &inUse) || inUse.Path != s.Path() {
		t.Fatalf("want an *InUseError, have %v", err)
	}
	if resp := call(t, s.Path(), Request{V: 1, Op: "ps"}); len(resp.Instances) != 2 {
		t.Errorf("the first server no longer answers: %+v", resp)
	}
}

// staleSocket leaves a socket file at path with nothing listening, as a
// procman killed with SIGKILL does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
}

func TestListenReplacesStale(t *testing.T) {
	path := sockPath(t)
	staleSocket(t, path)
	if _, err := Call(path, Request{V: 1, Op: "ps"}, deadline); !errors.Is(err, ErrNotRunning) {
		t.Errorf("stale socket: want ErrNotRunning, have %v", err)
	}
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Close()
	stop := make(chan struct{})
	defer close(stop)
	go (&fake{}).run(s.Asks(), stop)
	if resp := call(t, path, Request{V: 1, Op: "ps"}); len(resp.Instances) != 2 {
		t.Errorf("ps on the new socket: %+v", resp)
	}
}

func TestListenLeavesOtherFiles(t *testing.T) {
	path := sockPath(t)
	if err := os.WriteFile(path, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("want an error, have %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "mine" {
		t.Errorf("the file was touched")
	}
}

func TestListenLongPath(t *testing.T) {
	path := "/tmp/" + strings.Repeat("x", 120) + "/s.sock"
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Errorf("want a too-long error, have %v", err)
	}
}

// Of many procmans starting at once in one place, exactly one listens.
func TestListenRace(t *testing.T) {
	path := sockPath(t)
	staleSocket(t, path)
	const n = 8
	servers := make(chan *Server, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			s, err := Listen(path)
			if err != nil {
				errs <- err
				return
			}
			go s.Serve()
			servers <- s
		})
	}
	wg.Wait()
	close(servers)
	close(errs)
	if len(servers) != 1 {
		t.Errorf("want one server, have %d", len(servers))
	}
	for err := range errs {
		var inUse *InUseError
		if !errors.As(err, &inUse) {
			t.Errorf("want an *InUseError, have %v", err)
		}
	}
	for s := range servers {
		s.Close()
	}
}

// Close removes the socket only if it is still the one it made.
func TestCloseKeepsReplacedSocket(t *testing.T) {
	path := sockPath(t)
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	staleSocket(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("Close removed a socket that was not its own: %v", err)
	}
}

func TestCallNotRunning(t *testing.T) {
	path := sockPath(t)
	if _, err := Call(path, Request{V: 1, Op: "ps"}, deadline); !errors.Is(err, ErrNotRunning) {
		t.Errorf("no socket: want ErrNotRunning, have %v", err)
	}
}

// A server that replies in another version is not misread.
func TestCallOtherVersion(t *testing.T) {
	path := replyOnce(t, []byte(`{"v":2,"ok":true,"things":[]}`+"\n"))
	if _, err := Call(path, Request{V: 1, Op: "ps"}, deadline); err == nil || !strings.Contains(err.Error(), "protocol version 2") {
		t.Errorf("want a version error, have %v", err)
	}
}

// Close ends a Serve that waits for a connection, having served one
// already, and the socket is gone.
func TestCloseEndsIdleServe(t *testing.T) {
	path := sockPath(t)
	s, served := serveAt(t, path)
	stop := make(chan struct{})
	defer close(stop)
	go (&fake{}).run(s.Asks(), stop)
	call(t, path, Request{V: 1, Op: "ps"})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(deadline):
		t.Fatal("Serve did not return after Close")
	}
	if _, err := Call(path, Request{V: 1, Op: "ps"}, deadline); !errors.Is(err, ErrNotRunning) {
		t.Errorf("after Close: want ErrNotRunning, have %v", err)
	}
}

// A server that takes the request and never answers costs the client its
// timeout, with the message procman has always given.
func TestCallReplyTimeout(t *testing.T) {
	path := sockPath(t)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	hold := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			hold <- c // open and silent until the test ends
		}
	}()
	defer func() {
		select {
		case c := <-hold:
			c.Close()
		default:
		}
	}()
	_, err = Call(path, Request{V: 1, Op: "ps"}, 300*time.Millisecond)
	if err == nil || err.Error() != "read reply: i/o timeout" || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("want read reply: i/o timeout, have %v", err)
	}
}

// serveAt listens on path and serves in the background; Serve's result
// arrives on served.
func serveAt(t *testing.T, path string) (s *Server, served chan error) {
	t.Helper()
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	served = make(chan error, 1)
	go func() { served <- s.Serve() }()
	return s, served
}

// Another user (anyone who can read the directory) holding a lock on it
// delays Listen by at most lockWait: procman starts all the same.
func TestListenDoesNotWaitForeverOnTheDirectoryLock(t *testing.T) {
	dir := t.TempDir()
	holder, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if err := unix.Flock(int(holder.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		s, err := Listen(filepath.Join(dir, SocketName))
		if err == nil {
			s.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Listen: %v", err)
		}
	case <-time.After(deadline):
		t.Fatal("Listen still waits for a lock someone else holds")
	}
}

// replyOnce listens on a new socket, and to the first client that sends a
// request line it writes reply and closes; it returns the socket's path.
func replyOnce(t *testing.T, reply []byte) string {
	t.Helper()
	path := sockPath(t)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		bufio.NewReader(c).ReadBytes('\n')
		c.Write(reply)
	}()
	return path
}
