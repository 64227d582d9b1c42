//go:build linux && !procman_portable

package supervisor

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The kernel's sock_diag interface (<linux/inet_diag.h>), which x/sys/unix
// does not declare for inet sockets.
const (
	tcpListen       = 10 // TCP_LISTEN, the state the dump asks for
	sizeofDiagReq   = 56 // struct inet_diag_req_v2
	sizeofDiagMsg   = 72 // struct inet_diag_msg
	diagSportOffset = 4  // idiag_sport (big-endian) in inet_diag_msg
	diagSrcOffset   = 8  // idiag_src[4] (big-endian words) in inet_diag_msg
	diagInodeOffset = 68 // idiag_inode in inet_diag_msg
)

// diagBufs holds the receive buffer of diagListening: a probe round runs
// it several times a second at first, and a new buffer each time was most
// of what procman allocated while idle.
var diagBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// diagListening asks the kernel, through a NETLINK_SOCK_DIAG dump limited
// to the LISTEN state, for the ports of listening TCP sockets bound to a
// loopback or wildcard address, IPv4 and IPv6.
func diagListening() (listeners, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	defer unix.Close(fd)
	buf := diagBufs.Get().(*[]byte)
	defer diagBufs.Put(buf)
	ports := make(listeners)
	if err := diagDump(fd, unix.AF_INET, ports, *buf); err != nil {
		return nil, err
	}
	// A kernel without IPv6 answers the AF_INET6 dump with an error; its
	// IPv4 answer is complete.
	diagDump(fd, unix.AF_INET6, ports, *buf)
	return ports, nil
}

func diagDump(fd int, family uint8, ports listeners, buf []byte) error {
	req := make([]byte, unix.SizeofNlMsghdr+sizeofDiagReq)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	body := req[unix.SizeofNlMsghdr:]
	body[0], body[1] = family, unix.IPPROTO_TCP
	ne.PutUint32(body[4:], 1<<tcpListen)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sock_diag: %w", err)
	}
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("sock_diag: %w", err)
		}
		done, err := addDiagMessages(buf[:n], family, ports)
		if err != nil || done {
			return err
		}
	}
}

// addDiagMessages adds the ports of one netlink datagram of a sock_diag
// dump for family to ports; done is true at the dump's end.
func addDiagMessages(b []byte, family uint8, ports listeners) (done bool, err error) {
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return false, fmt.Errorf("sock_diag: %w", err)
	}
	for _, m := range msgs {
		switch m.Header.Type {
		case unix.NLMSG_DONE:
			return true, nil
		case unix.NLMSG_ERROR:
			if len(m.Data) >= 4 {
				if errno := -int32(binary.NativeEndian.Uint32(m.Data)); errno != 0 {
					return true, fmt.Errorf("sock_diag: %w", syscall.Errno(errno))
				}
			}
			return true, errors.New("sock_diag: malformed error")
		case unix.SOCK_DIAG_BY_FAMILY:
			d := m.Data
			if len(d) < sizeofDiagMsg || d[0] != family {
				continue
			}
			if reachable(family, d[diagSrcOffset:diagSrcOffset+16]) {
				port := int(binary.BigEndian.Uint16(d[diagSportOffset:]))
				ports[port] = append(ports[port], uint64(binary.NativeEndian.Uint32(d[diagInodeOffset:])))
			}
		}
	}
	return false, nil
}

// reachable reports whether a socket bound to src (idiag_src: the first 4
// bytes for IPv4, all 16 for IPv6) accepts connections to loopback: a
// wildcard, 127.0.0.0/8, ::1 or an IPv4-mapped 127.x address.
func reachable(family uint8, src []byte) bool {
	if family == unix.AF_INET {
		return src[0] == 127 || allZero(src[:4])
	}
	if allZero(src) {
		return true
	}
	if allZero(src[:15]) && src[15] == 1 {
		return true
	}
	mapped := allZero(src[:10]) && src[10] == 0xff && src[11] == 0xff
	return mapped && (src[12] == 127 || allZero(src[12:]))
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// listeningPorts returns the listening sockets of this network namespace
// on loopback or wildcard addresses, from netlink or else from /proc;
// known is false when neither can be read.
func listeningPorts() (ports listeners, known bool) {
	if ports, err := diagListening(); err == nil {
		return ports, true
	}
	ports = make(listeners)
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(name)
		if err != nil {
			if name == "/proc/net/tcp" {
				return nil, false
			}
			continue // no IPv6
		}
		addListening(f, ports)
		f.Close()
	}
	return ports, true
}

// addListening adds the LISTEN (state 0A) rows of a /proc/net/tcp table
// ("sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout
// inode ...", the local address as HEXIP:HEXPORT) to ports.
func addListening(r io.Reader, ports listeners) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := bytes.Fields(sc.Bytes())
		if len(fields) < 4 || string(fields[3]) != "0A" {
			continue
		}
		local := fields[1]
		i := bytes.LastIndexByte(local, ':')
		if i < 0 {
			continue
		}
		port, err := strconv.ParseUint(string(local[i+1:]), 16, 16)
		if err != nil {
			continue
		}
		var ino uint64
		if len(fields) > 9 {
			ino, _ = strconv.ParseUint(string(fields[9]), 10, 64)
		}
		ports[int(port)] = append(ports[int(port)], ino)
	}
}
