//go:build darwin || freebsd

package control

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// xucredVersion is XUCRED_VERSION from <sys/ucred.h>, the layout of struct
// xucred that unix.Xucred describes: 0 on macOS and FreeBSD. FreeBSD's
// getpeereid(3) checks it too.
const xucredVersion = 0

// peerUID returns the effective user id of the process at the other end of
// the connected unix socket fd, as the kernel recorded it at connect.
func peerUID(fd int) (int, error) {
	cred, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return -1, err
	}
	if cred.Version != xucredVersion {
		return -1, fmt.Errorf("LOCAL_PEERCRED: unknown struct xucred version %d", cred.Version)
	}
	return int(cred.Uid), nil
}
