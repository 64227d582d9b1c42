package export

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// Exports get committed to repositories, and export often runs as root, so
// the export directory may hold links that someone else planted. Every
// change Write makes is one *at call with a single name on a directory
// handle of this file's kind: the export directory as the user named it,
// or a directory below it opened one name at a time without following a
// link. So nothing Write does can reach outside the export directory, even
// if a link appears there while it runs.
//
// os.Root would give the same containment against links that leave the
// directory, but it follows links that stay inside it: a planted
// APP-web-1 -> other-app-web-1 would make an export write into another
// app's files. A link anywhere export writes or deletes is refused instead,
// which os.Root cannot express.

// A dir is an open directory handle.
type dir struct {
	fd   int
	path string // for messages only; never used to reach the directory
}

// openRoot opens the export directory as named: a link in that path is the
// user's own, as on macOS, where /tmp and /etc are links.
func openRoot(path string) (*dir, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return &dir{fd, path}, nil
}

func (d *dir) close() { unix.Close(d.fd) }

func (d *dir) join(name string) string { return filepath.Join(d.path, name) }

// A kind is what a name in a directory is, the link itself and not what
// it points to.
type kind int

const (
	absent kind = iota
	regular
	directory
	symlink
	special // a FIFO, socket or device: replaced or removed like a file
)

func (d *dir) kind(name string) (kind, error) {
	var st unix.Stat_t
	err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return absent, nil
	}
	if err != nil {
		return absent, err
	}
	switch uint32(st.Mode) & unix.S_IFMT {
	case unix.S_IFREG:
		return regular, nil
	case unix.S_IFDIR:
		return directory, nil
	case unix.S_IFLNK:
		return symlink, nil
	}
	return special, nil
}

// A linkError is a symbolic link where export would write, replace, read or
// delete. It unwraps to ELOOP: like any other refusal of the file system,
// it is no fault of the command line.
type linkError struct{ path string }

func (e *linkError) Error() string {
	return e.path + " is a symbolic link, and export follows no link inside the export directory and replaces none"
}

func (e *linkError) Unwrap() error { return syscall.ELOOP }

// openDir opens the directory name in d without following a link: a link
// there is a *linkError, whatever it points to.
func (d *dir) openDir(name string) (*dir, error) {
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		// Linux and macOS say ELOOP for a link, FreeBSD EMLINK, and
		// O_DIRECTORY may win with ENOTDIR.
		if k, kerr := d.kind(name); kerr == nil && k == symlink {
			return nil, &linkError{d.join(name)}
		}
		return nil, err
	}
	return &dir{fd, d.join(name)}, nil
}

// mkdir creates the directory name in d and opens it.
func (d *dir) mkdir(name string, perm uint32) (*dir, error) {
	if err := unix.Mkdirat(d.fd, name, perm); err != nil {
		return nil, err
	}
	return d.openDir(name)
}

// create writes a new file name in d, which must not exist, with exactly
// mode (the umask does not apply), and flushes it to the disk, so that it
// is whole once it has been renamed into place, even after a crash.
func (d *dir) create(name string, mode fs.FileMode, data []byte) error {
	fd, err := unix.Openat(d.fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), d.join(name))
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readFile reads the regular file name in d, and refuses a link or
// anything else that is not a regular file (a FIFO would block).
func (d *dir) readFile(name string) ([]byte, error) {
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if k, kerr := d.kind(name); kerr == nil && k == symlink {
			return nil, &linkError{d.join(name)}
		}
		return nil, err
	}
	f := os.NewFile(uintptr(fd), d.join(name))
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file: %w", syscall.EINVAL)
	}
	return io.ReadAll(f)
}

// rename moves from/fromName to to/toName, replacing what is there (a
// rename never follows a link at either end).
func rename(from *dir, fromName string, to *dir, toName string) error {
	return unix.Renameat(from.fd, fromName, to.fd, toName)
}

// link makes to/toName a second name of from/fromName, without following
// a link.
func link(from *dir, fromName string, to *dir, toName string) error {
	return unix.Linkat(from.fd, fromName, to.fd, toName, 0)
}

func (d *dir) remove(name string) error { return unix.Unlinkat(d.fd, name, 0) }

func (d *dir) rmdir(name string) error { return unix.Unlinkat(d.fd, name, unix.AT_REMOVEDIR) }

// removeAll removes name in d and, if it is a directory, everything in it,
// without following a link.
func (d *dir) removeAll(name string) error {
	k, err := d.kind(name)
	switch {
	case err != nil:
		return err
	case k == absent:
		return nil
	case k != directory:
		return d.remove(name)
	}
	sub, err := d.openDir(name)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(sub.fd), sub.path) // closes sub.fd
	entries, err := f.ReadDir(-1)
	for _, e := range entries {
		if rerr := sub.removeAll(e.Name()); err == nil {
			err = rerr
		}
	}
	f.Close()
	if err != nil {
		return err
	}
	return d.rmdir(name)
}
