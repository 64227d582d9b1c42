package export

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

func base64Std(s string) string {
	return base64.StdEncoding.EncodeToString([]byte(s))
}

// writeFiles replaces the export of app in dirPath with files, creating
// dirPath if needed, as one change: it plans every step and refuses a link
// on the way before it changes anything, writes the whole new export into
// a staging directory beside the old one (where a full disk fails), then
// switches it in with renames, each of which it undoes if a later one
// fails, and removes what the old export had and this one has not only
// once the new files and the new manifest are in place. A failed first
// export also removes the directories it created.
func writeFiles(dirPath, app string, files []file) error {
	var created []string
	if err := mkdirAll(dirPath, &created); err != nil {
		return fmt.Errorf("cannot create export directory %s: %w", dirPath, err)
	}
	err := replaceExport(dirPath, app, files)
	if err != nil {
		for i := len(created) - 1; i >= 0; i-- {
			// Only an empty directory goes: if undoing failed, the error
			// names what is left in it.
			if os.Remove(created[i]) != nil {
				break
			}
		}
	}
	return err
}

// mkdirAll is os.MkdirAll, and appends the directories it created to
// created, parents first.
func mkdirAll(path string, created *[]string) error {
	info, err := os.Stat(path)
	if err == nil {
		if info.IsDir() {
			return nil
		}
		return syscall.ENOTDIR
	}
	if parent := filepath.Dir(path); parent != path {
		if err := mkdirAll(parent, created); err != nil {
			return err
		}
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		if info, serr := os.Lstat(path); serr == nil && info.IsDir() {
			return nil // made by someone else meanwhile
		}
		return cause(err)
	}
	*created = append(*created, path)
	return nil
}

func replaceExport(dirPath, app string, files []file) error {
	root, err := openRoot(dirPath)
	if err != nil {
		return fmt.Errorf("cannot open export directory %s: %w", dirPath, err)
	}
	s := &swap{root: root, app: app, dirs: map[string]*dir{"": root}}
	defer s.close()
	old, err := readManifest(root, app)
	if err != nil {
		return err
	}
	files = append(files[:len(files):len(files)], file{ManifestName(app), 0o644, manifest(app, files)})
	if err := s.plan(files, old); err != nil {
		return err
	}
	if err := s.stageFiles(files); err != nil {
		return also(err, s.removeStage())
	}
	if err := s.commit(); err != nil {
		if uerr := s.rollback(); uerr != nil {
			return also(err, uerr)
		}
		return also(err, s.removeStage())
	}
	// The old files go only now that the new export is in place.
	s.removeEmptyDirs()
	if err := s.removeStage(); err != nil {
		return fmt.Errorf("the export is in place, but %w", err)
	}
	return nil
}

// also returns err, followed by more on the same line if there is more.
func also(err, more error) error {
	if more == nil {
		return err
	}
	return fmt.Errorf("%w; %w", err, more)
}

// A swap replaces one app's export in the export directory.
type swap struct {
	root  *dir
	app   string
	dirs  map[string]*dir // the export directory's own subdirectories, by relative name
	steps []step          // in order; the manifest's last

	stage     *dir            // the staging directory, once made
	stageName string          // its name in root
	newDirs   map[string]*dir // stage/new: the new export's files, in the same tree
	oldDirs   map[string]*dir // stage/old: the old files replaced or retired, to undo
	undo      []undo          // what undoes each step taken, in order
}

// A step is one change to the export directory.
type step struct {
	op   op
	name string // relative, '/'-separated
}

type op int

const (
	insert  op = iota // a new file, or a new directory with everything in it: rename it in
	replace           // an existing file: keep a second name for it, then rename the new one over it
	retire            // a file the old export wrote and this one does not: rename it aside
)

type undo struct {
	name string
	do   func() error
}

func (s *swap) close() {
	for _, m := range []map[string]*dir{s.dirs, s.newDirs, s.oldDirs} {
		for _, d := range m {
			d.close()
		}
	}
	if s.stage != nil {
		s.stage.close()
	}
}

// lookup opens the directories above name in the export directory, one
// name at a time without following a link. It returns the relative name of
// the parent, or, when some directory on the way does not exist, that of
// the first missing one in missing.
func (s *swap) lookup(name string) (parent, missing string, err error) {
	elems := strings.Split(name, "/")
	for _, e := range elems[:len(elems)-1] {
		child := path.Join(parent, e)
		if _, ok := s.dirs[child]; ok {
			parent = child
			continue
		}
		d := s.dirs[parent]
		k, err := d.kind(e)
		switch {
		case err != nil:
			return "", "", err
		case k == absent:
			return parent, child, nil
		case k == symlink:
			return "", "", &linkError{d.join(e)}
		case k != directory:
			return "", "", fmt.Errorf("%s: %w", d.join(e), syscall.ENOTDIR)
		}
		sub, err := d.openDir(e)
		if err != nil {
			return "", "", err
		}
		s.dirs[child] = sub
		parent = child
	}
	return parent, "", nil
}

