package export

import (
	"testing"

	"github.com/procman/procman/procfile"
)

// TestNextStep: what the CLI prints after "next: ". Where the format cannot
// order the release phase itself, the line runs it first; for Kubernetes,
// the Job and the config it reads go first, and the rest only once it has
// completed.
func TestNextStep(t *testing.T) {
	withRelease := sampleApp(t)
	without := sampleApp(t)
	without.Instances = nil
	for _, in := range withRelease.Instances {
		if in.Name != procfile.Release {
			without.Instances = append(without.Instances, in)
		}
	}
	otherProcfile := sampleApp(t)
	otherProcfile.Procfile = "deploy/Procfile.prod"
	spaced := without
	job := KubeData{Data: mustData(t, withRelease)}.ReleaseJob()

	tests := []struct {
		format, dir string
		app         App
		want        string
	}{
		{"systemd", "/etc/systemd/system", withRelease,
			"systemctl daemon-reload && systemctl enable --now shop.target"},
		{"systemd", "/srv/units", without,
			"systemctl link /srv/units/shop.target /srv/units/shop-*.service && systemctl daemon-reload && systemctl enable --now shop.target (or export into /etc/systemd/system)"},
		{"systemd", "/srv/my units", spaced,
			"systemctl link '/srv/my units'/shop.target '/srv/my units'/shop-*.service && systemctl daemon-reload && systemctl enable --now shop.target (or export into /etc/systemd/system)"},
		{"supervisord", "/etc/supervisor/conf.d", without,
			"supervisorctl reread && supervisorctl update"},
		{"supervisord", "/etc/supervisor/conf.d", withRelease,
			"procman run release && supervisorctl reread && supervisorctl update"},
		{"supervisord", "/srv/conf", otherProcfile,
			"procman run -f deploy/Procfile.prod release && supervisorctl reread && supervisorctl update (with /srv/conf/*.conf in supervisord's [include] files)"},
		{"runit", "/etc/sv/shop", without,
			"ln -s /etc/sv/shop/shop-* /etc/service/ (runsvdir starts each service directory)"},
		{"runit", "/etc/sv/shop", withRelease,
			"procman run release && ln -s /etc/sv/shop/shop-* /etc/service/ (runsvdir starts each service directory but shop-release-1, which runs only on sv once)"},
		{"launchd", "/Library/LaunchDaemons", withRelease,
			"procman run release && launchctl load /Library/LaunchDaemons/shop-*.plist (export into ~/Library/LaunchAgents, or /Library/LaunchDaemons as root)"},
		{"kubernetes", "/srv/k8s", without,
			"kubectl apply -f /srv/k8s"},
		{"kubernetes", "/srv/k8s", withRelease,
			"kubectl apply -f /srv/k8s/shop-configmap.yaml -f /srv/k8s/shop-secret.yaml -f /srv/k8s/shop-release-job.yaml && kubectl wait --for=condition=complete --timeout=10m job/" + job + " && kubectl apply -f /srv/k8s"},
		{"upstart", "/etc/init", withRelease, ""},
	}
	for _, tt := range tests {
		if got := NextStep(tt.format, tt.dir, tt.app); got != tt.want {
			t.Errorf("NextStep(%s, %s):\nhave %s\nwant %s", tt.format, tt.dir, got, tt.want)
		}
	}
}

func mustData(t *testing.T, app App) *Data {
	t.Helper()
	d, err := newData(app, "/srv/k8s")
	if err != nil {
		t.Fatal(err)
	}
	return d
}
