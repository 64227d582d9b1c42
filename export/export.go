// Package export writes a Procfile app as configuration for another process
// manager or orchestrator: systemd, supervisord, runit, launchd or
// Kubernetes. It renders text/templates (built in, or the user's) into a
// directory and owns only the files it wrote there, which it replaces all at
// once and never through a link. It never starts a process, prints, or reads
// the process environment: the caller hands it everything in an App.
package export

import (
	"bytes"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/procman/procman/procfile"
)

// An App is everything an export needs: the caller has parsed the Procfile,
// applied the formation and ports, and loaded the env files.
type App struct {
	Name      string              // prefix of every file and unit; "" means DefaultName(Root)
	Root      string              // absolute directory the processes run in
	User      string              // user to run as; "" leaves it to the manager
	LogDir    string              // directory for log files; "" leaves it to the manager
	RunDir    string              // foreman's -r; given to templates, unused by the built-in ones
	Grace     time.Duration       // SIGTERM to SIGKILL; written as whole seconds, rounded up, at least 1
	Instances []procfile.Instance // an instance of type procfile.Release is the release phase
	Config    map[string]string   // from the env files only; may hold secrets
	Image     string              // container image; required by kubernetes
	Procfile  string              // path of the Procfile, for the header comment
}

// Formats returns the names of the known formats, sorted.
func Formats() []string {
	names := make([]string, 0, len(formats))
	for name := range formats {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// ManifestName returns the name of the file, inside the export directory,
// that lists the files the last export of the app called name wrote there.
func ManifestName(name string) string {
	return ".procman-export-" + name
}

// DefaultName returns the app name used when none is given: the base name
// of root, with every character other than letters, digits, '.', '_' and
// '-' replaced by '-' (foreman uses the literal "app" instead).
func DefaultName(root string) string {
	base := filepath.Base(filepath.Clean(root))
	b := []byte(base)
	for i, c := range b {
		if !isNameByte(c) {
			b[i] = '-'
		}
	}
	name := strings.TrimLeft(string(b), "-._")
	if name == "" {
		return "app"
	}
	return name
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '_' || c == '.'
}

var (
	appName = lazyRegexp(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	varName = lazyRegexp(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Write renders app in format into dir, creating dir if needed. Templates
// in templateDir (if not "") replace the built-in ones of the same name.
//
// An instance of type procfile.Release is the release phase: it is exported
// once, whatever its count, as a one-shot that is never restarted, ordered
// before the other processes where the format can say so (systemd; a Job in
// Kubernetes) and run only on demand where it cannot (supervisord, runit,
// launchd). NextStep says how to run it.
//
// Everything is rendered and checked before anything is written, and the
// new files are written beside the old ones and then switched in with
// renames, so an error at any point leaves dir as it was (and a dir that
// Write created is removed again): an unknown format, an invalid app name,
// a value the format cannot represent exactly, a template error, a dir that
// cannot be created or written, a full disk. In the rare case that undoing
// a failed switch fails too, the error says what is where. Below dir, Write
// follows no symbolic link and replaces none: a link where it would write
// or delete is an error, and nothing is changed; dir itself is opened as
// named. Each file is replaced atomically, with mode 0600 when it carries
// Config and 0644 (0755 for scripts) otherwise. The list of files written
// goes to ManifestName(app name) in dir; files listed there by a previous
// export of the same app that this export no longer writes are removed once
// the new ones are in place, and no other file in dir is touched. The same
// App always gives byte-identical files. Errors are one line and never
// contain a Config value; those from the file system wrap a syscall.Errno.
func Write(format, dir string, app App, templateDir string) error {
	render, ok := formats[format]
	if !ok {
		return fmt.Errorf("unknown export format %q (known: %s)", format, strings.Join(Formats(), ", "))
	}
	if dir == "" {
		return errors.New("no export directory given")
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("export directory %s: %w", dir, err)
	}
	d, err := newData(app, absDir)
	if err != nil {
		return err
	}
	if err := checkers[format].check(format, d); err != nil {
		return err
	}
	r := &renderer{format: format, dir: templateDir}
	files, err := render(r, d)
	if err != nil {
		return err
	}
	return writeFiles(absDir, d.App, files)
}

// Data is what every template receives. Per-instance templates get it with
// Instance set, per-type templates with Type set.
type Data struct {
	App       string     // app name
	Root      string     // absolute working directory of the processes
	User      string     // "" when not given
	LogDir    string     // "" when not given
	RunDir    string     // "" when not given
	Grace     int        // seconds from SIGTERM to SIGKILL, at least 1
	Procfile  string     // as given, control characters replaced by '?', for comments
	Image     string     // kubernetes image
	Dir       string     // absolute export directory
	Shell     string     // "/bin/sh": every command runs as Shell -c Command
	EnvFile   string     // absolute path of the 0600 file holding Config (systemd), or ""
	Instances []Instance // the long-running instances, in Procfile order; never the release
	Types     []Type     // types with at least one such instance, in Procfile order
	Release   *Instance  // the release phase (release.1), or nil
	Config    []Var      // from the env files, sorted by key, without PORT and PS
	Instance  Instance   // the instance a per-instance or release template renders
	Type      Type       // the type a per-type template renders
}

// An Instance is one running copy of a process type, as templates see it.
type Instance struct {
	Name    string // unit, program or directory name: "shop-web-1"
	Type    string // "web"
	Num     int    // 1
	Label   string // "web.1": the value of PS
	Port    int    // the value of PORT
	Command string // run as Shell -c Command
}

// A Type is one process type with at least one instance.
type Type struct {
	Name     string // "web"
	Command  string
	Count    int    // instances in the formation: replicas in kubernetes
	Port     int    // PORT of its first instance: every replica's PORT in kubernetes
	Traffic  bool   // gets a containerPort: named "web", or its command mentions $PORT
	KubeName string // Name as a Kubernetes name: lower case, '_' as '-'
}

// A Var is one variable from the env files.
type Var struct {
	Key    string
	Value  string
	Secret bool // goes to the Kubernetes Secret; see IsSecret
}

// IsSecret reports whether a variable goes into the Kubernetes Secret
// rather than the ConfigMap: its key, in any case, contains SECRET,
// PASSWORD, PASSWD, TOKEN, KEY, PRIVATE or CREDENTIAL, or its value is a URL
// with a password (scheme://user:password@host).
func IsSecret(key, value string) bool {
	upper := strings.ToUpper(key)
	for _, word := range secretWords {
		if strings.Contains(upper, word) {
			return true
		}
	}
	if u, err := url.Parse(value); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			return true
		}
	}
	return false
}

var secretWords = []string{"SECRET", "PASSWORD", "PASSWD", "TOKEN", "KEY", "PRIVATE", "CREDENTIAL"}

func newData(app App, dir string) (*Data, error) {
	name := app.Name
	if name == "" {
		name = DefaultName(app.Root)
	}
	if !appName().MatchString(name) {
		return nil, fmt.Errorf("app name %q must start with a letter or digit and hold only letters, digits, '.', '_' and '-'", name)
	}
	if !filepath.IsAbs(app.Root) {
		return nil, fmt.Errorf("app root %q is not an absolute path", app.Root)
	}
	if len(app.Instances) == 0 {
		return nil, errors.New("the formation runs no process: nothing to export")
	}
	d := &Data{
		App:      name,
		Root:     filepath.Clean(app.Root),
		User:     app.User,
		LogDir:   app.LogDir,
		RunDir:   app.RunDir,
		Grace:    graceSeconds(app.Grace),
		Procfile: printable(app.Procfile),
		Image:    app.Image,
		Dir:      dir,
		Shell:    "/bin/sh",
	}
	if d.LogDir != "" {
		abs, err := filepath.Abs(d.LogDir)
		if err != nil {
			return nil, fmt.Errorf("log directory %s: %w", d.LogDir, err)
		}
		d.LogDir = abs
	}
	d.addInstances(name, app.Instances)
	if err := d.addConfig(app.Config); err != nil {
		return nil, err
	}
	return d, nil
}

// addInstances fills d's instances, types and release phase.
func (d *Data) addInstances(name string, instances []procfile.Instance) {
	byType := map[string]int{}
	for _, in := range instances {
		inst := Instance{
			Name:    name + "-" + in.Name + "-" + strconv.Itoa(in.Num),
			Type:    in.Name,
			Num:     in.Num,
			Label:   in.Label(),
			Port:    in.Port,
			Command: in.Command,
		}
		if in.Name == procfile.Release {
			// Heroku's release phase runs once per deploy, whatever the
			// formation says; release.2 would run the migrations twice.
			if d.Release == nil {
				d.Release = &inst
			}
			continue
		}
		d.Instances = append(d.Instances, inst)
		if i, ok := byType[in.Name]; ok {
			d.Types[i].Count++
			continue
		}
		byType[in.Name] = len(d.Types)
		d.Types = append(d.Types, Type{
			Name:     in.Name,
			Command:  in.Command,
			Count:    1,
			Port:     in.Port,
			Traffic:  in.Name == "web" || mentionsPort(in.Command),
			KubeName: kubeName(in.Name),
		})
	}
}

// addConfig fills d's variables from the env files, sorted by key.
func (d *Data) addConfig(config map[string]string) error {
	keys := make([]string, 0, len(config))
	for k := range config {
		// procman sets these per instance; an env file's PORT is only the
		// base port, and systemd would let the EnvironmentFile win.
		if k == "PORT" || k == "PS" {
			continue
		}
		if !varName().MatchString(k) {
			return fmt.Errorf("env file variable %q cannot be exported: names must match [A-Za-z_][A-Za-z0-9_]*", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := config[k]
		d.Config = append(d.Config, Var{Key: k, Value: v, Secret: IsSecret(k, v)})
	}
	return nil
}

// printable replaces control characters, so that a path can go into a
// header comment of any format without ending the comment's line.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
}

var portRef = lazyRegexp(`\$\{?PORT\b`)

func mentionsPort(command string) bool {
	return portRef().MatchString(command)
}

func graceSeconds(grace time.Duration) int {
	s := math.Ceil(grace.Seconds())
	if s < 1 {
		return 1
	}
	if s > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(s)
}

// kubeName maps a name onto Kubernetes' DNS label alphabet. It may return
// "" or a name that starts with a digit; kubernetesNames checks.
func kubeName(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			b[i] = '-'
		}
	}
	return strings.Trim(string(b), "-")
}

// A file is one rendered output, its name relative to the export directory
// with '/' separators.
type file struct {
	name string
	mode fs.FileMode
	data []byte
}

//go:embed templates
var builtin embed.FS

// A renderer executes a format's templates, taking each from the user's
// template directory when it has one of that name.
type renderer struct {
	format string
	dir    string
	cache  map[string]*template.Template
}

func (r *renderer) render(name string, data any) ([]byte, error) {
	t, err := r.template(name)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("template %s: %w", name, oneLine(err))
	}
	return buf.Bytes(), nil
}

func (r *renderer) template(name string) (*template.Template, error) {
	if t, ok := r.cache[name]; ok {
		return t, nil
	}
	var text []byte
	var err error
	if r.dir != "" {
		text, err = os.ReadFile(filepath.Join(r.dir, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("template %s: %w", filepath.Join(r.dir, name), err)
		}
	}
	if text == nil {
		text, err = builtin.ReadFile(path.Join("templates", r.format, name))
		if err != nil {
			return nil, fmt.Errorf("built-in template %s/%s: %w", r.format, name, err)
		}
	}
	t, err := template.New(name).Option("missingkey=error").Funcs(funcs).Parse(string(text))
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, oneLine(err))
	}
	if r.cache == nil {
		r.cache = map[string]*template.Template{}
	}
	r.cache[name] = t
	return t, nil
}

