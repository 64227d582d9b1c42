package export

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/procman/procman/procfile"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// The golden files hold this placeholder where the export directory's
// absolute path appears (systemd's EnvironmentFile=).
const dirPlaceholder = "/etc/EXPORT-DIR"

const sampleProcfile = `web: bundle exec puma -p $PORT -C config/puma.rb
worker: bundle exec sidekiq -c 5 ; echo "done # not a comment" 100%
clock: ruby clock.rb
release: bundle exec rails db:migrate
`

// sampleApp is the app behind the golden files: web=2,worker=1,clock=0 and
// the release phase, so three instances, a type that is not exported and a
// one-shot.
func sampleApp(t testing.TB) App {
	t.Helper()
	p, err := procfile.Parse(strings.NewReader(sampleProcfile), "Procfile")
	if err != nil {
		t.Fatal(err)
	}
	f, err := procfile.ParseFormation("web=2,worker=1,clock=0,release=1")
	if err != nil {
		t.Fatal(err)
	}
	instances, err := procfile.Instances(p, f, 5000)
	if err != nil {
		t.Fatal(err)
	}
	return App{
		Name:      "shop",
		Root:      "/srv/shop",
		User:      "shop",
		LogDir:    "/var/log/shop",
		Grace:     7500 * time.Millisecond,
		Instances: instances,
		Config: map[string]string{
			"RAILS_ENV":       "production",
			"DATABASE_URL":    "postgres://shop:hunter2@db.internal/shop",
			"SECRET_KEY_BASE": "0123abcd",
			"GREETING":        "hello, 'nice' world = 1",
			"ODD":             `a$b` + "`c`" + `\d 50%`,
			"PORT":            "9999", // the base port only: never exported
		},
		Image:    "registry.example.com/shop:1.4",
		Procfile: "Procfile",
	}
}

// readTree returns every regular file under dir by slash-separated
// relative name, with its mode, and the export directory's path replaced by
// dirPlaceholder.
func readTree(t *testing.T, dir string) (map[string][]byte, map[string]fs.FileMode) {
	t.Helper()
	files := map[string][]byte{}
	modes := map[string]fs.FileMode{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = bytes.ReplaceAll(data, []byte(dir), []byte(dirPlaceholder))
		modes[filepath.ToSlash(rel)] = info.Mode().Perm()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, modes
}

func modeList(modes map[string]fs.FileMode) string {
	var lines []string
	for name, m := range modes {
		lines = append(lines, fmt.Sprintf("%04o %s", m, name))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

// TestGolden exports the sample app in every format and compares every
// file, and every file's mode, with testdata/golden. Run with -update to
// rewrite them after a deliberate change, and review the diff.
func TestGolden(t *testing.T) {
	for _, format := range Formats() {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			if err := Write(format, dir, sampleApp(t), ""); err != nil {
				t.Fatal(err)
			}
			have, modes := readTree(t, dir)
			golden := filepath.Join("testdata", "golden", format)
			modesFile := golden + ".modes"
			if *update {
				if err := os.RemoveAll(golden); err != nil {
					t.Fatal(err)
				}
				for name, data := range have {
					p := filepath.Join(golden, filepath.FromSlash(name))
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.WriteFile(modesFile, []byte(modeList(modes)), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, _ := readTree(t, golden)
			for name := range want {
				if _, ok := have[name]; !ok {
					t.Errorf("%s: not written", name)
				}
			}
			for name, data := range have {
				w, ok := want[name]
				if !ok {
					t.Errorf("%s: written but not in %s", name, golden)
					continue
				}
				if !bytes.Equal(data, w) {
					t.Errorf("%s differs from the golden file (go test -update rewrites it)\nhave:\n%s\nwant:\n%s", name, data, w)
				}
			}
			wantModes, err := os.ReadFile(modesFile)
			if err != nil {
				t.Fatal(err)
			}
			if got := modeList(modes); got != string(wantModes) {
				t.Errorf("modes:\nhave:\n%swant:\n%s", got, wantModes)
			}
		})
	}
}

// TestModes states the rule the golden .modes files follow: whatever
// carries env-file config is 0600, scripts 0755, the rest 0644.
func TestModes(t *testing.T) {
	for _, format := range Formats() {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			if err := Write(format, dir, sampleApp(t), ""); err != nil {
				t.Fatal(err)
			}
			files, modes := readTree(t, dir)
			for name, data := range files {
				carries := bytes.Contains(data, []byte("0123abcd")) ||
					bytes.Contains(data, []byte(base64Std("0123abcd"))) ||
					bytes.Contains(data, []byte("production"))
				switch {
				case carries && modes[name] != 0o600:
					t.Errorf("%s carries config but has mode %04o", name, modes[name])
				case !carries && modes[name]&0o077 != 0o044 && modes[name] != 0o755:
					t.Errorf("%s has mode %04o", name, modes[name])
				}
			}
		})
	}
}

// TestModesWithoutConfig: without env-file config nothing needs hiding.
func TestModesWithoutConfig(t *testing.T) {
	for _, format := range Formats() {
		t.Run(format, func(t *testing.T) {
			app := sampleApp(t)
			app.Config = nil
			dir := t.TempDir()
			if err := Write(format, dir, app, ""); err != nil {
				t.Fatal(err)
			}
			_, modes := readTree(t, dir)
			for name, m := range modes {
				if m != 0o644 && m != 0o755 {
					t.Errorf("%s: mode %04o", name, m)
				}
			}
		})
	}
}

// TestReexportIdentical: the same inputs give byte-identical files, into
// the same directory and into a fresh one.
func TestReexportIdentical(t *testing.T) {
	for _, format := range Formats() {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			if err := Write(format, dir, sampleApp(t), ""); err != nil {
				t.Fatal(err)
			}
			first, firstModes := readTree(t, dir)
			if err := Write(format, dir, sampleApp(t), ""); err != nil {
				t.Fatal(err)
			}
			second, secondModes := readTree(t, dir)
			if !equalTrees(first, second) || modeList(firstModes) != modeList(secondModes) {
				t.Errorf("re-export into the same directory changed the files")
			}
		})
	}
}

