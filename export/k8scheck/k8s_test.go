package k8scheck

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/procman/procman/export"
	"github.com/procman/procman/procfile"
)

const procfileText = `web: bundle exec puma -p $PORT -C config/puma.rb
worker: bundle exec sidekiq -c 5 ; echo "$(date) $$ ${HOME}" 100%
api_v2: ./api --listen ":${PORT}"
clock: ruby clock.rb
release: bundle exec rails db:migrate && echo "$(date) $$ migrated"
`

var config = map[string]string{
	"RAILS_ENV":        "production",
	"GREETING":         "it's \"quoted\" \\ and $(NOT_EXPANDED) and $$",
	"MULTI_LINE":       "one\n  two\n\nthree\n",
	"CONTROL":          "bell\a tab\t nul-free \x01 end",
	"UNICODE":          "café ☕ \u2028 日本",
	"YAMLISH":          "- not: a list\n? no\n&anchor *alias !tag %",
	"NUMBERISH":        "0123",
	"BOOLISH":          "yes",
	"EMPTY":            "",
	"DATABASE_URL":     "postgres://shop:hunter2@db.internal/shop",
	"SECRET_KEY_BASE":  "0123abcd",
	"STRIPE_API_KEY":   "sk_live_\x00\xff binary is fine in a Secret",
	"GITHUB_TOKEN":     "ghp_x",
	"SMTP_PASSWORD":    "p@ss: word #1",
	"PORT":             "9999", // the base port only: never exported
	"REDIS_URL":        "redis://cache:6379/0",
	"SIDEKIQ_PRIVATE_": "x",
}

// TestKubernetesStrict exports a Procfile for Kubernetes and decodes every
// file strictly (an unknown or duplicate field is an error) into the
// upstream API types, then checks that the formation, ports, commands and
// config arrive where they should.
func TestKubernetesStrict(t *testing.T) {
	p, err := procfile.Parse(strings.NewReader(procfileText), "Procfile")
	if err != nil {
		t.Fatal(err)
	}
	f, err := procfile.ParseFormation("web=3,worker=2,api_v2=1,clock=0,release=2")
	if err != nil {
		t.Fatal(err)
	}
	instances, err := procfile.Instances(p, f, 5000)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	app := export.App{
		Name:      "Shop_App",
		Root:      "/srv/shop",
		Grace:     2500 * time.Millisecond,
		Instances: instances,
		Config:    config,
		Image:     "registry.example.com/shop:1.4",
		Procfile:  "Procfile",
	}
	if err := export.Write("kubernetes", dir, app, ""); err != nil {
		t.Fatal(err)
	}

	o := decodeDir(t, dir)
	check(t, o.deployments, o.services, o.configMaps, o.secrets)
	checkRelease(t, app, o)
}

// objects are the objects of one export, by name.
type objects struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	jobs        map[string]*batchv1.Job
}

// decodeDir decodes every file of an export strictly into the API types.
func decodeDir(t *testing.T, dir string) objects {
	t.Helper()
	deployments := map[string]*appsv1.Deployment{}
	services := map[string]*corev1.Service{}
	configMaps := map[string]*corev1.ConfigMap{}
	secrets := map[string]*corev1.Secret{}
	jobs := map[string]*batchv1.Job{}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range bytes.Split(data, []byte("\n---\n")) {
			var meta struct{ APIVersion, Kind string }
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			switch meta.APIVersion + " " + meta.Kind {
			case "apps/v1 Deployment":
				d := &appsv1.Deployment{}
				strict(t, file, doc, d)
				deployments[d.Name] = d
			case "v1 Service":
				svc := &corev1.Service{}
				strict(t, file, doc, svc)
				services[svc.Name] = svc
			case "v1 ConfigMap":
				cm := &corev1.ConfigMap{}
				strict(t, file, doc, cm)
				configMaps[cm.Name] = cm
			case "v1 Secret":
				sec := &corev1.Secret{}
				strict(t, file, doc, sec)
				secrets[sec.Name] = sec
			case "batch/v1 Job":
				job := &batchv1.Job{}
				strict(t, file, doc, job)
				jobs[job.Name] = job
			default:
				t.Fatalf("%s: unexpected object %q %q", file, meta.APIVersion, meta.Kind)
			}
		}
	}
	return objects{deployments, services, configMaps, secrets, jobs}
}

