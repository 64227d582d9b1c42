package export

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// NextStep returns what to run after Write(format, dir, app, ...) to start
// the app, as one line without a trailing newline, for the CLI to print
// after "next: ". When the app has a release phase, the line runs it first
// where the format cannot order it itself: `procman run release` before
// loading supervisord, runit and launchd files, and the release Job,
// waited for, before the rest of a Kubernetes export. It returns "" for an
// unknown format or an app that Write would refuse.
func NextStep(format, dir string, app App) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	d, err := newData(app, abs)
	if err != nil {
		return ""
	}
	name := d.App
	q := shellWord(abs)
	// Where the format cannot run the release before the others, the
	// user does, with the same Procfile.
	release := ""
	if d.Release != nil {
		release = "procman run release && "
		if app.Procfile != "" && app.Procfile != "Procfile" {
			release = "procman run -f " + shellWord(app.Procfile) + " release && "
		}
	}
	switch format {
	case "systemd":
		// The target starts the release unit first by itself.
		start := fmt.Sprintf("systemctl daemon-reload && systemctl enable --now %s.target", name)
		if slices.Contains([]string{"/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"}, abs) {
			return start
		}
		return fmt.Sprintf("systemctl link %s/%s.target %s/%s-*.service && %s (or export into /etc/systemd/system)", q, name, q, name, start)
	case "supervisord":
		if abs == "/etc/supervisor/conf.d" {
			return release + "supervisorctl reread && supervisorctl update"
		}
		return fmt.Sprintf("%ssupervisorctl reread && supervisorctl update (with %s/*.conf in supervisord's [include] files)", release, q)
	case "runit":
		if d.Release != nil {
			return fmt.Sprintf("%sln -s %s/%s-* /etc/service/ (runsvdir starts each service directory but %s, which runs only on sv once)", release, q, name, d.Release.Name)
		}
		return fmt.Sprintf("ln -s %s/%s-* /etc/service/ (runsvdir starts each service directory)", q, name)
	case "launchd":
		return fmt.Sprintf("%slaunchctl load %s/%s-*.plist (export into ~/Library/LaunchAgents, or /Library/LaunchDaemons as root)", release, q, name)
	case "kubernetes":
		if d.Release == nil {
			return "kubectl apply -f " + q
		}
		// The Job's pod reads the ConfigMap and the Secret, and the
		// Deployments must not start before it has completed.
		k := KubeData{Data: d}
		var first []string
		if k.ConfigMap() != "" {
			first = append(first, "-f "+shellWord(filepath.Join(abs, name+"-configmap.yaml")))
		}
		if k.Secret() != "" {
			first = append(first, "-f "+shellWord(filepath.Join(abs, name+"-secret.yaml")))
		}
		first = append(first, "-f "+shellWord(filepath.Join(abs, name+"-release-job.yaml")))
		return fmt.Sprintf("kubectl apply %s && kubectl wait --for=condition=complete --timeout=10m job/%s && kubectl apply -f %s",
			strings.Join(first, " "), k.ReleaseJob(), q)
	}
	return ""
}

// shellWord quotes s for a command line a user pastes, only when it needs it.
func shellWord(s string) string {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/._-+=:,@%", c)) {
			return shQuote(s)
		}
	}
	if s == "" {
		return "''"
	}
	return s
}