func oneLine(err error) error {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	return errors.New(msg)
}

// funcs are the quoting functions that templates call. Each one that
// cannot represent its argument exactly stops the export with an error
// rather than write something the manager would read differently.
var funcs = template.FuncMap{
	"systemdArg":      systemdArg,      // one word of ExecStart=, in double quotes, % and $ doubled
	"systemdValue":    systemdValue,    // a plain systemd setting value, % doubled
	"shQuote":         shQuote,         // one POSIX shell word in single quotes
	"supervisorArg":   supervisorArg,   // one word of supervisord's command=
	"supervisorValue": supervisorValue, // a plain supervisord setting value
	"supervisorEnv":   supervisorEnv,   // KEY="value" for supervisord's environment=
	"xml":             xmlText,         // text for a plist <string>
	"yaml":            yamlString,      // a YAML double-quoted string
	"kubeCommand":     kubeCommand,     // a command with $ doubled, for a container's command
}

// formats maps a format's name to the function that renders its files.
var formats = map[string]func(*renderer, *Data) ([]file, error){
	"systemd":     renderSystemd,
	"supervisord": renderSupervisord,
	"runit":       renderRunit,
	"launchd":     renderLaunchd,
	"kubernetes":  renderKubernetes,
}

func configMode(d *Data) fs.FileMode {
	if len(d.Config) > 0 {
		return 0o600
	}
	return 0o644
}

