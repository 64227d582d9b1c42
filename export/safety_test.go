package export

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// These tests plant real symbolic links in a real export directory, as a
// hostile repository could, and check that export neither follows them nor
// changes anything when it refuses.

// listTree describes everything under dir without following a link: each
// file with its mode and content, each directory, each link with its
// target.
func listTree(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			lines = append(lines, fmt.Sprintf("link %s -> %s", rel, target))
		case info.IsDir():
			lines = append(lines, fmt.Sprintf("dir  %s %04o", rel, info.Mode().Perm()))
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			lines = append(lines, fmt.Sprintf("file %s %04o %q", rel, info.Mode().Perm(), data))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// accApp is the sample app under the tester's name, acc.
func accApp(t *testing.T) App {
	app := sampleApp(t)
	app.Name = "acc"
	return app
}

func plantFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func plantLink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

// checkRefused checks that err is a refusal that names what and is a
// file-system error (exit status 1 in the CLI), and that neither the export
// directory nor the place outside it changed.
func checkRefused(t *testing.T, err error, what string, out, outBefore, elsewhere, elsewhereBefore string) {
	t.Helper()
	if err == nil {
		t.Fatal("export succeeded")
	}
	if !strings.Contains(err.Error(), what) || strings.Contains(err.Error(), "\n") {
		t.Errorf("have error %q, want one line containing %q", err, what)
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		t.Errorf("error %q does not wrap a syscall.Errno", err)
	}
	if after := listTree(t, out); after != outBefore {
		t.Errorf("the export directory changed:\nbefore:\n%s\nafter:\n%s", outBefore, after)
	}
	if after := listTree(t, elsewhere); after != elsewhereBefore {
		t.Errorf("the directory outside changed:\nbefore:\n%s\nafter:\n%s", elsewhereBefore, after)
	}
}

// TestExportNeverDeletesThroughASymlink: a manifest line acc-x/file with
// acc-x a link to another directory, or a listed file that is now a link,
// makes the export refuse, before it writes or removes anything.
func TestExportNeverDeletesThroughASymlink(t *testing.T) {
	tests := []struct {
		name  string
		plant func(t *testing.T, out, elsewhere string)
		line  string // the manifest line
		what  string // in the error
	}{
		{"a listed file in a linked directory", func(t *testing.T, out, elsewhere string) {
			plantLink(t, elsewhere, filepath.Join(out, "acc-x"))
		}, "acc-x/file", "acc-x is a symbolic link"},
		{"a listed file that is a link", func(t *testing.T, out, elsewhere string) {
			plantLink(t, filepath.Join(elsewhere, "file"), filepath.Join(out, "acc-old.service"))
		}, "acc-old.service", "acc-old.service is a symbolic link"},
		{"a listed file under a linked instance directory", func(t *testing.T, out, elsewhere string) {
			if err := os.MkdirAll(filepath.Join(out, "acc-web-9"), 0o755); err != nil {
				t.Fatal(err)
			}
			plantLink(t, elsewhere, filepath.Join(out, "acc-web-9", "log"))
		}, "acc-web-9/log/file", "log is a symbolic link"},
	}
	for _, format := range Formats() {
		for _, tt := range tests {
			t.Run(format+"/"+tt.name, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "out")
				elsewhere := t.TempDir()
				plantFile(t, filepath.Join(elsewhere, "file"), "precious")
				tt.plant(t, out, elsewhere)
				plantFile(t, filepath.Join(out, ManifestName("acc")), manifestHeader+"# app: acc\n"+tt.line+"\n")
				outBefore, elsewhereBefore := listTree(t, out), listTree(t, elsewhere)

				err := Write(format, out, accApp(t), "")
				checkRefused(t, err, tt.what, out, outBefore, elsewhere, elsewhereBefore)
			})
		}
	}
}

