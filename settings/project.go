package settings

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/procman/procman/env"
	"github.com/procman/procman/procfile"
)

// A Project is what the global flags point at: where the Procfile is, where
// the processes run, and which env files to read.
type Project struct {
	Procfile      string     // the Procfile's path as given (or the default), for messages
	ProcfileGiven bool       // -f was given: a missing Procfile is an error even for run
	Root          string     // the absolute directory the processes run in
	EnvFiles      []env.File // in order: a later file wins
	dir           string     // the root as given, to name files in it in messages
}

// readProject reads the global flags: -f (default Procfile, or DIR/Procfile
// with -d), -d (default the Procfile's directory; it must exist) and -e
// (default ROOT/.env, which may be missing). An empty name and a -d that is
// not a directory are *InputErrors; the only other error is a working
// directory that cannot be found.
func readProject(f Flags) (Project, error) {
	var p Project
	rootArg := f.Root.or("")
	if f.Root.Set {
		if err := checkDir(rootArg); err != nil {
			return p, err
		}
	}

	p.Procfile = f.Procfile.or("")
	p.ProcfileGiven = f.Procfile.Set
	switch {
	case p.ProcfileGiven && p.Procfile == "":
		return p, inputf("-f \"\": empty file name")
	case !p.ProcfileGiven && rootArg != "":
		p.Procfile = filepath.Join(rootArg, "Procfile")
	case !p.ProcfileGiven:
		p.Procfile = "Procfile"
	}
	if rootArg == "" {
		rootArg = filepath.Dir(p.Procfile)
	}
	root, err := filepath.Abs(rootArg)
	if err != nil {
		return p, fmt.Errorf("root directory: %w", err)
	}
	p.Root, p.dir = root, rootArg

	if f.Env.Set {
		for _, name := range f.Env.Values {
			name = strings.TrimSpace(name)
			if name == "" {
				return p, inputf("-e: empty file name")
			}
			p.EnvFiles = append(p.EnvFiles, env.File{Path: name})
		}
	}
	if len(p.EnvFiles) == 0 {
		p.EnvFiles = []env.File{{Path: filepath.Join(rootArg, ".env"), Optional: true}}
	}
	return p, nil
}

// checkDir checks -d's value.
func checkDir(dir string) error {
	if err := dirProblem(dir); err != nil {
		return inputf("-d %q: %s", dir, err)
	}
	return nil
}

// dirProblem says what keeps dir from being the root, if anything.
func dirProblem(dir string) error {
	if dir == "" {
		return errors.New("empty directory name")
	}
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errors.New("no such directory")
	case err != nil:
		return errors.New(pathReason(err))
	case !info.IsDir():
		return errors.New("not a directory")
	}
	return nil
}

// pathReason is the reason of a *fs.PathError without the operation and
// path, which the caller already names.
func pathReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// parseProcfile reads the project's Procfile. Its errors already name the
// file (and line).
func (p Project) parseProcfile() (*procfile.Procfile, error) {
	pf, err := procfile.ParseFile(p.Procfile)
	if err != nil {
		return nil, &InputError{err}
	}
	return pf, nil
}

// loadEnv reads the env files over the real environment environ: what
// every process gets, the files' variables with the values a process gets
// for them (for the base port rule and export), and the references in the
// files to names nothing sets.
func (p Project) loadEnv(environ []string) (env.Result, error) {
	res, err := env.Read(environ, p.EnvFiles)
	if err != nil {
		return res, &InputError{err}
	}
	return res, nil
}
