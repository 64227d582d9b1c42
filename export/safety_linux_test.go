package export

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/procman/procman/procfile"
	"golang.org/x/sys/unix"
)

// mountTmpfs mounts a tmpfs of size bytes on a fresh directory, for a real
// full disk, and unmounts it after the test. It skips the test where that
// is not allowed.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a full disk needs a small tmpfs, and mounting one needs root")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0755"); err != nil {
		t.Skipf("cannot mount a tmpfs (a container without CAP_SYS_ADMIN?): %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// Apps that do not fit on a 64 KiB tmpfs, where each file takes at least a
// 4 KiB page: one with a config value larger than the disk, so that the
// first file that carries it fails, and one with so many instances that
// the disk fills halfway through.
var tooLarge = []struct {
	name   string
	change func(*App)
}{
	{"a large config value", func(a *App) { a.Config = map[string]string{"BLOB": strings.Repeat("x", 80<<10)} }},
	{"many instances", func(a *App) {
		web := a.Instances[0]
		a.Instances = nil
		for n := 1; n <= 40; n++ {
			web.Num = n
			web.Port = 5000 + n - 1
			a.Instances = append(a.Instances, web)
		}
	}},
}

// TestFailedFirstExportLeavesNothing: an export that fills the disk leaves
// no file, no staging directory, and no export directory that it created.
func TestFailedFirstExportLeavesNothing(t *testing.T) {
	for _, format := range Formats() {
		for _, big := range tooLarge {
			t.Run(format+"/"+big.name, func(t *testing.T) {
				if (format == "kubernetes" || format == "supervisord") && big.name == "many instances" {
					t.Skipf("%s writes no file per instance", format)
				}
				disk := mountTmpfs(t, "64k")
				app := accApp(t)
				big.change(&app)
				for _, out := range []string{disk, filepath.Join(disk, "a", "out")} {
					err := Write(format, out, app, "")
					if !errors.Is(err, syscall.ENOSPC) || strings.Contains(err.Error(), "\n") {
						t.Fatalf("export into %s: have %v, want one line that wraps ENOSPC", out, err)
					}
					if left := listTree(t, disk); left != "dir  . 0755" {
						t.Errorf("export into %s left:\n%s", out, left)
					}
				}
			})
		}
	}
}

// TestFailedReexportLeavesTheOldExport: an export that fills the disk
// leaves the last export exactly as it was, its manifest included.
func TestFailedReexportLeavesTheOldExport(t *testing.T) {
	for _, format := range Formats() {
		for _, big := range tooLarge {
			t.Run(format+"/"+big.name, func(t *testing.T) {
				if (format == "kubernetes" || format == "supervisord") && big.name == "many instances" {
					t.Skipf("%s writes no file per instance", format)
				}
				disk := mountTmpfs(t, "64k")
				out := filepath.Join(disk, "out")
				small := releaseless(accApp(t), 1)
				if err := Write(format, out, small, ""); err != nil {
					t.Fatal(err)
				}
				before := listTree(t, disk)
				app := accApp(t)
				big.change(&app)
				err := Write(format, out, app, "")
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("have %v, want ENOSPC", err)
				}
				if after := listTree(t, disk); after != before {
					t.Errorf("the last export changed:\nbefore:\n%s\nafter:\n%s", before, after)
				}
				// And a re-export that fits beside the old one still works.
				small.Grace = 3e9
				if err := Write(format, out, small, ""); err != nil {
					t.Errorf("a re-export that fits: %v", err)
				}
				if listTree(t, disk) == before {
					t.Errorf("a re-export that fits changed nothing")
				}
				checkNoStaging(t, out)
			})
		}
	}
}

// immutable makes a file immutable (chattr +i), so that no rename or link
// can move or replace it, not even root's; it skips the test where the file
// system or the user cannot.
func immutable(t *testing.T, path string) {
	t.Helper()
	if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
		t.Skipf("cannot make %s immutable (needs chattr, root and a file system that supports it): %v %s", path, err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", path).Run() })
}

// TestFailedSwitchRestoresTheOldExport: when the switch from the old files
// to the new ones fails halfway, here on a file the administrator made
// immutable, the files already switched are switched back, and the stale
// ones already moved out are moved back.
func TestFailedSwitchRestoresTheOldExport(t *testing.T) {
	tests := []struct {
		name      string
		immutable string       // fails the switch
		change    func(a *App) // the re-export
	}{
		{"replacing a file", "acc-worker-1.service", func(a *App) { a.Grace = 3e9 }},
		{"removing a stale file", "acc-worker-1.service", func(a *App) { *a = releaseless(*a, 1); a.Grace = 3e9 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			app := releaseless(accApp(t), 3)
			if err := Write("systemd", out, app, ""); err != nil {
				t.Fatal(err)
			}
			before := listTree(t, out)
			web1, err := os.Stat(filepath.Join(out, "acc-web-1.service"))
			if err != nil {
				t.Fatal(err)
			}
			immutable(t, filepath.Join(out, tt.immutable))

			tt.change(&app)
			err = Write("systemd", out, app, "")
			if !errors.Is(err, syscall.EPERM) || !strings.Contains(err.Error(), tt.immutable) {
				t.Fatalf("have %v, want EPERM for %s", err, tt.immutable)
			}
			if after := listTree(t, out); after != before {
				t.Errorf("the last export changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			// acc-web-1.service was switched before the failure: the very
			// same file is back, not a copy.
			if again, err := os.Stat(filepath.Join(out, "acc-web-1.service")); err != nil || !os.SameFile(web1, again) {
				t.Errorf("acc-web-1.service is not the old file (%v)", err)
			}
		})
	}
}

// releaseless returns app without its release phase, and with only the
// first n other instances.
func releaseless(app App, n int) App {
	var ins []procfile.Instance
	for _, in := range app.Instances {
		if in.Name != procfile.Release && len(ins) < n {
			ins = append(ins, in)
		}
	}
	app.Instances = ins
	return app
}
