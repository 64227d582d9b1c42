package supervisor

import (
	"net"
	"testing"
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
