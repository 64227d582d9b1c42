package supervisor

import (
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
)

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