func perInstance(r *renderer, d *Data, tmpl string, nameOf func(Instance) string, mode fs.FileMode) ([]file, error) {
	var files []file
	for _, in := range d.Instances {
		dd := *d
		dd.Instance = in
		out, err := r.render(tmpl, &dd)
		if err != nil {
			return nil, err
		}
		files = append(files, file{nameOf(in), mode, out})
	}
	return files, nil
}

// envFile renders Config as KEY="value" lines that systemd's
// EnvironmentFile= and a POSIX shell (set -a; . FILE) both read.
func envFile(d *Data) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# Generated by procman export from the env files; mode 0600: it may hold secrets.\n")
	for _, v := range d.Config {
		q, err := envFileValue(v.Value)
		if err != nil {
			return nil, fmt.Errorf("the value of %s cannot be exported: it %w", v.Key, err)
		}
		b.WriteString(v.Key + "=" + q + "\n")
	}
	return b.Bytes(), nil
}

func renderSystemd(r *renderer, d *Data) ([]file, error) {
	var files []file
	if len(d.Config) > 0 {
		envName := d.App + ".env"
		d.EnvFile = filepath.Join(d.Dir, envName)
		data, err := envFile(d)
		if err != nil {
			return nil, err
		}
		files = append(files, file{envName, 0o600, data})
	}
	target, err := r.render("app.target.tmpl", d)
	if err != nil {
		return nil, err
	}
	files = append(files, file{d.App + ".target", 0o644, target})
	if d.Release != nil {
		unit, err := r.render("release.service.tmpl", releaseData(d))
		if err != nil {
			return nil, err
		}
		files = append(files, file{d.Release.Name + ".service", 0o644, unit})
	}
	units, err := perInstance(r, d, "process.service.tmpl",
		func(in Instance) string { return in.Name + ".service" }, 0o644)
	if err != nil {
		return nil, err
	}
	return append(files, units...), nil
}

