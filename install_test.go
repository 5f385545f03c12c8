package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/voipbin/credential-operator/test/harness"
)

// The names config/default gives the manager's objects (namespace and namePrefix);
// the README, the ServiceMonitor's comments and the RBAC advice use them.
const (
	operatorNamespace     = "voipbin-credential-operator-system"
	managerName           = "voipbin-credential-operator-controller-manager"
	metricsServiceName    = "voipbin-credential-operator-controller-manager-metrics-service"
	installerTestImage    = "example.com/voipbin-credential-operator:v0.1.0"
	podSecurityEnforceKey = "pod-security.kubernetes.io/enforce"
)

// kustomizeBinary returns the kustomize that make installs (make test depends on it).
func kustomizeBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("KUSTOMIZE")
	if bin == "" {
		bin = filepath.Join(harness.RepoRoot(), "bin", "kustomize")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no kustomize at %s: run 'make kustomize' (or 'make test') first", bin)
	}
	return bin
}

// decodeObjects splits a multi-document YAML stream into objects.
func decodeObjects(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("decoding YAML: %v", err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// kustomizeBuild builds one folder of config/.
func kustomizeBuild(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	out, err := exec.Command(kustomizeBinary(t), "build", filepath.Join(harness.RepoRoot(), dir)).Output()
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	return decodeObjects(t, out)
}

// buildInstaller runs what make build-installer runs, into a temporary file, and
// checks that it left config/ as it was (kustomize edit set image rewrites
// config/manager/kustomization.yaml if run in place).
func buildInstaller(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	root := harness.RepoRoot()
	managerKustomization := filepath.Join(root, "config", "manager", "kustomization.yaml")
	before, err := os.ReadFile(managerKustomization)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "install.yaml")
	cmd := exec.Command(filepath.Join(root, "hack", "build-installer.sh"), installerTestImage, out)
	cmd.Env = append(os.Environ(), "KUSTOMIZE="+kustomizeBinary(t))
	if combined, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/build-installer.sh: %v\n%s", err, combined)
	}
	after, err := os.ReadFile(managerKustomization)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("building the installer changed config/manager/kustomization.yaml:\n%s", after)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return decodeObjects(t, data)
}

// findObject returns the object of the given kind and name, failing the test if absent.
func findObject(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %q in the manifests", kind, name)
	return nil
}

// fromUnstructured converts u into a typed object.
func fromUnstructured(t *testing.T, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
		t.Fatalf("converting %s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

// installOrder is the creation order of kinds a plain kubectl apply would need:
// namespaces before what lives in them, the CRD before anything could use it, and
// the ServiceAccount before the pods that run as it.
func installOrder(kind string) int {
	switch kind {
	case "Namespace":
		return 0
	case "CustomResourceDefinition":
		return 1
	case "ServiceAccount":
		return 2
	default:
		return 3
	}
}

// installCluster starts a bare control plane (no CRDs: the installer brings its own)
// and creates every object of objs in it.
func installCluster(t *testing.T, objs []*unstructured.Unstructured) (*rest.Config, client.Client) {
	t.Helper()
	assets, err := harness.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting envtest: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ordered := slices.Clone(objs)
	sort.SliceStable(ordered, func(i, j int) bool { return installOrder(ordered[i].GetKind()) < installOrder(ordered[j].GetKind()) })
	for _, o := range ordered {
		if err := c.Create(context.Background(), o.DeepCopy()); err != nil {
			t.Fatalf("creating %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}
	return cfg, c
}

// podFromTemplate makes the Pod a ReplicaSet would make from tmpl.
func podFromTemplate(name, namespace string, tmpl corev1.PodTemplateSpec) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: tmpl.Labels, Annotations: tmpl.Annotations},
		Spec:       *tmpl.Spec.DeepCopy(),
	}
}

// isPodSecurityRejection tells whether err is the PodSecurity admission plugin
// refusing a pod under the restricted level.
func isPodSecurityRejection(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), `violates PodSecurity "restricted`)
}

