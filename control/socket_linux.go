//go:build linux && !procman_portable

package control

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// socket returns a new unix stream socket, non-blocking and close-on-exec
// from the start.
func socket() (int, error) {
	return unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
}

// accept takes a connection off the listening socket fd, non-blocking and
// close-on-exec from the start. op names the system call that failed.
func accept(fd int) (nfd int, op string, err error) {
	nfd, _, err = unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	return nfd, "accept4", err
}

// bindListen binds fd to path, makes the file 0600 and listens on it.
// Linux creates the socket file with the mode of the socket's inode, less
// the umask. Setting that mode first means the file never exists with a
// wider one, without touching the process-wide umask (which other
// goroutines' files and children would see).
func bindListen(fd int, path string) (fileID, error) {
	if err := unix.Fchmod(fd, 0o600); err != nil {
		return fileID{}, fmt.Errorf("control socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return fileID{}, bindError(path, err)
	}
	id, perm, err := lstatID(path)
	if err == nil && perm&0o077 != 0 {
		// A kernel that ignored the fchmod: nobody can have connected
		// yet, as nothing listens.
		err = os.Chmod(path, 0o600)
	}
	if err == nil {
		err = listen(fd)
	}
	if err != nil {
		os.Remove(path)
		return fileID{}, fmt.Errorf("control socket %s: %w", path, err)
	}
	return id, nil
}