// releaseData is d as a release template gets it: with Instance set to the
// release, so that it reads like a per-instance template.
func releaseData(d *Data) *Data {
	dd := *d
	dd.Instance = *d.Release
	return &dd
}

func renderSupervisord(r *renderer, d *Data) ([]file, error) {
	conf, err := r.render("app.conf.tmpl", d)
	if err != nil {
		return nil, err
	}
	return []file{{d.App + ".conf", configMode(d), conf}}, nil
}

func renderRunit(r *renderer, d *Data) ([]file, error) {
	var files []file
	var env []byte
	if len(d.Config) > 0 {
		var err error
		if env, err = envFile(d); err != nil {
			return nil, err
		}
	}
	instances := d.Instances
	if d.Release != nil {
		instances = append([]Instance{*d.Release}, instances...)
	}
	for _, in := range instances {
		dd := *d
		dd.Instance = in
		if env != nil {
			dd.EnvFile = filepath.Join(d.Dir, in.Name, "env")
			files = append(files, file{in.Name + "/env", 0o600, env})
		}
		for _, t := range []struct{ tmpl, name string }{
			{"run.tmpl", "run"},
			{"log-run.tmpl", "log/run"},
			{"control-t.tmpl", "control/t"},
			{"control-k.tmpl", "control/k"},
		} {
			out, err := r.render(t.tmpl, &dd)
			if err != nil {
				return nil, err
			}
			files = append(files, file{in.Name + "/" + t.name, 0o755, out})
		}
		if d.Release != nil && in == *d.Release {
			// runit cannot order services: the release runs only when asked
			// (sv once), and ./finish marks it down so that runsv never
			// starts it again, also after an sv up or sv restart.
			out, err := r.render("finish.tmpl", &dd)
			if err != nil {
				return nil, err
			}
			files = append(files, file{in.Name + "/finish", 0o755, out}, file{in.Name + "/down", 0o644, nil})
		}
	}
	return files, nil
}

