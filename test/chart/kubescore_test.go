package chart

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voipbin/credential-operator/test/manifests"
)

// kubeScore scores a manifest file and returns the lines kube-score marks
// CRITICAL or WARNING. kube-score's ignore annotations are disabled: nothing is
// waved through.
func kubeScore(t *testing.T, file string) (critical, warning []string) {
	t.Helper()
	// kube-score exits 1 when it finds a CRITICAL: the lines say which.
	out, _ := manifests.Run("kube-score", "score", "--output-format", "ci", "--disable-ignore-checks-annotations", file)
	if !strings.Contains(string(out), "[OK]") {
		t.Fatalf("kube-score scored nothing in %s:\n%s", file, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "[CRITICAL]"):
			critical = append(critical, line)
		case strings.HasPrefix(line, "[WARNING]"):
			warning = append(warning, line)
		}
	}
	return critical, warning
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func helmTemplateFile(t *testing.T, args ...string) string {
	t.Helper()
	out, err := manifests.Run("helm", append([]string{"template", manifests.Release, manifests.Path(manifests.ChartDir),
		"--namespace", manifests.Namespace}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return writeTemp(t, "chart.yaml", out)
}

// TestKubeScore scores what users install: the chart (defaults, and namespaced
// with monitoring on), the installer dist/install.yaml as make build-installer
// writes it for the VERSION tag, and the namespaced overlay. None may have a
// CRITICAL or a WARNING.
func TestKubeScore(t *testing.T) {
	version, err := os.ReadFile(manifests.Path("VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	installer := filepath.Join(t.TempDir(), "install.yaml")
	kustomize, err := manifests.Tool("kustomize")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUSTOMIZE", kustomize)
	if out, err := runScript(manifests.Path("hack/build-installer.sh"),
		"ghcr.io/voipbin/credential-operator:"+strings.TrimSpace(string(version)), installer); err != nil {
		t.Fatalf("hack/build-installer.sh: %v\n%s", err, out)
	}
	namespaced, err := manifests.Run("kustomize", "build", manifests.Path("config/namespaced"))
	if err != nil {
		t.Fatal(err)
	}
	monitoring, err := manifests.Run("kustomize", "build", manifests.Path("config/monitoring"))
	if err != nil {
		t.Fatal(err)
	}

	for name, file := range map[string]string{
		"chart defaults": helmTemplateFile(t),
		"chart namespaced, monitoring on": helmTemplateFile(t, "--set", "watchNamespaces={apps,billing}",
			"--set", "metrics.tls.certManager.enabled=true", "--set", "serviceMonitor.enabled=true",
			"--set", "prometheusRule.enabled=true", "--set", "grafanaDashboard.enabled=true"),
		"chart with every value set": helmTemplateFile(t, "-f", manifests.Path("test/chart/testdata/all-values.yaml")),
		"dist/install.yaml":          installer,
		"config/namespaced":          writeTemp(t, "namespaced.yaml", namespaced),
		"config/monitoring":          writeTemp(t, "monitoring.yaml", monitoring),
	} {
		t.Run(name, func(t *testing.T) {
			critical, warning := kubeScore(t, file)
			for _, line := range append(critical, warning...) {
				t.Error(line)
			}
		})
	}

	// Control: without the NetworkPolicy and the PDB, kube-score finds both missing.
	t.Run("control: a chart without NetworkPolicy and PDB", func(t *testing.T) {
		critical, _ := kubeScore(t, helmTemplateFile(t, "--set", "networkPolicy.enabled=false", "--set", "podDisruptionBudget.enabled=false"))
		joined := strings.Join(critical, "\n")
		for _, want := range []string{"NetworkPolicy", "PodDisruptionBudget"} {
			if !strings.Contains(joined, want) {
				t.Errorf("kube-score did not report the missing %s; CRITICAL:\n%s", want, joined)
			}
		}
	})
}
