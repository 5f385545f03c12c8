package chart

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/voipbin/credential-operator/test/manifests"
)

const managerName = manifests.Release + "-controller-manager"

// installs are the chart (rendered with some values) and the kustomize layout that
// must install the same operator.
type installs struct {
	chart, kustomize []*unstructured.Unstructured
}

func render(t *testing.T, kustomizeDir string, helmArgs ...string) installs {
	t.Helper()
	chart, err := manifests.HelmTemplate(manifests.Namespace, helmArgs...)
	if err != nil {
		t.Fatal(err)
	}
	kustomize, err := manifests.KustomizeBuild(kustomizeDir)
	if err != nil {
		t.Fatal(err)
	}
	return installs{chart: chart, kustomize: kustomize}
}

// drift lists every difference that matters between the chart's objects and
// kustomize's: the CRD, RBAC (every role's rules, every binding's role and
// subjects), the manager's container (command, args, image, security contexts,
// probes, resources, ports), the pod's settings, the PDB, the NetworkPolicy's
// ports and the metrics Service's port. Labels, and names of labels, may differ.
func drift(in installs) []string {
	var diffs []string
	differ := func(what string, chart, kustomize any) {
		if !reflect.DeepEqual(chart, kustomize) {
			c, _ := yaml.Marshal(chart)
			k, _ := yaml.Marshal(kustomize)
			diffs = append(diffs, fmt.Sprintf("%s differs:\n--- chart\n%s--- config/\n%s", what, c, k))
		}
	}

	// The CRD: the same schema, names and versions.
	crdName := "voipbincredentials.credentials.voipbin.net"
	chartCRD := manifests.Find(in.chart, "CustomResourceDefinition", "", crdName)
	kustomizeCRD := manifests.Find(in.kustomize, "CustomResourceDefinition", "", crdName)
	if chartCRD == nil || kustomizeCRD == nil {
		diffs = append(diffs, fmt.Sprintf("CRD in chart: %t, in config/: %t", chartCRD != nil, kustomizeCRD != nil))
	} else {
		differ("the CRD's spec", chartCRD.Object["spec"], kustomizeCRD.Object["spec"])
	}

	// RBAC: the same roles, with the same rules, bound the same way.
	for _, kind := range []string{"ClusterRole", "Role"} {
		chartRoles, kustomizeRoles := rolesByKey(in.chart, kind), rolesByKey(in.kustomize, kind)
		differ(kind+"s (namespace/name)", sortedKeys(chartRoles), sortedKeys(kustomizeRoles))
		for key, rules := range chartRoles {
			if k, ok := kustomizeRoles[key]; ok {
				differ(kind+" "+key+"'s rules", rules, k)
			}
		}
	}
	for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
		differ(kind+"s", bindings(in.chart, kind), bindings(in.kustomize, kind))
	}

	// The manager.
	var chartDep, kustomizeDep appsv1.Deployment
	if err := convertNamed(in.chart, "Deployment", managerName, &chartDep); err != nil {
		return append(diffs, err.Error())
	}
	if err := convertNamed(in.kustomize, "Deployment", managerName, &kustomizeDep); err != nil {
		return append(diffs, err.Error())
	}
	differ("replicas", chartDep.Spec.Replicas, kustomizeDep.Spec.Replicas)
	cp, kp := chartDep.Spec.Template.Spec, kustomizeDep.Spec.Template.Spec
	differ("the pod's securityContext", cp.SecurityContext, kp.SecurityContext)
	differ("terminationGracePeriodSeconds", cp.TerminationGracePeriodSeconds, kp.TerminationGracePeriodSeconds)
	differ("the service account", cp.ServiceAccountName, kp.ServiceAccountName)
	differ("the pod's volumes", cp.Volumes, kp.Volumes)
	differ("the pod anti-affinity (label selector aside)", antiAffinityTopology(cp), antiAffinityTopology(kp))
	if len(cp.Containers) != 1 || len(kp.Containers) != 1 {
		return append(diffs, fmt.Sprintf("containers: chart %d, config/ %d; want 1", len(cp.Containers), len(kp.Containers)))
	}
	cc, kc := cp.Containers[0], kp.Containers[0]
	// Every field of the container that makes the operator what it is.
	for _, field := range []string{"Name", "Image", "ImagePullPolicy", "Command", "Args", "Env", "SecurityContext",
		"LivenessProbe", "ReadinessProbe", "Resources", "Ports", "VolumeMounts"} {
		differ("the container's "+strings.ToLower(field[:1])+field[1:], reflect.ValueOf(cc).FieldByName(field).Interface(),
			reflect.ValueOf(kc).FieldByName(field).Interface())
	}

	// The PDB and the NetworkPolicy.
	if chartPDB, kustomizePDB, ok := convertBoth[policyv1.PodDisruptionBudget](in, "PodDisruptionBudget", managerName, &diffs); ok {
		differ("the PDB's minAvailable", chartPDB.Spec.MinAvailable, kustomizePDB.Spec.MinAvailable)
	}
	if chartNP, kustomizeNP, ok := convertBoth[networkingv1.NetworkPolicy](in, "NetworkPolicy", managerName, &diffs); ok {
		differ("the NetworkPolicy's types", chartNP.Spec.PolicyTypes, kustomizeNP.Spec.PolicyTypes)
		differ("the NetworkPolicy's ingress", chartNP.Spec.Ingress, kustomizeNP.Spec.Ingress)
		differ("the NetworkPolicy's egress", chartNP.Spec.Egress, kustomizeNP.Spec.Egress)
	}

	// The metrics Service.
	svcName := managerName + "-metrics-service"
	if chartSvc, kustomizeSvc, ok := convertBoth[corev1.Service](in, "Service", svcName, &diffs); ok {
		differ("the metrics Service's port names and numbers", servicePorts(chartSvc), servicePorts(kustomizeSvc))
	}

	// Monitoring, where installed: the ServiceMonitor's endpoints (authorization,
	// TLS verification), the alert rules, the metrics certificate and its issuer.
	for _, m := range []struct {
		kind string
		path []string
	}{
		{"ServiceMonitor", []string{"spec", "endpoints"}},
		{"PrometheusRule", []string{"spec"}},
		{"Certificate", []string{"spec"}},
		{"Issuer", []string{"spec"}},
		{"Secret", []string{"metadata", "annotations"}},
	} {
		chartObjs, kustomizeObjs := manifests.OfKind(in.chart, m.kind), manifests.OfKind(in.kustomize, m.kind)
		for _, c := range chartObjs {
			k := manifests.Find(kustomizeObjs, m.kind, c.GetNamespace(), c.GetName())
			if k == nil {
				continue // reported by the kinds below, or by the names
			}
			cv, _, _ := unstructured.NestedFieldNoCopy(c.Object, m.path...)
			kv, _, _ := unstructured.NestedFieldNoCopy(k.Object, m.path...)
			differ(m.kind+" "+c.GetName()+"'s "+strings.Join(m.path, "."), cv, kv)
		}
		differ(m.kind+"s (names)", names(chartObjs), names(kustomizeObjs))
	}

	// Nothing more in one than in the other, but the Namespace: Helm installs into one.
	differ("the kinds of objects", kinds(in.chart), kinds(without(in.kustomize, "Namespace")))
	return diffs
}