func equalTrees(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for name, data := range a {
		if !bytes.Equal(data, b[name]) {
			return false
		}
	}
	return true
}

// TestReexportReplacesOnlyOwnFiles: shrinking the formation removes the
// instances no longer exported; a user's files, another app's export and
// files that merely share the prefix stay.
func TestReexportReplacesOnlyOwnFiles(t *testing.T) {
	for _, format := range Formats() {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			keep := map[string]string{
				"notes.txt":              "mine",
				"shop-notes.txt":         "mine too, despite the prefix",
				"shopping.service":       "another app's unit",
				".procman-export-shopx":  "another app's manifest\nshop.target\n",
				"shop-web-1/mine.txt":    "a user's file in an instance dir",
				"unrelated/shop.service": "deeper",
			}
			for name, data := range keep {
				p := filepath.Join(dir, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			app := sampleApp(t)
			if err := Write(format, dir, app, ""); err != nil {
				t.Fatal(err)
			}
			// web=1, worker=0: web.2 and worker.1 go.
			app.Instances = app.Instances[:1]
			if err := Write(format, dir, app, ""); err != nil {
				t.Fatal(err)
			}
			have, _ := readTree(t, dir)
			for name, data := range keep {
				if string(have[name]) != data {
					t.Errorf("%s was changed or removed", name)
				}
			}
			fresh := t.TempDir()
			if err := Write(format, fresh, app, ""); err != nil {
				t.Fatal(err)
			}
			want, _ := readTree(t, fresh)
			for name := range keep {
				delete(have, name)
			}
			for name := range have {
				if _, ok := want[name]; !ok {
					t.Errorf("%s is left over from the first export", name)
				}
			}
			for name, data := range want {
				if got := have[name]; !bytes.Equal(bytes.ReplaceAll(got, []byte(dir), []byte(fresh)), data) &&
					!bytes.Equal(got, data) {
					t.Errorf("%s differs from a fresh export", name)
				}
			}
		})
	}
}