func renderLaunchd(r *renderer, d *Data) ([]file, error) {
	var files []file
	if d.Release != nil {
		out, err := r.render("release.plist.tmpl", releaseData(d))
		if err != nil {
			return nil, err
		}
		files = append(files, file{d.Release.Name + ".plist", configMode(d), out})
	}
	plists, err := perInstance(r, d, "process.plist.tmpl",
		func(in Instance) string { return in.Name + ".plist" }, configMode(d))
	if err != nil {
		return nil, err
	}
	return append(files, plists...), nil
}

func renderKubernetes(r *renderer, d *Data) ([]file, error) {
	if d.Image == "" {
		return nil, errors.New("kubernetes export needs --image IMAGE: the container image that holds the app")
	}
	if err := kubernetesNames(d); err != nil {
		return nil, err
	}
	var files []file
	var plain, secret []Var
	for _, v := range d.Config {
		if v.Secret {
			secret = append(secret, v)
		} else {
			plain = append(plain, v)
		}
	}
	if len(plain) > 0 {
		out, err := r.render("configmap.yaml.tmpl", KubeData{d, plain})
		if err != nil {
			return nil, err
		}
		files = append(files, file{d.App + "-configmap.yaml", 0o600, out})
	}
	if len(secret) > 0 {
		out, err := r.render("secret.yaml.tmpl", KubeData{d, secret})
		if err != nil {
			return nil, err
		}
		files = append(files, file{d.App + "-secret.yaml", 0o600, out})
	}
	if d.Release != nil {
		out, err := r.render("job.yaml.tmpl", KubeData{releaseData(d), nil})
		if err != nil {
			return nil, err
		}
		files = append(files, file{d.App + "-release-job.yaml", 0o644, out})
	}
	for _, t := range d.Types {
		dd := *d
		dd.Type = t
		out, err := r.render("deployment.yaml.tmpl", KubeData{&dd, nil})
		if err != nil {
			return nil, err
		}
		files = append(files, file{d.App + "-" + t.Name + "-deployment.yaml", 0o644, out})
		if t.Name == "web" {
			out, err := r.render("service.yaml.tmpl", KubeData{&dd, nil})
			if err != nil {
				return nil, err
			}
			files = append(files, file{d.App + "-" + t.Name + "-service.yaml", 0o644, out})
		}
	}
	return files, nil
}

// KubeData is what the Kubernetes templates receive: Data, plus the
// variables of the ConfigMap or Secret being rendered and helpers for
// Kubernetes names.
type KubeData struct {
	*Data
	Vars []Var // the ConfigMap's or the Secret's variables
}

// KubeApp returns the app name as a Kubernetes name.
func (k KubeData) KubeApp() string { return kubeName(k.App) }

// ConfigMap returns the ConfigMap's name, or "" when no variable goes there.
func (k KubeData) ConfigMap() string {
	if slices.ContainsFunc(k.Config, func(v Var) bool { return !v.Secret }) {
		return k.KubeApp() + "-config"
	}
	return ""
}

// Secret returns the Secret's name, or "" when no variable goes there.
func (k KubeData) Secret() string {
	if slices.ContainsFunc(k.Config, func(v Var) bool { return v.Secret }) {
		return k.KubeApp() + "-secrets"
	}
	return ""
}

// Base64 returns s in standard base64, as a Secret's data holds it.
func (k KubeData) Base64(s string) string {
	return base64Std(s)
}

// ReleaseJob returns the name of the release phase's Job, or "" when there
// is no release: APP-release-HASH, where HASH is taken from everything the
// built-in template puts into the Job's spec (the image, the command, its
// PORT, the grace period and the names of the ConfigMap and the Secret). A
// new image or command thus gives a new Job, which runs again; the same
// export gives the same name, and kubectl apply leaves a finished Job
// alone (its spec cannot be changed in place anyway).
func (k KubeData) ReleaseJob() string {
	if k.Release == nil {
		return ""
	}
	// FNV, not a cryptographic hash: it only tells exports apart, and
	// procman's binary links no crypto package.
	h := fnv.New64a()
	for _, s := range []string{k.KubeApp(), k.Image, k.Release.Command, strconv.Itoa(k.Release.Port),
		strconv.Itoa(k.Grace), k.ConfigMap(), k.Secret()} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return k.KubeApp() + "-release-" + hex.EncodeToString(h.Sum(nil))[:10]
}