// convertBoth converts the chart's and kustomize's object of kind and name; when
// either is missing it records why in diffs and reports false.
func convertBoth[T any](in installs, kind, name string, diffs *[]string) (chart, kustomize T, ok bool) {
	if err := convertNamed(in.chart, kind, name, &chart); err != nil {
		*diffs = append(*diffs, err.Error())
		return chart, kustomize, false
	}
	if err := convertNamed(in.kustomize, kind, name, &kustomize); err != nil {
		*diffs = append(*diffs, err.Error())
		return chart, kustomize, false
	}
	return chart, kustomize, true
}

func convertNamed(objs []*unstructured.Unstructured, kind, name string, into any) error {
	o := manifests.Find(objs, kind, "", name)
	if o == nil {
		return fmt.Errorf("no %s %s", kind, name)
	}
	return manifests.Convert(o, into)
}

// rolesByKey maps namespace/name of each role of kind to its rules.
func rolesByKey(objs []*unstructured.Unstructured, kind string) map[string][]rbacv1.PolicyRule {
	m := map[string][]rbacv1.PolicyRule{}
	for _, o := range manifests.OfKind(objs, kind) {
		var r rbacv1.ClusterRole // a Role has the same fields
		if err := manifests.Convert(o, &r); err == nil {
			m[o.GetNamespace()+"/"+o.GetName()] = r.Rules
		}
	}
	return m
}

// bindings lists each binding of kind as "namespace/name -> Kind/role: subjects".
func bindings(objs []*unstructured.Unstructured, kind string) []string {
	var out []string
	for _, o := range manifests.OfKind(objs, kind) {
		var b rbacv1.RoleBinding // a ClusterRoleBinding has the same fields
		if err := manifests.Convert(o, &b); err != nil {
			continue
		}
		var subjects []string
		for _, s := range b.Subjects {
			subjects = append(subjects, s.Kind+" "+s.Namespace+"/"+s.Name)
		}
		sort.Strings(subjects)
		out = append(out, fmt.Sprintf("%s/%s -> %s/%s: %s", o.GetNamespace(), o.GetName(), b.RoleRef.Kind, b.RoleRef.Name,
			strings.Join(subjects, ", ")))
	}
	sort.Strings(out)
	return out
}