func TestWriteErrors(t *testing.T) {
	base := sampleApp(t)
	tests := []struct {
		name   string
		format string
		change func(*App)
		want   string
	}{
		{"unknown format", "upstart", nil, `unknown export format "upstart" (known: kubernetes, launchd, runit, supervisord, systemd)`},
		{"kubernetes without image", "kubernetes", func(a *App) { a.Image = "" }, "kubernetes export needs --image IMAGE"},
		{"bad app name", "systemd", func(a *App) { a.Name = "my app" }, `app name "my app" must start`},
		{"relative root", "systemd", func(a *App) { a.Root = "srv/shop" }, `app root "srv/shop" is not an absolute path`},
		{"no instances", "systemd", func(a *App) { a.Instances = nil }, "the formation runs no process"},
		{"bad key", "systemd", func(a *App) { a.Config = map[string]string{"A.B": "hidden-value"} }, `env file variable "A.B" cannot be exported`},
		{"supervisord both quotes", "supervisord", func(a *App) { a.Config = map[string]string{"PASSWORD": `it's "x" ok`} },
			"the value of PASSWORD cannot be written for supervisord: it holds both kinds of quote"},
		{"supervisord comment", "supervisord", func(a *App) { a.Config = map[string]string{"PASSWORD": "a ;b"} },
			"the value of PASSWORD cannot be written for supervisord: it has a ';' or '#' after a blank"},
		{"launchd control char", "launchd", func(a *App) { a.Config = map[string]string{"TOKEN": "a\x01b"} },
			"the value of TOKEN cannot be written for launchd: it contains a character that XML cannot carry"},
		{"systemd bad utf-8", "systemd", func(a *App) { a.Instances[0].Command = "echo \xff" },
			"the command of web cannot be written for systemd: it is not valid UTF-8"},
		{"kubernetes name", "kubernetes", func(a *App) { a.Name = "2048" }, `kubernetes: "2048-web" (app "2048", process type "web") is not a valid object name`},
		{"kubernetes release job name", "kubernetes", func(a *App) { a.Name = strings.Repeat("s", 45) },
			`kubernetes: the release Job's name "` + strings.Repeat("s", 45) + `-release-`},
		{"kubernetes collision", "kubernetes", func(a *App) {
			a.Instances[0].Name = "web_a"
			a.Instances[1].Name = "web_a"
			a.Instances[2].Name = "web-a"
		}, `kubernetes: process types "web_a" and "web-a" both become "shop-web-a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := base
			app.Instances = append([]procfile.Instance(nil), base.Instances...)
			if tt.change != nil {
				tt.change(&app)
			}
			dir := filepath.Join(t.TempDir(), "out")
			err := Write(tt.format, dir, app, "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("have error %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			for _, v := range app.Config {
				if v != "" && strings.Contains(err.Error(), v) {
					t.Errorf("error %q shows a config value", err)
				}
			}
			if _, err := os.Stat(dir); err == nil {
				t.Errorf("%s was created despite the error", dir)
			}
		})
	}
}

func TestWriteUnwritableDir(t *testing.T) {
	// A path under a regular file fails even for root, who may write
	// anywhere else.
	parent := t.TempDir()
	blocker := filepath.Join(parent, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := Write("systemd", filepath.Join(blocker, "out"), sampleApp(t), "")
	want := "cannot create export directory " + filepath.Join(blocker, "out") + ": not a directory"
	if err == nil || err.Error() != want {
		t.Fatalf("have %v, want %q", err, want)
	}
}

func TestUserTemplate(t *testing.T) {
	tmpl := t.TempDir()
	text := "{{.App}} {{.Instance.Label}} {{.Instance.Port}}{{range .Config}} {{.Key}}{{end}}\n"
	if err := os.WriteFile(filepath.Join(tmpl, "process.service.tmpl"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Write("systemd", dir, sampleApp(t), tmpl); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "shop-web-2.service"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "shop web.2 5001 DATABASE_URL GREETING ODD RAILS_ENV SECRET_KEY_BASE\n"; string(got) != want {
		t.Errorf("have %q, want %q", got, want)
	}
	// The target was not overridden: the built-in one is used.
	if data, err := os.ReadFile(filepath.Join(dir, "shop.target")); err != nil || !bytes.Contains(data, []byte("Wants=shop-web-2.service")) {
		t.Errorf("built-in target not written: %v %s", err, data)
	}

	if err := os.WriteFile(filepath.Join(tmpl, "app.target.tmpl"), []byte("{{.Nope}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = Write("systemd", t.TempDir(), sampleApp(t), tmpl)
	if err == nil || !strings.HasPrefix(err.Error(), "template app.target.tmpl: ") || strings.Contains(err.Error(), "\n") {
		t.Errorf("have %v, want a one-line template error", err)
	}
}

func TestDefaultName(t *testing.T) {
	tests := []struct{ root, want string }{
		{"/srv/shop", "shop"},
		{"/home/me/My App", "My-App"},
		{"/home/me/api.v2/", "api.v2"},
		{"/home/me/.hidden", "hidden"},
		{"/", "app"},
		{"/home/me/café", "caf--"},
	}
	for _, tt := range tests {
		if got := DefaultName(tt.root); got != tt.want {
			t.Errorf("DefaultName(%q) = %q, want %q", tt.root, got, tt.want)
		}
	}
}

func TestIsSecret(t *testing.T) {
	tests := []struct {
		key, value string
		want       bool
	}{
		{"RAILS_ENV", "production", false},
		{"SECRET_KEY_BASE", "x", true},
		{"stripe_api_key", "x", true},
		{"GITHUB_TOKEN", "x", true},
		{"DB_PASSWORD", "x", true},
		{"PRIVATE_PEM", "x", true},
		{"AWS_CREDENTIALS", "x", true},
		{"DATABASE_URL", "postgres://u:pw@host/db", true},
		{"DATABASE_URL", "postgres://u@host/db", false},
		{"REDIS_URL", "redis://host:6379", false},
		{"WEB_CONCURRENCY", "3", false},
	}
	for _, tt := range tests {
		if got := IsSecret(tt.key, tt.value); got != tt.want {
			t.Errorf("IsSecret(%q, %q) = %v, want %v", tt.key, tt.value, got, tt.want)
		}
	}
}

func TestOwnedBy(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"shop.target", true},
		{"shop-web-1.service", true},
		{"shop-web-1/log/run", true},
		{"shop", true},
		{"shopping.service", false},
		{"Shop-web-1.service", false},
		{"../shop-web-1.service", false},
		{"/etc/shop-web-1.service", false},
		{"shop-web-1/../../x", false},
		{"notes.txt", false},
	}
	for _, tt := range tests {
		if got := ownedBy("shop", tt.name); got != tt.want {
			t.Errorf("ownedBy(shop, %q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
