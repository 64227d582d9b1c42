package control

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestDefaultPath(t *testing.T) {
	rt := t.TempDir()
	private := filepath.Join(rt, "procman-"+strconv.Itoa(os.Getuid()))

	root := t.TempDir()
	if have, want := DefaultPath(root, rt), filepath.Join(root, SocketName); have != want {
		t.Errorf("writable root: want %s, have %s", want, have)
	}
	if have, want := DefaultPath(root+"/", rt), filepath.Join(root, SocketName); have != want {
		t.Errorf("trailing slash: want %s, have %s", want, have)
	}

	long := filepath.Join(root, strings.Repeat("d", 120))
	if err := os.Mkdir(long, 0o755); err != nil {
		t.Fatal(err)
	}
	p := DefaultPath(long, rt)
	if filepath.Dir(p) != private || !strings.HasPrefix(filepath.Base(p), "dddddddddddddddd-") ||
		!strings.HasSuffix(p, ".sock") || len(p) > maxPath {
		t.Errorf("root too long for a socket address: have %s", p)
	}
	if again := DefaultPath(long, rt); again != p {
		t.Errorf("not stable: %s, then %s", p, again)
	}
	other := filepath.Join(root, strings.Repeat("d", 119)+"e")
	if DefaultPath(other, rt) == p {
		t.Errorf("two roots share %s", p)
	}

	// A root this user cannot write to: as root, only a directory the
	// kernel itself refuses will do.
	ro := filepath.Join(root, "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		ro = "/proc/self"
	}
	if p := DefaultPath(ro, rt); filepath.Dir(p) != private {
		t.Errorf("unwritable root %s: want a path in %s, have %s", ro, private, p)
	}
	if p := DefaultPath(filepath.Join(root, "missing"), rt); filepath.Dir(p) != private {
		t.Errorf("missing root: want a path in %s, have %s", private, p)
	}
}

func TestPrivateName(t *testing.T) {
	for _, tt := range []struct{ root, prefix string }{
		{"/srv/app", "app-"},
		{"/", "_-"},
		{"/home/ann/my app!", "my_app_-"},
		{"/x/ünïcode", "_n_code-"},
		{"/x/" + strings.Repeat("a", 40), strings.Repeat("a", 16) + "-"},
	} {
		name := privateName(tt.root)
		if !strings.HasPrefix(name, tt.prefix) || len(name) != len(tt.prefix)+12+len(".sock") {
			t.Errorf("privateName(%q) = %q, want %q + 12 hex digits + .sock", tt.root, name, tt.prefix)
		}
	}
}

func TestMakePrivateDir(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "p")
	for range 2 { // creating, then finding it
		if err := MakePrivateDir(dir); err != nil {
			t.Fatal(err)
		}
		if info, err := os.Lstat(dir); err != nil || !info.IsDir() || info.Mode().Perm() != 0o700 {
			t.Fatalf("want a directory with mode 0700, have %v, %v", info.Mode(), err)
		}
	}

	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := MakePrivateDir(dir); err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Lstat(dir); info.Mode().Perm() != 0o700 {
		t.Errorf("loose mode not tightened: %v", info.Mode())
	}

	link := filepath.Join(base, "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if err := MakePrivateDir(link); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("symbolic link: want an error, have %v", err)
	}
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := MakePrivateDir(file); err == nil {
		t.Errorf("file: want an error")
	}
	if err := MakePrivateDir(filepath.Join(base, "no", "such")); err == nil {
		t.Errorf("missing parent: want an error")
	}
}

// Another user's directory is refused; only root can make one to try.
func TestMakePrivateDirOtherOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a directory to another user")
	}
	dir := filepath.Join(t.TempDir(), "p")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Skip(err)
	}
	if err := MakePrivateDir(dir); err == nil || !strings.Contains(err.Error(), "belongs to user 65534") {
		t.Errorf("want an ownership error, have %v", err)
	}
}
