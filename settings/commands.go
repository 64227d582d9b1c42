package settings

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/procman/procman/env"
	"github.com/procman/procman/procfile"
	"github.com/procman/procman/supervisor"
)

// Check validates what procman check validates, in the order start reports
// the same errors: the Procfile, the env files (over environ, the real
// environment), the base port, -m, the lifecycle flags and the ports. It
// returns the Procfile, and the references in the env files to names that
// nothing sets, which expand to nothing: no error, but likely a typo.
func (s *Settings) Check(environ []string) (*procfile.Procfile, []env.Warning, error) {
	a, err := readApp(s.flags, environ)
	if err != nil {
		return nil, nil, err
	}
	if _, _, err := s.policy(a.pf); err != nil {
		return nil, nil, err
	}
	if _, err := a.instances(a.form); err != nil {
		return nil, nil, err
	}
	return a.pf, a.warnings, nil
}

// Exec returns what procman run executes: args, or, when args is a single
// name of a Procfile entry, that entry's command with /bin/sh -c; in the
// root, with the app's environment (the env files merged under environ)
// and PORT set to the base port. Without -f, a missing Procfile only means
// that no name is an entry; a Procfile that exists must be valid. It does
// not read the project file. The caller sets Signals and Interactive.
func Exec(flags Flags, environ []string, args []string) (supervisor.ExecConfig, error) {
	var cfg supervisor.ExecConfig
	proj, err := readProject(flags)
	if err != nil {
		return cfg, err
	}
	cfg.Argv = args
	if len(args) == 1 {
		command, err := lookupEntry(proj, args[0])
		if err != nil {
			return cfg, err
		}
		if command != "" {
			cfg.Argv = []string{"/bin/sh", "-c", command}
		}
	}
	res, err := proj.loadEnv(environ)
	if err != nil {
		return cfg, err
	}
	port, err := readPort(flags.Port, environ, res)
	if err != nil {
		return cfg, err
	}
	cfg.Dir = proj.Root
	cfg.Env = setVars(res.Environ, "PORT="+strconv.Itoa(port.n))
	return cfg, nil
}

// lookupEntry returns the command of the Procfile entry called name, or ""
// when there is none.
func lookupEntry(proj Project, name string) (string, error) {
	pf, err := proj.parseProcfile()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !proj.ProcfileGiven {
			return "", nil
		}
		return "", err
	}
	e, ok := pf.Lookup(name)
	if !ok {
		return "", nil
	}
	return e.Command, nil
}

// An Export is what procman export writes, validated.
type Export struct {
	Name        string              // -a; "" for the root directory's name
	Root        string              // the absolute directory the processes run in
	Procfile    string              // the Procfile's path as given
	Grace       time.Duration       // -t
	Instances   []procfile.Instance // by the formation, with their ports
	Config      map[string]string   // the env files' variables alone
	TemplateDir string              // --template; "" for the built-in templates only
}

// ReadExport reads what procman export needs, in the order its errors are
// reported: -a, --template, -t, then the Procfile, the env files, the base
// port, -m and the ports as start reads them. Only the env files' variables
// become the exported config (with the values the processes would get
// here): the rest of environ, the environment procman itself runs in,
// belongs to this machine, not to the target. It does not read the
// project file.
func ReadExport(flags Flags, environ []string) (*Export, error) {
	x := &Export{Name: flags.App.or(""), TemplateDir: flags.Template.or("")}
	if flags.App.Set && x.Name == "" {
		return nil, inputf("-a \"\": empty app name")
	}
	if x.TemplateDir != "" {
		info, err := os.Stat(x.TemplateDir)
		if err != nil {
			return nil, inputf("--template %q: %s", x.TemplateDir, pathReason(err))
		}
		if !info.IsDir() {
			return nil, inputf("--template %q: not a directory", x.TemplateDir)
		}
	}
	var err error
	if x.Grace, err = readTimeout(flags.Timeout); err != nil {
		return nil, err
	}
	a, err := readApp(flags, environ)
	if err != nil {
		return nil, err
	}
	if x.Instances, err = a.instances(a.form); err != nil {
		return nil, err
	}
	x.Root, x.Procfile, x.Config = a.proj.Root, a.proj.Procfile, a.vars
	return x, nil
}

// Scale reads procman scale's arguments, NAME=N[,NAME=N...] (several
// arguments count as one list): the new count of each named type. The
// running procman, which has the Procfile, checks the names and counts
// against it; here, a malformed item, all=N and no item at all are
// *InputErrors.
func Scale(args []string) (map[string]int, error) {
	spec := strings.Join(args, ",")
	if strings.TrimSpace(spec) == "" {
		return nil, inputf("scale: give counts like web=3,worker=0")
	}
	f, err := procfile.ParseFormation(spec)
	if err != nil {
		return nil, inputf("scale %s: %s", spec, err)
	}
	if f.All != 0 || len(f.Counts) == 0 {
		return nil, inputf("scale %s: name each process type (all=N is for start)", spec)
	}
	return f.Counts, nil
}