// antiAffinityTopology is the pod anti-affinity with the label selectors left out:
// each layout selects its own pods' labels (checked by TestAntiAffinitySelectsOwnPods).
func antiAffinityTopology(spec corev1.PodSpec) []string {
	if spec.Affinity == nil || spec.Affinity.PodAntiAffinity == nil {
		return nil
	}
	var out []string
	for _, w := range spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		out = append(out, fmt.Sprintf("preferred weight %d on %s", w.Weight, w.PodAffinityTerm.TopologyKey))
	}
	for _, term := range spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		out = append(out, "required on "+term.TopologyKey)
	}
	return out
}

func servicePorts(svc corev1.Service) []string {
	var out []string
	for _, p := range svc.Spec.Ports {
		out = append(out, fmt.Sprintf("%s %d %s", p.Name, p.Port, p.Protocol))
	}
	return out
}

func names(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetNamespace()+"/"+o.GetName())
	}
	sort.Strings(out)
	return out
}

func kinds(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind())
	}
	sort.Strings(out)
	return out
}

func without(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	return slices.DeleteFunc(slices.Clone(objs), func(o *unstructured.Unstructured) bool { return o.GetKind() == kind })
}

// sortedKeys returns m's keys, sorted.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// TestChartMatchesConfig renders the chart with its defaults and builds
// config/default, and fails on any difference that matters (see drift).
func TestChartMatchesConfig(t *testing.T) {
	for _, d := range drift(render(t, "config/default")) {
		t.Error(d)
	}
}

// TestNamespacedChartMatchesOverlay does the same for the namespaced mode: the
// chart with watchNamespaces=[apps] and the config/namespaced overlay.
func TestNamespacedChartMatchesOverlay(t *testing.T) {
	for _, d := range drift(render(t, "config/namespaced", "--set", "watchNamespaces={apps}")) {
		t.Error(d)
	}
}

// TestRolloutRestartsChartMatchesComponent does the same with rollout restarts on,
// in both modes: the chart with rolloutRestarts.enabled, and config/default and
// config/namespaced with their rollout-restarts components (the overlays of
// testdata that the components' comments show). It also checks that the rules
// are get and patch on the three kinds and nothing more, and that the default
// install has none of them (the generated role stays without apps).
func TestRolloutRestartsChartMatchesComponent(t *testing.T) {
	for name, c := range map[string]struct {
		dir  string
		args []string
		kind string
	}{
		"cluster-wide": {"test/chart/testdata/rollout-restarts", []string{"--set", "rolloutRestarts.enabled=true"}, "ClusterRole"},
		"namespaced": {"test/chart/testdata/rollout-restarts-namespaced",
			[]string{"--set", "rolloutRestarts.enabled=true", "--set", "watchNamespaces={apps}"}, "Role"},
	} {
		t.Run(name, func(t *testing.T) {
			in := render(t, c.dir, c.args...)
			for _, d := range drift(in) {
				t.Error(d)
			}
			want := []rbacv1.PolicyRule{{APIGroups: []string{"apps"},
				Resources: []string{"daemonsets", "deployments", "statefulsets"}, Verbs: []string{"get", "patch"}}}
			for layout, objs := range map[string][]*unstructured.Unstructured{"chart": in.chart, "config/": in.kustomize} {
				var found int
				for key, rules := range rolesByKey(objs, c.kind) {
					if !strings.HasSuffix(key, "-rollout-restarts-role") {
						if slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.APIGroups, "apps") }) {
							t.Errorf("%s: %s %s grants apps", layout, c.kind, key)
						}
						continue
					}
					found++
					if !reflect.DeepEqual(rules, want) {
						t.Errorf("%s: %s %s's rules are %v, want %v", layout, c.kind, key, rules, want)
					}
				}
				if found != 1 {
					t.Errorf("%s: %d rollout-restarts %ss, want 1", layout, found, c.kind)
				}
			}
		})
	}
	// Off by default: neither layout grants anything of apps, nor passes the flag.
	in := render(t, "config/default")
	for layout, objs := range map[string][]*unstructured.Unstructured{"chart": in.chart, "config/": in.kustomize} {
		for _, kind := range []string{"ClusterRole", "Role"} {
			for key, rules := range rolesByKey(objs, kind) {
				if slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.APIGroups, "apps") }) {
					t.Errorf("%s: by default, %s %s grants apps", layout, kind, key)
				}
			}
		}
		var dep appsv1.Deployment
		if err := convertNamed(objs, "Deployment", managerName, &dep); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(dep.Spec.Template.Spec.Containers[0].Args, "--enable-rollout-restarts") {
			t.Errorf("%s: --enable-rollout-restarts by default", layout)
		}
	}
}