// TestExportNeverWritesThroughASymlink: a link where the export would
// write a file, or a directory for one, makes it refuse, whether the link
// points at a directory, a file or nowhere yet; nothing is written on either
// side of it.
func TestExportNeverWritesThroughASymlink(t *testing.T) {
	tests := []struct {
		format string
		name   string // planted in the export directory, relative
		target string // relative to the directory outside
		what   string
	}{
		{"runit", "acc-web-1", ".", "acc-web-1 is a symbolic link"},
		{"runit", "acc-web-1", "missing", "acc-web-1 is a symbolic link"},
		{"runit", "acc-web-1/log", ".", "log is a symbolic link"},
		{"runit", "acc-web-1/control/t", "file", "t is a symbolic link"},
		{"systemd", "acc.target", "file", "acc.target is a symbolic link"},
		{"systemd", "acc.env", "missing", "acc.env is a symbolic link"},
		{"systemd", ManifestName("acc"), "file", ManifestName("acc") + " is a symbolic link"},
		{"supervisord", "acc.conf", "file", "acc.conf is a symbolic link"},
		{"launchd", "acc-release-1.plist", "file", "acc-release-1.plist is a symbolic link"},
		{"kubernetes", "acc-web-deployment.yaml", "file", "acc-web-deployment.yaml is a symbolic link"},
		{"kubernetes", ManifestName("acc"), ".", ManifestName("acc") + " is a symbolic link"},
	}
	for _, tt := range tests {
		t.Run(tt.format+"/"+tt.name+"->"+tt.target, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			elsewhere := t.TempDir()
			plantFile(t, filepath.Join(elsewhere, "file"), "precious")
			plantLink(t, filepath.Join(elsewhere, tt.target), filepath.Join(out, filepath.FromSlash(tt.name)))
			outBefore, elsewhereBefore := listTree(t, out), listTree(t, elsewhere)

			err := Write(tt.format, out, accApp(t), "")
			checkRefused(t, err, tt.what, out, outBefore, elsewhere, elsewhereBefore)
		})
	}
}

// TestExportRefusesAFileWhereItNeedsADirectory and the reverse: nothing is
// written either.
func TestExportRefusesAFileWhereItNeedsADirectory(t *testing.T) {
	tests := []struct {
		format, name string
		dir          bool // plant a directory rather than a file
		what         string
	}{
		{"runit", "acc-web-1", false, "acc-web-1: not a directory"},
		{"runit", "acc-web-1/log", false, "log: not a directory"},
		{"systemd", "acc-web-1.service", true, "acc-web-1.service: is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.format+"/"+tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			p := filepath.Join(out, filepath.FromSlash(tt.name))
			if tt.dir {
				if err := os.MkdirAll(p, 0o755); err != nil {
					t.Fatal(err)
				}
			} else {
				plantFile(t, p, "mine")
			}
			elsewhere := t.TempDir()
			outBefore, elsewhereBefore := listTree(t, out), listTree(t, elsewhere)
			err := Write(tt.format, out, accApp(t), "")
			checkRefused(t, err, tt.what, out, outBefore, elsewhere, elsewhereBefore)
		})
	}
}

// TestExportDirMayBeALink: the directory named on the command line is the
// user's own path, and may be a link (on macOS, /tmp and /etc are); only
// what is inside it is never followed.
func TestExportDirMayBeALink(t *testing.T) {
	real := t.TempDir()
	out := filepath.Join(t.TempDir(), "out")
	plantLink(t, real, out)
	if err := Write("systemd", out, accApp(t), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(real, "acc.target")); err != nil {
		t.Errorf("not written into the link's target: %v", err)
	}
}

// TestExportLeavesNoStagingDirectory: the new export is built beside the
// old one; nothing of that is left after a success or a refusal.
func TestExportLeavesNoStagingDirectory(t *testing.T) {
	for _, format := range Formats() {
		t.Run(format, func(t *testing.T) {
			out := t.TempDir()
			app := accApp(t)
			for _, n := range []int{len(app.Instances), 1} {
				app.Instances = app.Instances[:n]
				if err := Write(format, out, app, ""); err != nil {
					t.Fatal(err)
				}
				checkNoStaging(t, out)
			}
			plantLink(t, t.TempDir(), filepath.Join(out, "acc-worker-1"))
			app.Instances = accApp(t).Instances
			if err := Write(format, out, app, ""); err == nil && format == "runit" {
				t.Errorf("runit: wrote through a link")
			}
			checkNoStaging(t, out)
		})
	}
}

func checkNoStaging(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".procman-tmp-") {
			t.Errorf("%s is left in the export directory", e.Name())
		}
	}
}