var dnsLabel = lazyRegexp(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

// lazyRegexp returns a function that compiles expr the first time it is
// called: procman start never pays for export's patterns.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// kubernetesNames checks that every object gets a valid, distinct name:
// a Service's name must be a DNS label that starts with a letter.
func kubernetesNames(d *Data) error {
	app := kubeName(d.App)
	seen := map[string]string{}
	for _, t := range d.Types {
		full := app + "-" + t.KubeName
		if t.KubeName == "" || !dnsLabel().MatchString(full) || len(full) > 63 {
			return fmt.Errorf("kubernetes: %q (app %q, process type %q) is not a valid object name: it must start with a letter and be at most 63 lower-case letters, digits and '-' (choose another name with -a)", full, d.App, t.Name)
		}
		if other, dup := seen[full]; dup {
			return fmt.Errorf("kubernetes: process types %q and %q both become %q", other, t.Name, full)
		}
		seen[full] = t.Name
	}
	if d.Release != nil {
		// The Job controller copies the Job's name into a label value,
		// which is limited to 63 characters.
		if job := (KubeData{Data: d}).ReleaseJob(); !dnsLabel().MatchString(job) || len(job) > 63 {
			return fmt.Errorf("kubernetes: the release Job's name %q is not a valid object name: it must start with a letter and be at most 63 lower-case letters, digits and '-' (choose a shorter name with -a)", job)
		}
	}
	return nil
}

// A checker says whether a format can carry each string of an app
// exactly, so that the error names what cannot be exported (and never
// shows an env-file value) before any template runs. Each function returns
// the reason, to complete "it ...".
type checker struct {
	command func(string) error // a Procfile command
	value   func(Var) error    // an env-file value
	plain   func(string) error // the root, user and log directory
}

func ignoreErr[T any](f func(string) (T, error)) func(string) error {
	return func(s string) error { _, err := f(s); return err }
}

var checkers = map[string]checker{
	"systemd": {
		command: ignoreErr(systemdArg),
		value:   func(v Var) error { _, err := envFileValue(v.Value); return err },
		plain:   plainLine,
	},
	"supervisord": {
		command: ignoreErr(supervisorArg),
		value:   func(v Var) error { return supervisorEnvValue(v.Value) },
		plain:   ignoreErr(supervisorValue),
	},
	"runit": {
		value: func(v Var) error { _, err := envFileValue(v.Value); return err },
		plain: plainLine,
	},
	"launchd": {
		command: ignoreErr(xmlText),
		value:   func(v Var) error { _, err := xmlText(v.Value); return err },
		plain:   ignoreErr(xmlText),
	},
	"kubernetes": {
		command: ignoreErr(yamlString),
		value: func(v Var) error {
			if v.Secret { // base64 carries any bytes
				return nil
			}
			_, err := yamlString(v.Value)
			return err
		},
		plain: ignoreErr(yamlString),
	},
}

func (c checker) check(format string, d *Data) error {
	if c.command != nil {
		commands := make([]Type, 0, len(d.Types)+1)
		if d.Release != nil {
			commands = append(commands, Type{Name: d.Release.Type, Command: d.Release.Command})
		}
		for _, t := range append(commands, d.Types...) {
			if err := c.command(t.Command); err != nil {
				return fmt.Errorf("the command of %s cannot be written for %s: it %w", t.Name, format, err)
			}
		}
	}
	if c.value != nil {
		for _, v := range d.Config {
			if err := c.value(v); err != nil {
				return fmt.Errorf("the value of %s cannot be written for %s: it %w", v.Key, format, err)
			}
		}
	}
	if c.plain != nil {
		plain := []struct{ what, s string }{
			{"the app root", d.Root}, {"the user", d.User}, {"the log directory", d.LogDir},
		}
		switch format {
		case "systemd": // the EnvironmentFile= path
			plain = append(plain, struct{ what, s string }{"the export directory", d.Dir})
		case "kubernetes":
			plain = append(plain, struct{ what, s string }{"the image", d.Image})
		}
		for _, p := range plain {
			if p.s == "" {
				continue
			}
			if err := c.plain(p.s); err != nil {
				return fmt.Errorf("%s cannot be written for %s: it %w", p.what, format, err)
			}
		}
	}
	return nil
}