func split(name string) (parent, base string) {
	parent, base = path.Split(name)
	return strings.TrimSuffix(parent, "/"), base
}

// plan decides the steps, and checks every name the export writes or
// deletes, before anything changes.
func (s *swap) plan(files []file, old []string) error {
	written := map[string]bool{}
	inserted := map[string]bool{}
	var last step
	for i, f := range files {
		written[f.name] = true
		parent, missing, err := s.lookup(f.name)
		if err != nil {
			return fmt.Errorf("cannot write %s: %w", s.root.join(f.name), err)
		}
		if missing != "" {
			if !inserted[missing] {
				inserted[missing] = true
				s.steps = append(s.steps, step{insert, missing})
			}
			continue
		}
		d, base := s.dirs[parent], path.Base(f.name)
		k, err := d.kind(base)
		st := step{replace, f.name}
		switch {
		case err != nil:
			return fmt.Errorf("cannot write %s: %w", d.join(base), err)
		case k == symlink:
			return fmt.Errorf("cannot write %s: %w", d.join(base), &linkError{d.join(base)})
		case k == directory:
			return fmt.Errorf("cannot write %s: %w", d.join(base), syscall.EISDIR)
		case k == absent:
			st.op = insert
		}
		if i == len(files)-1 { // the manifest
			last = st
			continue
		}
		s.steps = append(s.steps, st)
	}
	for _, name := range old {
		if written[name] {
			continue
		}
		parent, missing, err := s.lookup(name)
		var le *linkError
		switch {
		case errors.As(err, &le):
			return fmt.Errorf("cannot remove %s, listed in %s: %w", s.root.join(name), s.root.join(ManifestName(s.app)), err)
		case errors.Is(err, syscall.ENOTDIR):
			continue // not there as listed: nothing to remove
		case err != nil:
			return fmt.Errorf("cannot remove %s: %w", s.root.join(name), err)
		case missing != "":
			continue
		}
		d, base := s.dirs[parent], path.Base(name)
		k, err := d.kind(base)
		switch {
		case err != nil:
			return fmt.Errorf("cannot remove %s: %w", d.join(base), err)
		case k == symlink:
			return fmt.Errorf("cannot remove %s, listed in %s: %w", d.join(base), s.root.join(ManifestName(s.app)), &linkError{d.join(base)})
		case k == absent || k == directory:
			continue // a directory is not ours to remove as a whole
		}
		s.steps = append(s.steps, step{retire, name})
	}
	s.steps = append(s.steps, last)
	return nil
}

// stageFiles writes every new file into a fresh staging directory in the
// export directory (the same file system, so that renames can move them),
// and makes room beside them for the old files that the switch moves out.
func (s *swap) stageFiles(files []file) error {
	for i := 0; ; i++ {
		// Unique enough with mkdir's EEXIST: no crypto/rand in procman.
		name := ".procman-tmp-" + s.app + "-" + strconv.FormatUint(rand.Uint64(), 36)
		d, err := s.root.mkdir(name, 0o700)
		if errors.Is(err, syscall.EEXIST) && i < 10 {
			continue
		}
		if err != nil {
			return fmt.Errorf("cannot write to %s: %w", s.root.path, err)
		}
		s.stage, s.stageName = d, name
		break
	}
	s.newDirs, s.oldDirs = map[string]*dir{}, map[string]*dir{}
	for _, sub := range []struct {
		name string
		m    map[string]*dir
	}{{"new", s.newDirs}, {"old", s.oldDirs}} {
		d, err := s.stage.mkdir(sub.name, 0o700)
		if err != nil {
			return fmt.Errorf("cannot write to %s: %w", s.stage.path, err)
		}
		sub.m[""] = d
	}
	for _, f := range files {
		parent, base := split(f.name)
		d, err := mkdirs(s.newDirs, parent)
		if err == nil {
			err = d.create(base, f.mode, f.data)
		}
		if err != nil {
			return fmt.Errorf("cannot write %s: %w", s.root.join(f.name), cause(err))
		}
	}
	for _, st := range s.steps {
		if st.op == insert {
			continue
		}
		parent, _ := split(st.name)
		if _, err := mkdirs(s.oldDirs, parent); err != nil {
			return fmt.Errorf("cannot write to %s: %w", s.stage.path, cause(err))
		}
	}
	return nil
}

