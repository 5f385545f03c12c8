package chart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/voipbin/credential-operator/test/manifests"
)

// exportedMetrics returns the metrics the operator exports, by name, true for a
// histogram: the README's table ("Metrics and alerts") and internal/metrics must
// list the same ones.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	readme, err := os.ReadFile(manifests.Path("README.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	if i := strings.Index(section, "## Metrics and alerts"); i >= 0 {
		section = section[i:]
	} else {
		t.Fatal(`the README has no section "Metrics and alerts"`)
	}
	if i := strings.Index(section[3:], "\n## "); i >= 0 {
		section = section[:i+3]
	}
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `(voipbin_[a-z_]+)` \\|").FindAllStringSubmatch(section, -1) {
		documented = append(documented, m[1])
	}

	// Every source file of internal/metrics (not its tests).
	files, err := filepath.Glob(manifests.Path("internal/metrics/*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var source []byte
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		source = append(source, data...)
	}
	exported := map[string]bool{}
	for _, m := range regexp.MustCompile(`"(voipbin_[a-z_]+)"`).FindAllStringSubmatch(string(source), -1) {
		exported[m[1]] = false
	}
	for _, m := range regexp.MustCompile(`NewHistogramVec\(prometheus\.HistogramOpts\{\s*Name:\s*"(voipbin_[a-z_]+)"`).FindAllStringSubmatch(string(source), -1) {
		exported[m[1]] = true
	}
	sort.Strings(documented)
	if got := sortedKeys(exported); !slices.Equal(got, documented) || len(got) < 6 {
		t.Fatalf("internal/metrics exports %v; the README documents %v", got, documented)
	}
	return exported
}

// promqlWords are PromQL's keywords, which look like metric names.
var promqlWords = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "inf", "nan"}

// metricNames returns the metric names an expression selects: what is left once
// strings, label matchers, ranges, groupings, function calls and keywords are gone.
func metricNames(expr string) []string {
	for _, re := range []string{`"(\\.|[^"\\])*"`, `\{[^}]*\}`, `\[[^\]]*\]`, `\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`,
		`\b\d[\w.]*`} { // the last: numbers and durations (0.99, 5m, 1e3)
		expr = regexp.MustCompile(re).ReplaceAllString(expr, " ")
	}
	var names []string
	for _, m := range regexp.MustCompile(`([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?`).FindAllStringSubmatch(expr, -1) {
		if m[2] != "" || slices.Contains(promqlWords, strings.ToLower(m[1])) {
			continue // a function or an aggregation, or a keyword
		}
		names = append(names, m[1])
	}
	return names
}

// servedBy tells whether name is a series the operator's metrics produce, or up,
// the series Prometheus writes for every scrape target.
func servedBy(exported map[string]bool, name string) bool {
	if name == "up" {
		return true
	}
	if _, ok := exported[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && exported[base] {
			return true
		}
	}
	return false
}

// ruleExprs returns each alert's expression of a PrometheusRule.
func ruleExprs(t *testing.T, rule *unstructured.Unstructured) map[string]string {
	t.Helper()
	exprs := map[string]string{}
	groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	for _, g := range groups {
		rules, _, _ := unstructured.NestedSlice(g.(map[string]any), "rules")
		for _, r := range rules {
			r := r.(map[string]any)
			alert, _ := r["alert"].(string)
			exprs["alert "+alert], _ = r["expr"].(string)
		}
	}
	if len(exprs) == 0 {
		t.Fatalf("no rules in %s", rule.GetName())
	}
	return exprs
}

// dashboardExprs returns each panel target's expression of a Grafana dashboard.
func dashboardExprs(t *testing.T, data []byte) map[string]string {
	t.Helper()
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("the dashboard: %v", err)
	}
	exprs := map[string]string{}
	for _, p := range dash.Panels {
		for i, target := range p.Targets {
			exprs["panel "+p.Title+" #"+string(rune('A'+i))] = target.Expr
		}
	}
	if len(exprs) < 10 {
		t.Fatalf("only %d queries in the dashboard", len(exprs))
	}
	return exprs
}

