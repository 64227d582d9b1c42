//go:build linux && !procman_portable

package supervisor

import (
	"context"
	"encoding/binary"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// diagMsg builds one netlink message of a sock_diag dump: a listening
// socket of family bound to src:port, or a DONE or ERROR message.
func diagMsg(typ uint16, family uint8, src []byte, port uint16, errno int32) []byte {
	return diagMsgInode(typ, family, src, port, errno, uint32(port)+1000)
}

func diagMsgInode(typ uint16, family uint8, src []byte, port uint16, errno int32, inode uint32) []byte {
	var body []byte
	switch typ {
	case unix.SOCK_DIAG_BY_FAMILY:
		body = make([]byte, sizeofDiagMsg)
		body[0], body[1] = family, tcpListen
		binary.BigEndian.PutUint16(body[diagSportOffset:], port)
		copy(body[diagSrcOffset:], src)
		binary.NativeEndian.PutUint32(body[diagInodeOffset:], inode)
	case unix.NLMSG_ERROR:
		body = make([]byte, 4+unix.SizeofNlMsghdr)
		binary.NativeEndian.PutUint32(body, uint32(-errno))
	case unix.NLMSG_DONE:
		body = make([]byte, 4)
	}
	m := make([]byte, unix.SizeofNlMsghdr+len(body))
	binary.NativeEndian.PutUint32(m, uint32(len(m)))
	binary.NativeEndian.PutUint16(m[4:], typ)
	copy(m[unix.SizeofNlMsghdr:], body)
	return m
}

func v6(s string) []byte { return net.ParseIP(s).To16() }

func TestAddDiagMessages(t *testing.T) {
	v4 := func(a, b, c, d byte) []byte { return []byte{a, b, c, d} }
	tests := []struct {
		name     string
		family   uint8
		msgs     [][]byte
		want     []int
		wantDone bool
		wantErr  bool
	}{
		{"loopback and wildcard", unix.AF_INET, [][]byte{
			diagMsg(unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET, v4(127, 0, 0, 1), 5000, 0),
			diagMsg(unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET, v4(0, 0, 0, 0), 5100, 0),
			diagMsg(unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET, v4(127, 0, 1, 2), 5200, 0),
		}, []int{5000, 5100, 5200}, false, false},
		{"other address not reachable on loopback", unix.AF_INET, [][]byte{
			diagMsg(unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET, v4(10, 0, 0, 7), 5000, 0),
		}, nil, false, false},
		{"ipv6", unix.AF_INET6, [][]byte{
			diagMsg(unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET6, v6("::"), 6000, 0),
			diagMsg(unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET6, v6("::1"), 6001, 0),
			diagMsg(unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET6, v6("::ffff:127.0.0.1"), 6002, 0),
			diagMsg(unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET6, v6("fe80::1"), 6003, 0),
			diagMsg(unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET6, v6("::ffff:10.0.0.1"), 6004, 0),
		}, []int{6000, 6001, 6002}, false, false},
		{"other family ignored", unix.AF_INET6, [][]byte{
			diagMsg(unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET, v4(127, 0, 0, 1), 5000, 0),
		}, nil, false, false},
		{"done ends the dump", unix.AF_INET, [][]byte{
			diagMsg(unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET, v4(127, 0, 0, 1), 5000, 0),
			diagMsg(unix.NLMSG_DONE, 0, nil, 0, 0),
			diagMsg(unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET, v4(127, 0, 0, 1), 5001, 0),
		}, []int{5000}, true, false},
		{"error", unix.AF_INET6, [][]byte{
			diagMsg(unix.NLMSG_ERROR, 0, nil, 0, int32(unix.EAFNOSUPPORT)),
		}, nil, true, true},
		{"truncated", unix.AF_INET, [][]byte{
			diagMsg(unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET, v4(127, 0, 0, 1), 5000, 0)[:30],
		}, nil, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b []byte
			for _, m := range tt.msgs {
				b = append(b, m...)
			}
			ports := make(listeners)
			done, err := addDiagMessages(b, tt.family, ports)
			if done != tt.wantDone || (err != nil) != tt.wantErr {
				t.Errorf("done %v, err %v; want done %v, error %v", done, err, tt.wantDone, tt.wantErr)
			}
			if len(ports) != len(tt.want) {
				t.Errorf("ports %v, want %v", ports, tt.want)
			}
			for _, p := range tt.want {
				if !slices.Equal(ports[p], []uint64{uint64(p) + 1000}) {
					t.Errorf("port %d: want inode %d, have %v", p, p+1000, ports[p])
				}
			}
		})
	}
}