// checkRelease checks the release phase's Job: one run of the Procfile's
// release command (whatever the formation's count), never restarted, with
// the app's config, and a name that changes with the image and the command
// and not otherwise.
func checkRelease(t *testing.T, app export.App, o objects) {
	if len(o.jobs) != 1 {
		t.Fatalf("have jobs %v, want one", keys(o.jobs))
	}
	var job *batchv1.Job
	for _, j := range o.jobs {
		job = j
	}
	if !strings.HasPrefix(job.Name, "shop-app-release-") {
		t.Errorf("job name %q", job.Name)
	}
	// The Job controller puts the name into a label value.
	for _, msg := range validation.IsDNS1123Label(job.Name) {
		t.Errorf("job name %q: %s", job.Name, msg)
	}
	if _, ok := o.deployments["shop-app-release"]; ok {
		t.Errorf("the release phase is also a Deployment")
	}
	spec := job.Spec
	if spec.BackoffLimit == nil || *spec.BackoffLimit != 0 {
		t.Errorf("backoffLimit %v, want 0", spec.BackoffLimit)
	}
	if spec.Completions != nil || spec.Parallelism != nil || spec.TTLSecondsAfterFinished != nil {
		t.Errorf("completions %v, parallelism %v, ttlSecondsAfterFinished %v: want the defaults (one pod; a Job deleted after a TTL would run again on the next apply)",
			spec.Completions, spec.Parallelism, spec.TTLSecondsAfterFinished)
	}
	pod := spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %q, want Never", pod.RestartPolicy)
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || *g != 3 {
		t.Errorf("terminationGracePeriodSeconds %v, want 3", g)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	want := `bundle exec rails db:migrate && echo "$(date) $$ migrated"`
	if c.Image != app.Image || len(c.Command) != 3 || c.Command[0] != "sh" || c.Command[1] != "-c" || kubeExpand(c.Command[2]) != want {
		t.Errorf("image %q, command %q, want %q and sh -c %q", c.Image, c.Command, app.Image, want)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if !reflect.DeepEqual(env, map[string]string{"PORT": "5400", "PS": "release.1"}) {
		t.Errorf("env %v, want PORT=5400 PS=release.1", env)
	}
	if len(c.EnvFrom) != 2 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != "shop-app-config" ||
		c.EnvFrom[1].SecretRef == nil || c.EnvFrom[1].SecretRef.Name != "shop-app-secrets" {
		t.Errorf("envFrom %+v, want the ConfigMap and the Secret", c.EnvFrom)
	}

	name := func(app export.App) string {
		dir := t.TempDir()
		if err := export.Write("kubernetes", dir, app, ""); err != nil {
			t.Fatal(err)
		}
		jobs := decodeDir(t, dir).jobs
		if len(jobs) != 1 {
			t.Fatalf("have jobs %v, want one", keys(jobs))
		}
		return keys(jobs)[0]
	}
	if again := name(app); again != job.Name {
		t.Errorf("the same export names the Job %q, then %q: kubectl apply would run it again", job.Name, again)
	}
	newImage := app
	newImage.Image = "registry.example.com/shop:1.5"
	if n := name(newImage); n == job.Name {
		t.Errorf("a new image keeps the Job's name %q: it would not run again", n)
	}
	newCommand := app
	newCommand.Instances = append([]procfile.Instance(nil), app.Instances...)
	for i, in := range newCommand.Instances {
		if in.Name == procfile.Release {
			newCommand.Instances[i].Command += " --verbose"
		}
	}
	if n := name(newCommand); n == job.Name {
		t.Errorf("a new release command keeps the Job's name %q: it would not run again", n)
	}
}

// strict decodes one YAML document into obj: an unknown or duplicate field
// is an error, as with kubectl's server-side field validation.
func strict(t *testing.T, file string, doc []byte, obj any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		t.Fatalf("%s does not decode strictly into %T: %v", file, obj, err)
	}
}

func check(t *testing.T, deployments map[string]*appsv1.Deployment, services map[string]*corev1.Service,
	configMaps map[string]*corev1.ConfigMap, secrets map[string]*corev1.Secret) {
	want := []struct {
		name     string
		replicas int32
		port     int
		traffic  bool
		command  string
	}{
		{"shop-app-web", 3, 5000, true, "bundle exec puma -p $PORT -C config/puma.rb"},
		{"shop-app-worker", 2, 5100, false, `bundle exec sidekiq -c 5 ; echo "$(date) $$ ${HOME}" 100%`},
		{"shop-app-api-v2", 1, 5200, true, `./api --listen ":${PORT}"`},
	}
	if len(deployments) != len(want) {
		t.Errorf("have deployments %v, want %d", keys(deployments), len(want))
	}
	for _, w := range want {
		d := deployments[w.name]
		if d == nil {
			t.Errorf("no deployment %s (have %v)", w.name, keys(deployments))
			continue
		}
		for _, msg := range validation.IsDNS1123Label(d.Name) {
			t.Errorf("deployment name %q: %s", d.Name, msg)
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas != w.replicas {
			t.Errorf("%s: replicas %v, want %d", w.name, d.Spec.Replicas, w.replicas)
		}
		for k, v := range d.Spec.Selector.MatchLabels {
			if d.Spec.Template.Labels[k] != v {
				t.Errorf("%s: selector %s=%s does not match the pod labels %v", w.name, k, v, d.Spec.Template.Labels)
			}
			for _, msg := range validation.IsValidLabelValue(v) {
				t.Errorf("%s: label value %q: %s", w.name, v, msg)
			}
		}
		if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g != 3 {
			t.Errorf("%s: terminationGracePeriodSeconds %v, want 3", w.name, g)
		}
		cs := d.Spec.Template.Spec.Containers
		if len(cs) != 1 {
			t.Fatalf("%s: %d containers", w.name, len(cs))
		}
		c := cs[0]
		if c.Image != "registry.example.com/shop:1.4" {
			t.Errorf("%s: image %q", w.name, c.Image)
		}
		for _, msg := range validation.IsDNS1123Label(c.Name) {
			t.Errorf("%s: container name %q: %s", w.name, c.Name, msg)
		}
		// Kubernetes turns $$ into $ in a command and expands $(VAR):
		// what the shell gets must be the Procfile's command.
		if len(c.Command) != 3 || c.Command[0] != "sh" || c.Command[1] != "-c" || kubeExpand(c.Command[2]) != w.command {
			t.Errorf("%s: command %q runs %q, want sh -c %q", w.name, c.Command, kubeExpand(c.Command[len(c.Command)-1]), w.command)
		}
		if len(c.Env) != 1 || c.Env[0].Name != "PORT" || c.Env[0].Value != strconv.Itoa(w.port) {
			t.Errorf("%s: env %+v, want PORT=%d", w.name, c.Env, w.port)
		}
		var refs []string
		for _, from := range c.EnvFrom {
			switch {
			case from.ConfigMapRef != nil:
				refs = append(refs, "configmap/"+from.ConfigMapRef.Name)
				if configMaps[from.ConfigMapRef.Name] == nil {
					t.Errorf("%s: envFrom names a missing ConfigMap %s", w.name, from.ConfigMapRef.Name)
				}
			case from.SecretRef != nil:
				refs = append(refs, "secret/"+from.SecretRef.Name)
				if secrets[from.SecretRef.Name] == nil {
					t.Errorf("%s: envFrom names a missing Secret %s", w.name, from.SecretRef.Name)
				}
			}
		}
		if got := strings.Join(refs, " "); got != "configmap/shop-app-config secret/shop-app-secrets" {
			t.Errorf("%s: envFrom %s", w.name, got)
		}
		if w.traffic {
			if len(c.Ports) != 1 || c.Ports[0].ContainerPort != int32(w.port) || c.Ports[0].Name != "http" {
				t.Errorf("%s: ports %+v, want http %d", w.name, c.Ports, w.port)
			}
		} else if len(c.Ports) != 0 {
			t.Errorf("%s: ports %+v, want none", w.name, c.Ports)
		}
	}

	if len(services) != 1 {
		t.Errorf("have services %v, want only shop-app-web", keys(services))
	}
	if s, d := services["shop-app-web"], deployments["shop-app-web"]; s == nil || d == nil {
		t.Errorf("no service or deployment shop-app-web")
	} else {
		for _, msg := range validation.IsDNS1035Label(s.Name) {
			t.Errorf("service name %q: %s", s.Name, msg)
		}
		if !reflect.DeepEqual(s.Spec.Selector, d.Spec.Template.Labels) {
			t.Errorf("service selector %v, pod labels %v", s.Spec.Selector, d.Spec.Template.Labels)
		}
		if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Port != 80 ||
			s.Spec.Ports[0].TargetPort != intstr.FromString("http") {
			t.Errorf("service ports %+v", s.Spec.Ports)
		}
	}

	plain, secret := map[string]string{}, map[string]string{}
	for k, v := range config {
		if k == "PORT" {
			continue
		}
		if export.IsSecret(k, v) {
			secret[k] = v
		} else {
			plain[k] = v
		}
	}
	if cm := configMaps["shop-app-config"]; cm == nil {
		t.Errorf("no ConfigMap shop-app-config (have %v)", keys(configMaps))
	} else {
		if !reflect.DeepEqual(cm.Data, plain) {
			t.Errorf("ConfigMap data:\nhave %q\nwant %q", cm.Data, plain)
		}
		for k := range cm.Data {
			for _, msg := range validation.IsConfigMapKey(k) {
				t.Errorf("ConfigMap key %q: %s", k, msg)
			}
		}
	}
	if s := secrets["shop-app-secrets"]; s == nil {
		t.Errorf("no Secret shop-app-secrets (have %v)", keys(secrets))
	} else {
		have := map[string]string{}
		for k, v := range s.Data {
			have[k] = string(v)
		}
		if !reflect.DeepEqual(have, secret) {
			t.Errorf("Secret data:\nhave %q\nwant %q", have, secret)
		}
		if s.Type != corev1.SecretTypeOpaque {
			t.Errorf("Secret type %q", s.Type)
		}
	}
	for _, want := range []string{"DATABASE_URL", "SECRET_KEY_BASE", "STRIPE_API_KEY", "GITHUB_TOKEN", "SMTP_PASSWORD", "SIDEKIQ_PRIVATE_"} {
		if _, ok := secret[want]; !ok {
			t.Errorf("%s should count as secret", want)
		}
	}
}

// kubeExpand applies what Kubernetes does to a container's command: $$
// becomes $ and $(NAME) of a defined variable is replaced. Only PORT is
// defined in the container's env, and envFrom variables are too, so any
// $(NAME) left unescaped would be a bug; it is kept to show in the diff.
func kubeExpand(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '$' && i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if s[i] == '$' && i+1 < len(s) && s[i+1] == '(' {
			b.WriteString("<UNESCAPED $(>")
			i++
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