// monitoringExprs gathers the expressions of every rule and panel users install:
// config/prometheus, config/grafana and the chart's PrometheusRule and dashboard.
func monitoringExprs(t *testing.T) map[string]map[string]string {
	t.Helper()
	configRules, err := manifests.KustomizeBuild("config/prometheus")
	if err != nil {
		t.Fatal(err)
	}
	chart, err := manifests.HelmTemplate(manifests.Namespace, "--set", "prometheusRule.enabled=true", "--set", "grafanaDashboard.enabled=true")
	if err != nil {
		t.Fatal(err)
	}
	dashboard, err := os.ReadFile(manifests.Path("config/grafana/dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	chartRule := manifests.Find(chart, "PrometheusRule", "", manifests.Release+"-credential-alerts")
	chartDashboard := manifests.Find(chart, "ConfigMap", "", manifests.Release+"-dashboard")
	if chartRule == nil || chartDashboard == nil {
		t.Fatal("the chart renders no PrometheusRule or no dashboard ConfigMap")
	}
	dashboardJSON, _, _ := unstructured.NestedString(chartDashboard.Object, "data", "voipbin-credential-operator.json")
	return map[string]map[string]string{
		"config/prometheus":     ruleExprs(t, manifests.Find(configRules, "PrometheusRule", "", "credential-alerts")),
		"config/grafana":        dashboardExprs(t, dashboard),
		"the chart's rules":     ruleExprs(t, chartRule),
		"the chart's dashboard": dashboardExprs(t, []byte(dashboardJSON)),
	}
}

// TestMonitoringUsesExportedMetrics checks that every metric an alert or a
// dashboard panel names is one the operator exports, and that together they use
// all of them.
func TestMonitoringUsesExportedMetrics(t *testing.T) {
	exported := exportedMetrics(t)
	used := map[string]bool{}
	for source, exprs := range monitoringExprs(t) {
		for what, expr := range exprs {
			names := metricNames(expr)
			if len(names) == 0 {
				t.Errorf("%s, %s: no metric found in %q", source, what, expr)
			}
			for _, name := range names {
				if !servedBy(exported, name) {
					t.Errorf("%s, %s uses %s, which the operator does not export: %s", source, what, name, expr)
				}
				used[strings.TrimSuffix(name, "_bucket")] = true
			}
		}
	}
	for name := range exported {
		if !used[name] {
			t.Errorf("no alert or panel uses %s", name)
		}
	}
}

// TestMetricNamesControl is the control of metricNames: names hidden among
// functions, groupings, matchers and ranges are found, and unknown ones refused.
func TestMetricNamesControl(t *testing.T) {
	expr := `histogram_quantile(0.99, sum by (le, operation) (rate(voipbin_api_request_duration_seconds_bucket{code="up"}[5m])))` +
		` / on(job) group_left node_cpu_seconds_total offset 5m > bool 1 and absent(up{job="x"} == 1) or voipbin_tokens_expiring`
	got := metricNames(expr)
	want := []string{"voipbin_api_request_duration_seconds_bucket", "node_cpu_seconds_total", "up", "voipbin_tokens_expiring"}
	if !slices.Equal(got, want) {
		t.Fatalf("metricNames = %v, want %v", got, want)
	}
	exported := map[string]bool{"voipbin_api_request_duration_seconds": true}
	for name, served := range map[string]bool{"voipbin_api_request_duration_seconds_bucket": true, "up": true,
		"node_cpu_seconds_total": false, "voipbin_tokens_expiring": false} {
		if servedBy(exported, name) != served {
			t.Errorf("servedBy(%s) = %t, want %t", name, !served, served)
		}
	}
}

// TestDashboardPanels checks that the dashboard shows what the issue asks for:
// expiry and renewal per credential, Ready, API requests by code and latency.
func TestDashboardPanels(t *testing.T) {
	data, err := os.ReadFile(manifests.Path("config/grafana/dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(mapValues(dashboardExprs(t, data)), "\n")
	for _, want := range []string{
		"by (namespace, name) (voipbin_credential_token_expiration_timestamp_seconds",
		"by (namespace, name) (voipbin_credential_token_renewal_timestamp_seconds",
		"by (namespace, name) (voipbin_credential_accesskey_expiration_timestamp_seconds",
		"by (namespace, name) (voipbin_credential_ready",
		"sum by (operation, code) (rate(voipbin_api_requests_total",
		"histogram_quantile(0.99, sum by (operation, le) (rate(voipbin_api_request_duration_seconds_bucket",
		`up{job="$job"}`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no panel queries %s", want)
		}
	}
	chart, err := os.ReadFile(manifests.Path(manifests.ChartDir + "/files/dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(chart) != string(data) {
		t.Error("the chart's files/dashboard.json differs from config/grafana/dashboard.json: run make manifests")
	}
}

// promtool runs the pinned promtool.
func promtool(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := manifests.Run("promtool", args...)
	return string(out), err
}

// TestAlertRules unit-tests the alert rules with promtool (test/chart/testdata/
// alerts_test.yaml): with two replicas each alert fires once per credential (or
// code), and the absence alert fires when no replica is scraped, also when the
// series are gone altogether, and not while one replica is up. The annotations are
// left out: they are text for people.
func TestAlertRules(t *testing.T) {
	objs, err := manifests.KustomizeBuild("config/prometheus")
	if err != nil {
		t.Fatal(err)
	}
	rule := manifests.Find(objs, "PrometheusRule", "", "credential-alerts")
	groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	for _, g := range groups {
		rules, _, _ := unstructured.NestedSlice(g.(map[string]any), "rules")
		for _, r := range rules {
			delete(r.(map[string]any), "annotations")
		}
		_ = unstructured.SetNestedSlice(g.(map[string]any), rules, "rules")
	}
	data, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := promtool(t, "check", "rules", filepath.Join(dir, "rules.yaml")); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	tests, err := os.ReadFile(manifests.Path("test/chart/testdata/alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), tests, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := promtool(t, "test", "rules", filepath.Join(dir, "alerts_test.yaml")); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}

	// Control: the same scenarios fail against rules that do not aggregate over
	// the replicas (the sample of before): each alert would fire twice.
	unaggregated := strings.NewReplacer("max by (namespace, name) (voipbin_credential_ready)", "voipbin_credential_ready").Replace(string(data))
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(unaggregated), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := promtool(t, "test", "rules", filepath.Join(dir, "alerts_test.yaml")); err == nil {
		t.Errorf("promtool passed rules that fire once per replica:\n%s", out)
	}
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