// TestMonitoringChartMatchesOverlay does the same with monitoring on: the chart with
// the cert-manager certificate, the ServiceMonitor and the alert rules, and the
// config/monitoring overlay.
func TestMonitoringChartMatchesOverlay(t *testing.T) {
	in := render(t, "config/monitoring", "--set", "metrics.tls.certManager.enabled=true",
		"--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true")
	for _, d := range drift(in) {
		t.Error(d)
	}
	if len(manifests.OfKind(in.chart, "ServiceMonitor")) != 1 || len(manifests.OfKind(in.chart, "Certificate")) != 1 {
		t.Error("the chart rendered no ServiceMonitor or no Certificate")
	}
}

// TestDriftIsDetected is the control of the two tests above: a chart rendered with
// values that change what matters is reported, one difference per change.
func TestDriftIsDetected(t *testing.T) {
	in := render(t, "config/default",
		"--set", "extraArgs={--max-concurrent-reconciles=8}",
		"--set", "terminationGracePeriodSeconds=60",
		"--set", "resources.limits.memory=512Mi",
		"--set", "watchNamespaces={apps}",
	)
	diffs := drift(in)
	for _, want := range []string{
		"the container's args",
		"terminationGracePeriodSeconds",
		"the container's resources",
		"ClusterRoles (namespace/name)", // the manager's ClusterRole became a Role
		"Roles (namespace/name)",
		"ClusterRoleBindings",
		"RoleBindings",
	} {
		if !slices.ContainsFunc(diffs, func(d string) bool { return strings.HasPrefix(d, want+" differs") }) {
			t.Errorf("no difference reported for %s; reported:\n%s", want, strings.Join(diffs, "\n"))
		}
	}

	// Monitoring: a ServiceMonitor scraping less often, a certificate living longer.
	diffs = drift(render(t, "config/monitoring", "--set", "metrics.tls.certManager.enabled=true",
		"--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true",
		"--set", "serviceMonitor.interval=60s", "--set", "metrics.tls.certManager.duration=8760h"))
	for _, want := range []string{
		"ServiceMonitor " + manifests.Release + "-controller-manager-metrics-monitor's spec.endpoints",
		"Certificate " + manifests.Release + "-metrics-cert's spec",
	} {
		if !slices.ContainsFunc(diffs, func(d string) bool { return strings.HasPrefix(d, want+" differs") }) {
			t.Errorf("no difference reported for %s; reported:\n%s", want, strings.Join(diffs, "\n"))
		}
	}

	// The CRD: a chart whose copy of the CRD is stale.
	in = render(t, "config/default")
	crd := manifests.Find(in.chart, "CustomResourceDefinition", "", "voipbincredentials.credentials.voipbin.net")
	if err := unstructured.SetNestedField(crd.Object, "voipbincreds", "spec", "names", "plural"); err != nil {
		t.Fatal(err)
	}
	if diffs := drift(in); !slices.ContainsFunc(diffs, func(d string) bool { return strings.HasPrefix(d, "the CRD's spec differs") }) {
		t.Errorf("a changed CRD is not reported; reported:\n%s", strings.Join(diffs, "\n"))
	}
}

// TestAntiAffinitySelectsOwnPods checks that each layout's anti-affinity selects the
// manager's own pods (drift compares the rest of it).
func TestAntiAffinitySelectsOwnPods(t *testing.T) {
	in := render(t, "config/default")
	for layout, objs := range map[string][]*unstructured.Unstructured{"chart": in.chart, "config/": in.kustomize} {
		var dep appsv1.Deployment
		if err := convertNamed(objs, "Deployment", managerName, &dep); err != nil {
			t.Fatal(err)
		}
		a := dep.Spec.Template.Spec.Affinity
		if a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
			t.Errorf("%s: no preferred pod anti-affinity", layout)
			continue
		}
		term := a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm
		if term.TopologyKey != "kubernetes.io/hostname" {
			t.Errorf("%s: anti-affinity over %q, want kubernetes.io/hostname", layout, term.TopologyKey)
		}
		if term.LabelSelector == nil || len(term.LabelSelector.MatchLabels) == 0 {
			t.Errorf("%s: the anti-affinity selects no labels", layout)
			continue
		}
		for k, v := range term.LabelSelector.MatchLabels {
			if dep.Spec.Template.Labels[k] != v {
				t.Errorf("%s: the anti-affinity selects %s=%s, which the manager's pods lack", layout, k, v)
			}
		}
	}
}
