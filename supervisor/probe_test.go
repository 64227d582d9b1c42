package supervisor

import (
	"net"
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
	ports := make(map[int]bool)
	addListening(strings.NewReader(table), ports)
	addListening(strings.NewReader(tcp6), ports)
	want := map[int]bool{5000: true, 5100: true, 8080: true}
	if len(ports) != len(want) {
		t.Errorf("want ports %v, have %v", want, ports)
	}
	for p := range want {
		if !ports[p] {
			t.Errorf("port %d missing from %v", p, ports)
		}
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
	if !ports[port] {
		t.Errorf("listening port %d not found", port)
	}
}