// TestInstallerContents checks what the installer must hold and how the manager is
// configured, beyond what the restricted Pod Security Standard enforces.
func TestInstallerContents(t *testing.T) {
	objs := buildInstaller(t)

	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind())
		if strings.HasPrefix(o.GetAPIVersion(), "monitoring.coreos.com/") {
			t.Errorf("the installer holds %s %s: it would fail on clusters without the Prometheus Operator", o.GetKind(), o.GetName())
		}
	}
	for _, kind := range []string{"Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
		"Role", "RoleBinding", "Service", "Deployment"} {
		if !slices.Contains(kinds, kind) {
			t.Errorf("the installer has no %s (it has %v)", kind, kinds)
		}
	}

	ns := findObject(t, objs, "Namespace", operatorNamespace)
	if got := ns.GetLabels()[podSecurityEnforceKey]; got != "restricted" {
		t.Errorf("namespace label %s = %q, want restricted", podSecurityEnforceKey, got)
	}

	var dep appsv1.Deployment
	fromUnstructured(t, findObject(t, objs, "Deployment", managerName), &dep)
	if dep.Namespace != operatorNamespace {
		t.Errorf("the Deployment is in %q", dep.Namespace)
	}
	if dep.Spec.Template.Spec.ServiceAccountName != managerName {
		t.Errorf("the manager runs as service account %q, want %q", dep.Spec.Template.Spec.ServiceAccountName, managerName)
	}
	if len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("the manager pod has %d containers, want 1", len(dep.Spec.Template.Spec.Containers))
	}
	mgr := dep.Spec.Template.Spec.Containers[0]
	if mgr.Image != installerTestImage {
		t.Errorf("image %q, want the IMG the installer was built for, %q", mgr.Image, installerTestImage)
	}
	for _, arg := range []string{"--leader-elect", "--metrics-bind-address=:8443", "--health-probe-bind-address=:8081"} {
		if !slices.Contains(mgr.Args, arg) {
			t.Errorf("the manager's args %v lack %s", mgr.Args, arg)
		}
	}
	for _, arg := range mgr.Args {
		// The installer keeps the default (https://api.voipbin.net), and serves metrics
		// securely: the flags' defaults are the safe ones.
		if strings.HasPrefix(arg, "--allowed-api-urls") || arg == "--metrics-secure=false" {
			t.Errorf("the installer passes %s; it must keep the flag's default", arg)
		}
	}
	if mgr.LivenessProbe == nil || mgr.LivenessProbe.HTTPGet == nil || mgr.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe %+v, want GET /healthz", mgr.LivenessProbe)
	}
	if mgr.ReadinessProbe == nil || mgr.ReadinessProbe.HTTPGet == nil || mgr.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe %+v, want GET /readyz", mgr.ReadinessProbe)
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := mgr.Resources.Requests[res]; !ok {
			t.Errorf("no %s request", res)
		}
		if _, ok := mgr.Resources.Limits[res]; !ok {
			t.Errorf("no %s limit", res)
		}
	}
	// The restricted Pod Security Standard (TestInstallerPassesRestrictedPodSecurity)
	// does not require a read-only root filesystem.
	if sc := mgr.SecurityContext; sc == nil || !ptr.Deref(sc.ReadOnlyRootFilesystem, false) {
		t.Errorf("the manager's root filesystem is not read-only: %+v", sc)
	}

	// The metrics Service reaches the manager's HTTPS metrics port.
	var svc corev1.Service
	fromUnstructured(t, findObject(t, objs, "Service", metricsServiceName), &svc)
	for k, v := range svc.Spec.Selector {
		if dep.Spec.Template.Labels[k] != v {
			t.Errorf("the metrics Service selects %s=%s, which the manager's pods do not have", k, v)
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8443 || svc.Spec.Ports[0].TargetPort.IntValue() != 8443 {
		t.Errorf("metrics Service ports %+v, want 8443 -> 8443", svc.Spec.Ports)
	}
}

// TestInstallerPassesRestrictedPodSecurity applies every object of the installer to
// a real API server and creates a Pod from the manager Deployment's template in the
// operator's namespace, which enforces the restricted Pod Security Standard: the API
// server admits it. The controls prove that the PodSecurity admission plugin runs
// and enforces restricted there, not merely baseline.
func TestInstallerPassesRestrictedPodSecurity(t *testing.T) {
	objs := buildInstaller(t)
	_, c := installCluster(t, objs)
	ctx := context.Background()

	var ns corev1.Namespace
	if err := c.Get(ctx, client.ObjectKey{Name: operatorNamespace}, &ns); err != nil {
		t.Fatal(err)
	}
	if got := ns.Labels[podSecurityEnforceKey]; got != "restricted" {
		t.Fatalf("the installed namespace has %s=%q, want restricted", podSecurityEnforceKey, got)
	}
	// The template as the API server stores it (defaults applied), which is what the
	// ReplicaSet controller copies into each pod.
	var dep appsv1.Deployment
	if err := c.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: managerName}, &dep); err != nil {
		t.Fatal(err)
	}

	if err := c.Create(ctx, podFromTemplate("manager", operatorNamespace, dep.Spec.Template)); err != nil {
		t.Fatalf("the manager's pod is not admitted in the restricted namespace: %v", err)
	}

	t.Run("a privileged pod is rejected", func(t *testing.T) {
		privileged := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "privileged", Namespace: operatorNamespace},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox",
				SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}},
		}
		if err := c.Create(ctx, privileged); !isPodSecurityRejection(err) {
			t.Fatalf("a privileged pod was not rejected by PodSecurity: %v", err)
		}
	})

	// Baseline allows privilege escalation and the default capabilities; only
	// restricted refuses them.
	weakened := podFromTemplate("weakened", operatorNamespace, dep.Spec.Template)
	weakened.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
	weakened.Spec.Containers[0].SecurityContext.Capabilities = nil
	t.Run("the manager's pod without its restrictions is rejected", func(t *testing.T) {
		if err := c.Create(ctx, weakened.DeepCopy()); !isPodSecurityRejection(err) {
			t.Fatalf("a pod allowing privilege escalation was not rejected by PodSecurity: %v", err)
		}
	})
	t.Run("the same pod is admitted where restricted is not enforced", func(t *testing.T) {
		elsewhere := weakened.DeepCopy()
		elsewhere.Namespace = metav1.NamespaceDefault
		if err := c.Create(ctx, elsewhere); err != nil {
			t.Fatalf("the control pod was rejected in the default namespace too: %v", err)
		}
	})

	t.Run("the consumer sample passes restricted too", func(t *testing.T) {
		var consumer appsv1.Deployment
		fromUnstructured(t, findObject(t, kustomizeBuild(t, "config/samples/consumer"), "Deployment", "billing"), &consumer)
		if err := c.Create(ctx, podFromTemplate("consumer", operatorNamespace, consumer.Spec.Template)); err != nil {
			t.Fatalf("the consumer sample's pod is not admitted in a restricted namespace: %v", err)
		}
	})
}