func FuzzAddDiagMessages(f *testing.F) {
	f.Add(diagMsg(unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET, []byte{127, 0, 0, 1}, 5000, 0), uint8(unix.AF_INET))
	f.Add(diagMsg(unix.SOCK_DIAG_BY_FAMILY, unix.AF_INET6, v6("::1"), 5000, 0), uint8(unix.AF_INET6))
	f.Add(diagMsg(unix.NLMSG_ERROR, 0, nil, 0, 2), uint8(unix.AF_INET))
	f.Add(diagMsg(unix.NLMSG_DONE, 0, nil, 0, 0), uint8(unix.AF_INET))
	f.Fuzz(func(t *testing.T, b []byte, family uint8) {
		addDiagMessages(b, family, make(listeners))
	})
}

// The kernel's real answer names the test's own listeners on loopback and
// wildcard addresses, and forgets one once it is closed.
func TestDiagListeningSeesRealListeners(t *testing.T) {
	if _, err := diagListening(); err != nil {
		t.Skipf("no sock_diag here: %v", err)
	}
	for _, tc := range []struct{ network, addr string }{
		{"tcp4", "127.0.0.1:0"}, {"tcp4", "0.0.0.0:0"}, {"tcp6", "[::1]:0"}, {"tcp6", "[::]:0"},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			l, port := listen(t, tc.network, tc.addr)
			ports, err := diagListening()
			if err != nil {
				t.Fatal(err)
			}
			if ino := inode(t, l); !slices.Equal(ports[port], []uint64{ino}) {
				t.Fatalf("listening port %d: want socket inode %d, have %v", port, ino, ports[port])
			}
			l.Close()
			if ports, err = diagListening(); err != nil {
				t.Fatal(err)
			}
			if len(ports[port]) > 0 {
				t.Errorf("closed port %d still listed", port)
			}
		})
	}
}

// A socket bound to an address other than loopback does not accept
// connections to 127.0.0.1, so it does not make a process ready.
func TestDiagListeningSkipsOtherAddresses(t *testing.T) {
	if _, err := diagListening(); err != nil {
		t.Skipf("no sock_diag here: %v", err)
	}
	addrs, _ := net.InterfaceAddrs()
	var ip net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			ip = n.IP
			break
		}
	}
	if ip == nil {
		t.Skip("no non-loopback IPv4 address here")
	}
	_, port := listen(t, "tcp4", net.JoinHostPort(ip.String(), "0"))
	ports, err := diagListening()
	if err != nil {
		t.Fatal(err)
	}
	if len(ports[port]) > 0 {
		t.Errorf("port %d on %s counted as reachable on loopback", port, ip)
	}
}

// inode returns the inode of a listener's socket, as sock_diag names it.
func inode(t *testing.T, l net.Listener) uint64 {
	t.Helper()
	raw, err := l.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	return st.Ino
}

// reusePort listens on 127.0.0.1:port with SO_REUSEPORT, so that a second
// socket can listen on the same port, as a process started while another
// program holds its port would if both allowed it.
func reusePort(t *testing.T, port int) net.Listener {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
		if err != nil {
			return err
		}
		return serr
	}}
	l, err := lc.Listen(context.Background(), "tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// A listener that was there before a process started (another program's)
// does not make the process ready; a second socket on the same port does.
func TestRoundIgnoresForeignListeners(t *testing.T) {
	if _, err := diagListening(); err != nil {
		t.Skipf("no sock_diag here: %v", err)
	}
	foreign := reusePort(t, 0)
	port := foreign.Addr().(*net.TCPAddr).Port
	s := &supervisor{wake: make(chan func(), 1), quit: make(chan struct{})}
	pr := &prober{s: s, wake: make(chan struct{}, 1), targets: make(map[*proc]probeTarget)}
	p := &proc{Process: Process{Label: "web.1", Port: port}, gen: 1, started: time.Now()}
	before, _ := listeningPorts()
	p.foreign = before[port]
	if len(p.foreign) != 1 || p.foreign[0] != inode(t, foreign) {
		t.Fatalf("foreign sockets on %d: have %v, want the test's listener", port, p.foreign)
	}
	pr.watch(p)
	pr.round()
	select {
	case <-s.wake:
		t.Fatal("ready with only another program listening on its port")
	default:
	}
	own := reusePort(t, port)
	pr.round()
	select {
	case <-s.wake:
	default:
		t.Fatalf("not ready although a socket of its own (inode %d) listens on %d", inode(t, own), port)
	}
}

func TestAddListening(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:13EC 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1389 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 20 4 30 10 -1
`
	tcp6 := `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0000000000000000 100 0 0 10 0
`
	ports := make(listeners)
	addListening(strings.NewReader(table), ports)
	addListening(strings.NewReader(tcp6), ports)
	want := listeners{5000: {1}, 5100: {2}, 8080: {4}}
	if !maps.EqualFunc(ports, want, slices.Equal) {
		t.Errorf("want %v, have %v", want, ports)
	}
}

// The kernel's own table names a socket procman's test opens.
func TestListeningPortsSeesARealListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	ports, known := listeningPorts()
	if !known {
		t.Skip("no /proc/net/tcp here")
	}
	if len(ports[port]) == 0 {
		t.Errorf("listening port %d not found", port)
	}
}
