package supervisor

import (
	"net"
	"slices"
	"testing"
	"time"
)

// listen opens a TCP listener on addr, or skips the test where the
// machine has no such address.
func listen(t *testing.T, network, addr string) (net.Listener, int) {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { l.Close() })
	return l, l.Addr().(*net.TCPAddr).Port
}

// A server is ready once it listens on IPv4 or IPv6 loopback, and not
// once it has closed.
func TestDialLoopback(t *testing.T) {
	for _, tt := range []struct{ network, addr string }{
		{"tcp4", "127.0.0.1:0"},
		{"tcp6", "[::1]:0"},
	} {
		t.Run(tt.network, func(t *testing.T) {
			l, port := listen(t, tt.network, tt.addr)
			if !dialLoopback(port) {
				t.Errorf("dial to listening port %d failed", port)
			}
			l.Close()
			if dialLoopback(port) {
				t.Errorf("dial to closed port %d succeeded", port)
			}
		})
	}
}

// Where ports are dialled (the portable implementation), each is dialled
// on a backoff of its own from its process's start: a round made soon
// after another, as each new process makes one, does not dial again a
// port dialled a moment ago, and the dials grow apart up to probeMax.
func TestDialBackoff(t *testing.T) {
	var dials []time.Duration
	start := time.Unix(1000, 0)
	var at time.Duration
	pr := &prober{targets: make(map[*proc]probeTarget), dial: func(port int) bool {
		if port != 5000 {
			t.Errorf("dialled port %d, want 5000", port)
		}
		dials = append(dials, at)
		return false
	}}
	p := &proc{gen: 3, Process: Process{Port: 5000}}
	pr.targets[p] = probeTarget{gen: 3, port: 5000, since: start, dialAt: start.Add(dialFirst), dialEvery: dialFirst}
	// A round every 5 ms for 10 s, as if processes kept starting.
	for at = 0; at <= 10*time.Second; at += 5 * time.Millisecond {
		if pr.dialDue(p, pr.targets[p], start.Add(at)) {
			t.Fatalf("dialDue reported a refused dial as accepted")
		}
	}
	ms := time.Millisecond
	want := []time.Duration{50 * ms, 150 * ms, 350 * ms, 750 * ms, 1550 * ms, 2550 * ms}
	for next := 3550 * ms; next <= 10*time.Second; next += time.Second {
		want = append(want, next)
	}
	if !slices.Equal(dials, want) {
		t.Errorf("dials at %v, want %v", dials, want)
	}

	// A target of an earlier start (the process was restarted) is not
	// updated by a dial made for it.
	pr.targets[p] = probeTarget{gen: 4, port: 5000, since: start, dialAt: start, dialEvery: probeFirst}
	old := probeTarget{gen: 3, port: 5000, since: start, dialAt: start, dialEvery: probeFirst}
	pr.dialDue(p, old, start)
	if got := pr.targets[p]; got.gen != 4 || !got.dialAt.Equal(start) {
		t.Errorf("a dial for generation 3 changed generation 4's target: %+v", got)
	}
}