// mkdirs makes the directory rel, and those above it, in a staging tree.
// Like os.MkdirAll, it leaves their mode to the umask (0755 at most): the
// new ones are renamed into the export directory as they are.
func mkdirs(tree map[string]*dir, rel string) (*dir, error) {
	if d, ok := tree[rel]; ok {
		return d, nil
	}
	parent, base := split(rel)
	p, err := mkdirs(tree, parent)
	if err != nil {
		return nil, err
	}
	d, err := p.mkdir(base, 0o755)
	if err != nil {
		return nil, err
	}
	tree[rel] = d
	return d, nil
}

// commit takes the steps in order. Each rename is atomic, so a manager
// reading a file sees the old or the new version, never half of one; each
// step taken records how to undo it.
func (s *swap) commit() error {
	for _, st := range s.steps {
		parent, base := split(st.name)
		dst, src, old := s.dirs[parent], s.newDirs[parent], s.oldDirs[parent]
		restore := undo{st.name, func() error { return rename(old, base, dst, base) }}
		switch st.op {
		case insert:
			if err := rename(src, base, dst, base); err != nil {
				return fmt.Errorf("cannot write %s: %w", dst.join(base), err)
			}
			s.undo = append(s.undo, undo{st.name, func() error { return rename(dst, base, src, base) }})
		case replace:
			if err := link(dst, base, old, base); err != nil {
				// A file system without hard links: move the old file
				// aside instead, which leaves the name missing for a
				// moment.
				if err := rename(dst, base, old, base); err != nil {
					return fmt.Errorf("cannot replace %s: %w", dst.join(base), err)
				}
				s.undo = append(s.undo, restore)
				if err := rename(src, base, dst, base); err != nil {
					return fmt.Errorf("cannot write %s: %w", dst.join(base), err)
				}
				continue
			}
			if err := rename(src, base, dst, base); err != nil {
				return fmt.Errorf("cannot write %s: %w", dst.join(base), err)
			}
			s.undo = append(s.undo, restore)
		case retire:
			if err := rename(dst, base, old, base); err != nil {
				return fmt.Errorf("cannot remove %s: %w", dst.join(base), err)
			}
			s.undo = append(s.undo, restore)
		}
	}
	return nil
}

// rollback undoes the steps taken, last first. If that fails too, the
// staging directory stays, and the error says where everything is.
func (s *swap) rollback() error {
	var failed []string
	for i := len(s.undo) - 1; i >= 0; i-- {
		if err := s.undo[i].do(); err != nil {
			failed = append(failed, fmt.Sprintf("%s (%v)", s.root.join(s.undo[i].name), err))
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return fmt.Errorf("restoring the last export failed for %s: %s holds this export's files that are not in place (new/) and the last export's that were moved out (old/)",
		strings.Join(failed, ", "), s.stage.path)
}

// removeStage removes the staging directory, with whatever it holds.
func (s *swap) removeStage() error {
	if s.stage == nil {
		return nil
	}
	if err := s.root.removeAll(s.stageName); err != nil {
		return fmt.Errorf("cannot remove %s, a staging directory of procman export: %w", s.stage.path, cause(err))
	}
	return nil
}

// removeEmptyDirs removes the directories that retired files were in, once
// empty, deepest first (a runit service directory that runsv has used keeps
// its supervise/ and so stays).
func (s *swap) removeEmptyDirs() {
	parents := map[string]bool{}
	for _, st := range s.steps {
		if st.op != retire {
			continue
		}
		for d := path.Dir(st.name); d != "."; d = path.Dir(d) {
			parents[d] = true
		}
	}
	dirs := make([]string, 0, len(parents))
	for d := range parents {
		dirs = append(dirs, d)
	}
	sort.Slice(dirs, func(i, j int) bool {
		if a, b := strings.Count(dirs[i], "/"), strings.Count(dirs[j], "/"); a != b {
			return a > b
		}
		return dirs[i] < dirs[j]
	})
	for _, d := range dirs {
		parent, base := split(d)
		// Only an empty directory goes; anything else in it is not ours.
		_ = s.dirs[parent].rmdir(base)
	}
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
func readManifest(root *dir, app string) ([]string, error) {
	name := ManifestName(app)
	k, err := root.kind(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", root.join(name), err)
	}
	if k == absent {
		return nil, nil
	}
	data, err := root.readFile(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", root.join(name), cause(err))
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