// TestConsumerSampleMountsSecretAsVolume checks that the consumer sample uses the
// managed Secret as the README asks ("A complete example"): as a volume, never
// through env vars or a subPath mount, which keep the old token after a renewal.
func TestConsumerSampleMountsSecretAsVolume(t *testing.T) {
	var dep appsv1.Deployment
	fromUnstructured(t, findObject(t, kustomizeBuild(t, "config/samples/consumer"), "Deployment", "billing"), &dep)
	spec := dep.Spec.Template.Spec
	volume := ""
	for _, v := range spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == "billing-voipbin" {
			volume = v.Name
		}
	}
	if volume == "" {
		t.Fatalf("no volume of the Secret billing-voipbin in %+v", spec.Volumes)
	}
	mounted := false
	for _, c := range spec.Containers {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				t.Errorf("container %s reads Secret %s through env %s", c.Name, e.ValueFrom.SecretKeyRef.Name, e.Name)
			}
		}
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil {
				t.Errorf("container %s reads Secret %s through envFrom", c.Name, e.SecretRef.Name)
			}
		}
		for _, m := range c.VolumeMounts {
			if m.Name != volume {
				continue
			}
			mounted = true
			if m.SubPath != "" || m.SubPathExpr != "" {
				t.Errorf("container %s mounts the Secret with a subPath", c.Name)
			}
		}
	}
	if !mounted {
		t.Error("no container mounts the Secret's volume")
	}
}

