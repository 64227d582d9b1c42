package control

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// SocketName is the control socket's file name in the root directory.
const SocketName = ".procman.sock"

// maxPath is the longest path a unix socket address holds: sun_path (108
// bytes on Linux, 104 on macOS and FreeBSD) less the terminating NUL.
const maxPath = len(unix.RawSockaddrUnix{}.Path) - 1

// DefaultPath returns where the procman running in root (an absolute
// directory) listens when neither --socket nor PROCMAN_SOCKET says:
// root/.procman.sock, unless root is not writable or that path is too long
// for a socket address; then a file named after root (its base name and a
// hash of its absolute path) in PrivateDir(runtimeDir). It creates
// nothing, and every procman and client computes the same path for the
// same root.
func DefaultPath(root, runtimeDir string) string {
	root = filepath.Clean(root)
	p := filepath.Join(root, SocketName)
	if len(p) <= maxPath && unix.Access(root, unix.W_OK|unix.X_OK) == nil {
		return p
	}
	return filepath.Join(PrivateDir(runtimeDir), privateName(root))
}

// PrivateDir is the directory that holds the sockets of roots procman
// cannot use: procman-UID in runtimeDir ($XDG_RUNTIME_DIR, else the temp
// directory), the UID keeping users of a shared /tmp apart.
func PrivateDir(runtimeDir string) string {
	return filepath.Join(runtimeDir, "procman-"+strconv.Itoa(os.Getuid()))
}

func privateName(root string) string {
	h := fnv.New64a()
	h.Write([]byte(root))
	sum := h.Sum64()
	base := strings.Map(func(r rune) rune {
		if r < 0x80 && validName(string(r)) || r == '.' {
			return r
		}
		return '_'
	}, filepath.Base(root))
	// Short, so that the path fits in a socket address even under a
	// long temp directory; 48 bits of hash tell one user's roots apart.
	// FNV rather than a cryptographic hash, which would pull megabytes of
	// crypto code into the binary to tell apart names no attacker picks;
	// the top 16 bits are folded into the rest, as FNV's authors advise
	// for a shorter hash.
	if len(base) > 16 {
		base = base[:16]
	}
	return fmt.Sprintf("%s-%012x.sock", base, (sum^sum>>48)&(1<<48-1))
}

// MakePrivateDir creates dir with mode 0700 if it does not exist, and
// checks that it is a real directory (not a symbolic link) of this user
// that no one else can enter, so that a socket in it is out of everyone
// else's reach even in a shared temp directory. Its mode is tightened if
// it is this user's.
func MakePrivateDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("control socket directory: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return fmt.Errorf("control socket directory: %w", err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("control socket directory %s is not a directory", dir)
	case int(st.Uid) != os.Getuid():
		return fmt.Errorf("control socket directory %s belongs to user %d, not to you", dir, st.Uid)
	case st.Mode&0o077 != 0:
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("control socket directory: %w", err)
		}
	}
	return nil
}
