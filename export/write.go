package export

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

func base64Std(s string) string {
	return base64.StdEncoding.EncodeToString([]byte(s))
}

// writeFiles puts files into dir and then removes what the previous export
// of the same app wrote there and this one does not.
func writeFiles(dir, app string, files []file) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create export directory %s: %w", dir, cause(err))
	}
	old, err := readManifest(dir, app)
	if err != nil {
		return err
	}
	written := map[string]bool{}
	for _, f := range files {
		if err := writeFile(dir, f); err != nil {
			return err
		}
		written[f.name] = true
	}
	if err := writeFile(dir, file{ManifestName(app), 0o644, manifest(app, files)}); err != nil {
		return err
	}
	var stale []string
	for _, name := range old {
		if !written[name] {
			stale = append(stale, name)
		}
	}
	return removeStale(dir, stale)
}

// writeFile writes aside and renames, so that a manager reading the file
// at the same time sees the old or the new version, never half of one, and
// the mode is set before the content lands (a fresh temporary file is 0600).
func writeFile(dir string, f file) error {
	target := filepath.Join(dir, filepath.FromSlash(f.name))
	parent := filepath.Dir(target)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("cannot create %s: %w", parent, cause(err))
	}
	tmp, err := os.CreateTemp(parent, ".procman-tmp-*")
	if err != nil {
		return fmt.Errorf("cannot write to %s: %w", parent, cause(err))
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(f.data); err != nil {
		tmp.Close()
		return fmt.Errorf("cannot write %s: %w", target, cause(err))
	}
	if err := tmp.Chmod(f.mode); err != nil {
		tmp.Close()
		return fmt.Errorf("cannot set the mode of %s: %w", target, cause(err))
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("cannot write %s: %w", target, cause(err))
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("cannot write %s: %w", target, cause(err))
	}
	return nil
}

// cause drops the *PathError wrapping, whose path the messages above
// already name.
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

const manifestHeader = "# procman export: the files below were written by the last export of this app.\n" +
	"# The next export of the same app into this directory removes those it no\n" +
	"# longer writes; it never touches any other file.\n"

func manifest(app string, files []file) []byte {
	names := make([]string, 0, len(files))
	for _, f := range files {
		names = append(names, f.name)
	}
	sort.Strings(names)
	var b bytes.Buffer
	b.WriteString(manifestHeader)
	fmt.Fprintf(&b, "# app: %s\n", app)
	for _, n := range names {
		b.WriteString(n + "\n")
	}
	return b.Bytes()
}

// readManifest returns the files a previous export of app listed. Only
// names that this package could have written are returned (local paths
// whose first element is the app's name or starts with it and '-' or '.'),
// so an edited manifest cannot make an export delete anything else.
func readManifest(dir, app string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestName(app)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", filepath.Join(dir, ManifestName(app)), cause(err))
	}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if ownedBy(app, line) {
			names = append(names, line)
		}
	}
	return names, nil
}

// ownedBy reports whether name is a path that an export of app writes.
func ownedBy(app, name string) bool {
	if !filepath.IsLocal(filepath.FromSlash(name)) || path.Clean(name) != name {
		return false
	}
	first, _, _ := strings.Cut(name, "/")
	rest, ok := strings.CutPrefix(first, app)
	if !ok {
		return false
	}
	return rest == "" || rest[0] == '-' || rest[0] == '.'
}

// removeStale deletes the given files, then the directories they were in
// once empty (a runit service directory that runsv has used keeps its
// supervise/ and so stays).
func removeStale(dir string, names []string) error {
	parents := map[string]bool{}
	for _, name := range names {
		p := filepath.Join(dir, filepath.FromSlash(name))
		info, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("cannot remove %s: %w", p, cause(err))
		}
		if info.IsDir() {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cannot remove %s: %w", p, cause(err))
		}
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			parents[d] = true
		}
	}
	dirs := make([]string, 0, len(parents))
	for d := range parents {
		dirs = append(dirs, d)
	}
	// Deepest first, so that a directory's children go before it.
	sort.Slice(dirs, func(i, j int) bool {
		if a, b := strings.Count(dirs[i], "/"), strings.Count(dirs[j], "/"); a != b {
			return a > b
		}
		return dirs[i] < dirs[j]
	})
	for _, d := range dirs {
		// Only an empty directory goes; anything else in it is not ours.
		_ = os.Remove(filepath.Join(dir, filepath.FromSlash(d)))
	}
	return nil
}
