// Package chart checks the Helm chart against config/ and against itself: helm lint,
// the drift test, its README, the version pins, its guards, and kube-score on the
// chart and on the installer. Nothing here needs a control plane (test/install
// installs the chart into one).
package chart

import (
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/voipbin/credential-operator/test/manifests"
)

// TestHelmLint runs helm lint --strict with the defaults and with every optional
// part switched on.
func TestHelmLint(t *testing.T) {
	for name, args := range map[string][]string{
		"defaults": nil,
		"everything on": {"--set", "watchNamespaces={apps,billing}", "--set", "metrics.tls.certManager.enabled=true",
			"--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true", "--set", "grafanaDashboard.enabled=true"},
		"every value set": {"-f", manifests.Path("test/chart/testdata/all-values.yaml")},
	} {
		t.Run(name, func(t *testing.T) {
			if out, err := manifests.Run("helm", append([]string{"lint", "--strict", manifests.Path(manifests.ChartDir)}, args...)...); err != nil {
				t.Errorf("%v\n%s", err, out)
			}
		})
	}
}

// readmeKeys returns the keys of the README's values table (the first column, in
// backquotes).
func readmeKeys(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(manifests.Path(manifests.ChartDir + "/README.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\|")
	var keys []string
	for _, m := range row.FindAllStringSubmatch(string(data), -1) {
		keys = append(keys, m[1])
	}
	return keys
}

// valueKeys returns the keys of values.yaml as dotted paths. A map is descended into
// unless the README documents it as a whole (resources, labels: their keys are the
// user's); a list, a scalar or an empty map is a key of its own.
func valueKeys(t *testing.T, documented []string) []string {
	t.Helper()
	data, err := os.ReadFile(manifests.Path(manifests.ChartDir + "/values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	var keys []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			path := prefix + k
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 && !slices.Contains(documented, path) {
				walk(path+".", sub)
				continue
			}
			keys = append(keys, path)
		}
	}
	walk("", values)
	sort.Strings(keys)
	return keys
}

// TestReadmeDocumentsEveryValue checks that the chart's README table has a row for
// every key of values.yaml, and no row for a key that does not exist.
func TestReadmeDocumentsEveryValue(t *testing.T) {
	documented := readmeKeys(t)
	values := valueKeys(t, documented)
	if len(values) < 40 {
		t.Fatalf("only %d keys found in values.yaml: %v", len(values), values)
	}
	for _, k := range values {
		if !slices.Contains(documented, k) {
			t.Errorf("values.yaml has %s; the README's table does not document it", k)
		}
	}
	for _, k := range documented {
		if !slices.Contains(values, k) {
			t.Errorf("the README documents %s, which values.yaml does not have", k)
		}
	}
}

// TestVersionsPinned checks that VERSION, the chart's appVersion and version, and
// config/'s image tag agree, and that neither layout uses the tag latest.
func TestVersionsPinned(t *testing.T) {
	raw, err := os.ReadFile(manifests.Path("VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	version := strings.TrimSpace(string(raw))
	if !regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`).MatchString(version) {
		t.Fatalf("VERSION %q is not v<semver>", version)
	}
	data, err := os.ReadFile(manifests.Path(manifests.ChartDir + "/Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart struct{ Version, AppVersion string }
	if err := yaml.Unmarshal(data, &chart); err != nil {
		t.Fatal(err)
	}
	if chart.AppVersion != version || chart.Version != strings.TrimPrefix(version, "v") {
		t.Errorf("Chart.yaml has version %q and appVersion %q; VERSION is %q", chart.Version, chart.AppVersion, version)
	}
	in := render(t, "config/default")
	for layout, objs := range map[string][]*unstructured.Unstructured{"chart": in.chart, "config/": in.kustomize} {
		var dep appsv1.Deployment
		if err := convertNamed(objs, "Deployment", managerName, &dep); err != nil {
			t.Fatal(err)
		}
		if image := dep.Spec.Template.Spec.Containers[0].Image; !strings.HasSuffix(image, ":"+version) {
			t.Errorf("%s: image %s, want the tag %s", layout, image, version)
		}
	}
}

// TestChartRefuses checks the chart's guards: values that would install something
// unsafe fail the render with a message saying why.
func TestChartRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		args       []string
	}{
		{"the tag latest", "image.tag latest is not allowed", []string{"--set", "image.tag=latest"}},
		{"a grace period under the API timeout", "must exceed the API timeout (15s)", []string{"--set", "terminationGracePeriodSeconds=20"}},
		{"a grace period under a raised API timeout", "must exceed the API timeout (60s)", []string{"--set", "apiTimeout=1m"}},
		{"an API timeout it cannot read", "use whole seconds or minutes", []string{"--set", "apiTimeout=1h30m"}},
		{"a PDB that blocks every drain", "would block every node drain", []string{"--set", "replicaCount=1"}},
		{"a ServiceMonitor that cannot verify the certificate", "verifies the metrics certificate", []string{"--set", "serviceMonitor.enabled=true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := manifests.HelmTemplate(manifests.Namespace, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("helm template %v: %v; want an error with %q", tc.args, err, tc.want)
			}
		})
	}
	// Controls: the same values, made safe, render.
	for _, args := range [][]string{
		{"--set", "apiTimeout=1m", "--set", "terminationGracePeriodSeconds=75"},
		{"--set", "replicaCount=1", "--set", "podDisruptionBudget.enabled=false"},
		{"--set", "serviceMonitor.enabled=true", "--set", "metrics.tls.existingSecret=metrics-tls"},
	} {
		if _, err := manifests.HelmTemplate(manifests.Namespace, args...); err != nil {
			t.Errorf("helm template %v: %v", args, err)
		}
	}
}

// TestCRDKept checks that helm uninstall leaves the CRD (and so every
// VoipbinCredential and its Secret), and that crds.keep=false lets it go.
func TestCRDKept(t *testing.T) {
	for keep, want := range map[string]string{"true": "keep", "false": ""} {
		objs, err := manifests.HelmTemplate(manifests.Namespace, "--set", "crds.keep="+keep)
		if err != nil {
			t.Fatal(err)
		}
		crd := manifests.Find(objs, "CustomResourceDefinition", "", "voipbincredentials.credentials.voipbin.net")
		if crd == nil {
			t.Fatal("no CRD in the chart")
		}
		if got := crd.GetAnnotations()["helm.sh/resource-policy"]; got != want {
			t.Errorf("crds.keep=%s: helm.sh/resource-policy %q, want %q", keep, got, want)
		}
	}
	objs, err := manifests.HelmTemplate(manifests.Namespace, "--set", "crds.enabled=false")
	if err != nil {
		t.Fatal(err)
	}
	if len(manifests.OfKind(objs, "CustomResourceDefinition")) != 0 {
		t.Error("crds.enabled=false still renders the CRD")
	}
}

// TestImage checks the image the chart runs: the appVersion by default, a tag or a
// digest when set.
func TestImage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "ghcr.io/voipbin/credential-operator:v"},
		{[]string{"--set", "image.tag=v9.9.9"}, "ghcr.io/voipbin/credential-operator:v9.9.9"},
		{[]string{"--set", "image.repository=example.com/vco", "--set", "image.digest=sha256:0123"}, "example.com/vco@sha256:0123"},
	} {
		objs, err := manifests.HelmTemplate(manifests.Namespace, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		var dep appsv1.Deployment
		if err := convertNamed(objs, "Deployment", managerName, &dep); err != nil {
			t.Fatal(err)
		}
		if got := dep.Spec.Template.Spec.Containers[0].Image; !strings.HasPrefix(got, tc.want) {
			t.Errorf("%v: image %s, want %s", tc.args, got, tc.want)
		}
	}
}
