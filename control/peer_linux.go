package control

import "golang.org/x/sys/unix"

// peerUID returns the effective user id of the process at the other end of
// the connected unix socket fd, as the kernel recorded it at connect.
func peerUID(fd int) (int, error) {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return -1, err
	}
	return int(cred.Uid), nil
}
