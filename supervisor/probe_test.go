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

func TestDialLoopback(t *testing.T) {
	l, port := listen(t, "tcp4", "127.0.0.1:0")
	if !dialLoopback(port) {
		t.Errorf("dial to listening port %d failed", port)
	}
	l.Close()
	if dialLoopback(port) {
		t.Errorf("dial to closed port %d succeeded", port)
	}
}

// A server that listens on IPv6 loopback only is ready too.
func TestDialLoopbackIPv6(t *testing.T) {
	l, port := listen(t, "tcp6", "[::1]:0")
	if !dialLoopback(port) {
		t.Errorf("dial to listening port [::1]:%d failed", port)
	}
	l.Close()
	if dialLoopback(port) {
		t.Errorf("dial to closed port [::1]:%d succeeded", port)
	}
}