// accessCheck is one row of TestRBAC: whether the manager may do something.
type accessCheck struct {
	verb, group, resource, subresource, namespace string
	nonResourceURL                                string
	allowed                                       bool
}

func (a accessCheck) String() string {
	if a.nonResourceURL != "" {
		return a.verb + " " + a.nonResourceURL
	}
	s := a.verb + " " + a.resource
	if a.subresource != "" {
		s += "/" + a.subresource
	}
	if a.group != "" {
		s += "." + a.group
	}
	if a.namespace != "" {
		return s + " in " + a.namespace
	}
	return s + " cluster-wide"
}

// reviewAccess asks the API server whether user (a service account) may do a.
func reviewAccess(ctx context.Context, t *testing.T, cs kubernetes.Interface, namespace, name string, a accessCheck) bool {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   "system:serviceaccount:" + namespace + ":" + name,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}}
	if a.nonResourceURL != "" {
		sar.Spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Path: a.nonResourceURL, Verb: a.verb}
	} else {
		sar.Spec.ResourceAttributes = &authorizationv1.ResourceAttributes{Namespace: a.namespace, Verb: a.verb,
			Group: a.group, Resource: a.resource, Subresource: a.subresource}
	}
	res, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SubjectAccessReview %s: %v", a, err)
	}
	return res.Status.Allowed
}

