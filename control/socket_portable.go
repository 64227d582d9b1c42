//go:build !linux || procman_portable

package control

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// socket returns a new unix stream socket, non-blocking and close-on-exec.
// Without Linux's SOCK_CLOEXEC the descriptor is created and marked under
// syscall.ForkLock, as package net does on macOS, so that no child forked
// in between inherits it.
func socket() (int, error) {
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// accept takes a connection off the listening socket fd, non-blocking and
// close-on-exec. op names the system call that failed. The lock is held
// across accept itself, which package net does not dare (its listener may
// have been made blocking by a call to Fd): the server never calls Fd on
// its listener, so accept cannot block here.
func accept(fd int) (nfd int, op string, err error) {
	syscall.ForkLock.RLock()
	nfd, _, err = unix.Accept(fd)
	if err == nil {
		unix.CloseOnExec(nfd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, "accept", err
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, "setnonblock", err
	}
	return nfd, "", nil
}

// bindListen binds fd to path, makes the file 0600 and listens on it.
// macOS and FreeBSD create a socket file with mode 0777 less the umask and
// refuse fchmod on a socket, and the umask is the whole process's (other
// goroutines' files and children would see a change). So the socket is
// bound in a new directory beside path that only this user can enter, made
// 0600 and listening there, and then linked to path: the file at path is
// private and live from the moment it exists. A link, unlike a rename,
// fails when path exists, as bind does.
func bindListen(fd int, path string) (fileID, error) {
	// "." and at most ten digits, then "/s": no longer than
	// ".procman.sock", so that a default path that fits fits here too.
	dir, err := os.MkdirTemp(filepath.Dir(path), ".")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the directory's error, as bind gives it
		}
		return fileID{}, fmt.Errorf("control socket %s: %w", path, err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	if len(tmp) > maxPath {
		return fileID{}, fmt.Errorf("control socket path %s is too long for a unix socket: it is created as %s first (%d bytes, at most %d)", path, tmp, len(tmp), maxPath)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: tmp}); err != nil {
		return fileID{}, fmt.Errorf("control socket %s: %w", path, err)
	}
	err = os.Chmod(tmp, 0o600)
	if err == nil {
		err = listen(fd)
	}
	if err != nil {
		return fileID{}, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := unix.Link(tmp, path); err != nil {
		return fileID{}, bindError(path, err)
	}
	id, _, err := lstatID(path)
	if err != nil {
		os.Remove(path)
		return fileID{}, fmt.Errorf("control socket %s: %w", path, err)
	}
	return id, nil
}