// TestRBAC installs the installer's RBAC in a real API server (authorization mode
// RBAC) and asks it, with SubjectAccessReviews, what the manager's service account
// may do: exactly what the reconciler, leader election and the metrics filter use,
// and nothing of a sample of what it must not.
func TestRBAC(t *testing.T) {
	objs := buildInstaller(t)
	// The subject of the bindings is the service account the Deployment runs as.
	var dep appsv1.Deployment
	fromUnstructured(t, findObject(t, objs, "Deployment", managerName), &dep)
	if sa := dep.Spec.Template.Spec.ServiceAccountName; sa != managerName || dep.Namespace != operatorNamespace {
		t.Fatalf("the manager runs as %s/%s, want %s/%s", dep.Namespace, sa, operatorNamespace, managerName)
	}
	cfg, _ := installCluster(t, objs)
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()

	const (
		apps   = "apps" // any namespace of the cluster's users
		own    = operatorNamespace
		crds   = "credentials.voipbin.net"
		vbcs   = "voipbincredentials"
		leases = "leases"
		coord  = "coordination.k8s.io"
		evts   = "events.k8s.io"
	)
	checks := []accessCheck{
		// Its CRs: read and watch everywhere, write only status and finalizers.
		{verb: "get", group: crds, resource: vbcs, namespace: apps, allowed: true},
		{verb: "list", group: crds, resource: vbcs, allowed: true},
		{verb: "watch", group: crds, resource: vbcs, allowed: true},
		{verb: "patch", group: crds, resource: vbcs, subresource: "status", namespace: apps, allowed: true},
		// The status is only ever patched (and read through the CR itself).
		{verb: "get", group: crds, resource: vbcs, subresource: "status", namespace: apps, allowed: false},
		{verb: "update", group: crds, resource: vbcs, subresource: "status", namespace: apps, allowed: false},
		{verb: "update", group: crds, resource: vbcs, subresource: "finalizers", namespace: apps, allowed: true},
		{verb: "create", group: crds, resource: vbcs, namespace: apps},
		{verb: "update", group: crds, resource: vbcs, namespace: apps},
		{verb: "patch", group: crds, resource: vbcs, namespace: apps},
		{verb: "delete", group: crds, resource: vbcs, namespace: apps},
		// Secrets: read input Secrets, server-side apply managed ones (create, patch).
		{verb: "get", resource: "secrets", namespace: apps, allowed: true},
		{verb: "list", resource: "secrets", allowed: true},
		{verb: "watch", resource: "secrets", allowed: true},
		{verb: "create", resource: "secrets", namespace: apps, allowed: true},
		{verb: "patch", resource: "secrets", namespace: apps, allowed: true},
		{verb: "update", resource: "secrets", namespace: apps},
		{verb: "delete", resource: "secrets", namespace: apps},
		{verb: "deletecollection", resource: "secrets", namespace: apps},
		// Events on its CRs (events.k8s.io); core events only in its own namespace,
		// for leader election.
		{verb: "create", group: evts, resource: "events", namespace: apps, allowed: true},
		{verb: "patch", group: evts, resource: "events", namespace: apps, allowed: true},
		{verb: "delete", group: evts, resource: "events", namespace: apps},
		{verb: "create", resource: "events", namespace: own, allowed: true},
		{verb: "create", resource: "events", namespace: apps},
		// Leader election: Leases in its own namespace only.
		{verb: "get", group: coord, resource: leases, namespace: own, allowed: true},
		{verb: "list", group: coord, resource: leases, namespace: own, allowed: true},
		{verb: "watch", group: coord, resource: leases, namespace: own, allowed: true},
		{verb: "create", group: coord, resource: leases, namespace: own, allowed: true},
		{verb: "update", group: coord, resource: leases, namespace: own, allowed: true},
		{verb: "patch", group: coord, resource: leases, namespace: own, allowed: true},
		{verb: "delete", group: coord, resource: leases, namespace: own, allowed: true},
		{verb: "get", group: coord, resource: leases, namespace: apps},
		{verb: "update", group: coord, resource: leases, namespace: "kube-system"},
		{verb: "create", group: coord, resource: leases, namespace: "kube-node-lease"},
		// The metrics filter: authenticate and authorize scrapers.
		{verb: "create", group: "authentication.k8s.io", resource: "tokenreviews", allowed: true},
		{verb: "create", group: "authorization.k8s.io", resource: "subjectaccessreviews", allowed: true},
		// A sample of what it must not do.
		{verb: "get", resource: "pods", namespace: apps},
		{verb: "list", resource: "pods"},
		{verb: "create", resource: "pods", namespace: own},
		{verb: "create", resource: "pods", subresource: "exec", namespace: apps},
		{verb: "get", resource: "configmaps", namespace: apps},
		{verb: "create", resource: "configmaps", namespace: own},
		{verb: "create", resource: "serviceaccounts", subresource: "token", namespace: apps},
		{verb: "get", group: "apps", resource: "deployments", namespace: own},
		{verb: "update", group: "apps", resource: "deployments", namespace: own},
		{verb: "create", group: "apiextensions.k8s.io", resource: "customresourcedefinitions"},
		{verb: "update", group: "apiextensions.k8s.io", resource: "customresourcedefinitions"},
		{verb: "create", group: "rbac.authorization.k8s.io", resource: "clusterroles"},
		{verb: "escalate", group: "rbac.authorization.k8s.io", resource: "clusterroles"},
		{verb: "bind", group: "rbac.authorization.k8s.io", resource: "clusterroles"},
		{verb: "create", group: "rbac.authorization.k8s.io", resource: "rolebindings", namespace: own},
		{verb: "list", resource: "namespaces"},
		{verb: "create", resource: "namespaces"},
		{verb: "get", resource: "nodes"},
		{verb: "impersonate", resource: "users"},
		{verb: "get", nonResourceURL: "/metrics"},
	}
	// The RBAC authorizer reads roles and bindings from informers: wait until it has
	// seen the ones just created (or give up and let the table report what is missing).
	deadline := time.Now().Add(10 * time.Second)
	for _, check := range checks {
		for check.allowed && !reviewAccess(ctx, t, cs, operatorNamespace, managerName, check) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, check := range checks {
		t.Run(check.String(), func(t *testing.T) {
			if got := reviewAccess(ctx, t, cs, operatorNamespace, managerName, check); got != check.allowed {
				t.Errorf("allowed = %t, want %t", got, check.allowed)
			}
		})
	}

	// Control: another service account of the same namespace is refused what the
	// manager is allowed, so the rows above are allowed by the installer's bindings,
	// not by some default grant.
	t.Run("control: the namespace's default service account", func(t *testing.T) {
		for _, check := range checks {
			if !check.allowed {
				continue
			}
			if reviewAccess(ctx, t, cs, operatorNamespace, "default", check) {
				t.Errorf("the default service account may %s", check)
			}
		}
	})
}

// TestPrometheusManifests checks that config/prometheus fits the installer: the
// ServiceMonitor selects the metrics Service and scrapes its HTTPS port, and the
// alert rules use only metrics the operator serves.
func TestPrometheusManifests(t *testing.T) {
	objs := kustomizeBuild(t, "config/prometheus")
	var svc corev1.Service
	fromUnstructured(t, findObject(t, buildInstaller(t), "Service", metricsServiceName), &svc)

	monitor := findObject(t, objs, "ServiceMonitor", "controller-manager-metrics-monitor")
	selector, _, _ := unstructured.NestedStringMap(monitor.Object, "spec", "selector", "matchLabels")
	if len(selector) == 0 {
		t.Error("the ServiceMonitor selects every Service")
	}
	for k, v := range selector {
		if svc.Labels[k] != v {
			t.Errorf("the ServiceMonitor selects %s=%s, which the metrics Service does not have (%v)", k, v, svc.Labels)
		}
	}
	endpoints, _, _ := unstructured.NestedSlice(monitor.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("the ServiceMonitor has %d endpoints, want 1", len(endpoints))
	}
	endpoint, _ := endpoints[0].(map[string]any)
	if port, _ := endpoint["port"].(string); len(svc.Spec.Ports) == 0 || port != svc.Spec.Ports[0].Name {
		t.Errorf("the ServiceMonitor scrapes port %q; the metrics Service's port is %+v", port, svc.Spec.Ports)
	}
	if scheme, _ := endpoint["scheme"].(string); scheme != "https" {
		t.Errorf("scheme %q, want https", scheme)
	}
	// The credential series have their own namespace label, which Prometheus would
	// rename to exported_namespace without honorLabels.
	if honor, _ := endpoint["honorLabels"].(bool); !honor {
		t.Error("honorLabels is not true")
	}
	if token, _ := endpoint["bearerTokenFile"].(string); token == "" {
		t.Error("the ServiceMonitor sends no bearer token: the metrics endpoint refuses anonymous scrapes")
	}

	served := []string{ // README, "Metrics and alerts"; TestMetricsEndpoint checks they are served
		"voipbin_credential_token_expiration_timestamp_seconds",
		"voipbin_credential_token_renewal_timestamp_seconds",
		"voipbin_credential_accesskey_expiration_timestamp_seconds",
		"voipbin_credential_ready",
		"voipbin_api_requests_total",
		"voipbin_api_request_duration_seconds",
	}
	metricName := regexp.MustCompile(`voipbin_[a-z_]+`)
	rule := findObject(t, objs, "PrometheusRule", "credential-alerts")
	groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	var used []string
	for _, g := range groups {
		rules, _, _ := unstructured.NestedSlice(g.(map[string]any), "rules")
		for _, r := range rules {
			expr, _ := r.(map[string]any)["expr"].(string)
			for _, name := range metricName.FindAllString(expr, -1) {
				if !slices.Contains(served, name) {
					t.Errorf("alert %v uses %s, which the operator does not serve", r.(map[string]any)["alert"], name)
				}
				used = append(used, name)
			}
		}
	}
	for _, want := range []string{ // the alerts of the issue: expiring token and accesskey, not Ready, failed logins
		"voipbin_credential_token_expiration_timestamp_seconds",
		"voipbin_credential_accesskey_expiration_timestamp_seconds",
		"voipbin_credential_ready",
		"voipbin_api_requests_total",
	} {
		if !slices.Contains(used, want) {
			t.Errorf("no alert uses %s", want)
		}
	}
}
