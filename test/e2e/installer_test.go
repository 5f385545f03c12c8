package e2e

import (
	"regexp"
	"slices"
	"sort"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
)

var _ = Describe("The installer", func() {
	// Beyond what the restricted Pod Security Standard enforces.
	It("holds every kind it needs and nothing of the Prometheus Operator, and configures the manager as installed", func() {
		objs := buildInstaller()
		var kinds []string
		for _, o := range objs {
			kinds = append(kinds, o.GetKind())
			Expect(o.GetAPIVersion()).NotTo(HavePrefix("monitoring.coreos.com/"),
				"the installer holds %s %s: it would fail on clusters without the Prometheus Operator", o.GetKind(), o.GetName())
		}
		Expect(kinds).To(ContainElements("Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole",
			"ClusterRoleBinding", "Role", "RoleBinding", "Service", "Deployment"))

		Expect(findObject(objs, "Namespace", operatorNamespace).GetLabels()).To(HaveKeyWithValue(podSecurityEnforceKey, "restricted"))

		var dep appsv1.Deployment
		typed(objs, "Deployment", managerName, &dep)
		Expect(dep.Namespace).To(Equal(operatorNamespace))
		Expect(dep.Spec.Template.Spec.ServiceAccountName).To(Equal(managerName), "the manager's service account")
		Expect(dep.Spec.Template.Spec.Containers).To(HaveLen(1))
		mgr := dep.Spec.Template.Spec.Containers[0]
		Expect(mgr.Image).To(Equal(installerTestImage), "the image: the IMG the installer was built for")
		Expect(mgr.Args).To(ContainElements("--leader-elect", "--metrics-bind-address=:8443", "--health-probe-bind-address=:8081"))
		// The installer keeps the default (https://api.voipbin.net), and serves
		// metrics securely: the flags' defaults are the safe ones.
		Expect(mgr.Args).NotTo(ContainElement(Or(HavePrefix("--allowed-api-urls"), Equal("--metrics-secure=false"))),
			"the installer must keep these flags' defaults")
		Expect(mgr.LivenessProbe).To(HaveField("HTTPGet", HaveField("Path", "/healthz")), "liveness probe")
		Expect(mgr.ReadinessProbe).To(HaveField("HTTPGet", HaveField("Path", "/readyz")), "readiness probe")
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			Expect(mgr.Resources.Requests).To(HaveKey(res), "requests")
			Expect(mgr.Resources.Limits).To(HaveKey(res), "limits")
		}
		// The restricted Pod Security Standard does not require a read-only root
		// filesystem.
		Expect(mgr.SecurityContext).NotTo(BeNil())
		Expect(ptr.Deref(mgr.SecurityContext.ReadOnlyRootFilesystem, false)).To(BeTrue(), "a read-only root filesystem")

		// The metrics Service reaches the manager's HTTPS metrics port.
		var svc corev1.Service
		typed(objs, "Service", metricsServiceName, &svc)
		for k, v := range svc.Spec.Selector {
			Expect(dep.Spec.Template.Labels).To(HaveKeyWithValue(k, v), "the metrics Service selects it; the manager's pods lack it")
		}
		Expect(svc.Spec.Ports).To(HaveLen(1))
		Expect(svc.Spec.Ports[0].Port).To(BeEquivalentTo(8443))
		Expect(svc.Spec.Ports[0].TargetPort.IntValue()).To(Equal(8443))
	})

	// As the README asks ("A complete example"): as a volume, never through env
	// vars or a subPath mount, which keep the old token after a renewal.
	It("comes with a consumer sample that mounts the managed Secret as a volume", func() {
		var dep appsv1.Deployment
		typed(kustomizeBuild("config/samples/consumer"), "Deployment", "billing", &dep)
		spec := dep.Spec.Template.Spec
		volume := ""
		for _, v := range spec.Volumes {
			if v.Secret != nil && v.Secret.SecretName == "billing-voipbin" {
				volume = v.Name
			}
		}
		Expect(volume).NotTo(BeEmpty(), "no volume of the Secret billing-voipbin in %+v", spec.Volumes)
		mounted := false
		for _, c := range spec.Containers {
			for _, e := range c.Env {
				Expect(e.ValueFrom).To(Or(BeNil(), HaveField("SecretKeyRef", BeNil())), "container %s reads a Secret through env %s", c.Name, e.Name)
			}
			for _, e := range c.EnvFrom {
				Expect(e.SecretRef).To(BeNil(), "container %s reads a Secret through envFrom", c.Name)
			}
			for _, m := range c.VolumeMounts {
				if m.Name != volume {
					continue
				}
				mounted = true
				Expect(m.SubPath+m.SubPathExpr).To(BeEmpty(), "container %s mounts the Secret with a subPath", c.Name)
			}
		}
		Expect(mounted).To(BeTrue(), "no container mounts the Secret's volume")
	})

	// config/prometheus fits the installer: the ServiceMonitor selects the metrics
	// Service and scrapes its HTTPS port, and the alert rules use only metrics the
	// operator serves.
	It("fits config/prometheus: the ServiceMonitor scrapes the metrics Service, the alerts use served metrics", func() {
		objs := kustomizeBuild("config/prometheus")
		var svc corev1.Service
		typed(buildInstaller(), "Service", metricsServiceName, &svc)

		monitor := findObject(objs, "ServiceMonitor", "controller-manager-metrics-monitor")
		selector, _, _ := unstructured.NestedStringMap(monitor.Object, "spec", "selector", "matchLabels")
		Expect(selector).NotTo(BeEmpty(), "the ServiceMonitor selects every Service")
		for k, v := range selector {
			Expect(svc.Labels).To(HaveKeyWithValue(k, v), "the ServiceMonitor selects it; the metrics Service lacks it")
		}
		endpoints, _, _ := unstructured.NestedSlice(monitor.Object, "spec", "endpoints")
		Expect(endpoints).To(HaveLen(1))
		endpoint, _ := endpoints[0].(map[string]any)
		Expect(svc.Spec.Ports).NotTo(BeEmpty())
		Expect(endpoint).To(HaveKeyWithValue("port", svc.Spec.Ports[0].Name), "the port the ServiceMonitor scrapes")
		Expect(endpoint).To(HaveKeyWithValue("scheme", "https"))
		// The credential series have their own namespace label, which Prometheus
		// would rename to exported_namespace without honorLabels.
		Expect(endpoint).To(HaveKeyWithValue("honorLabels", true))
		Expect(endpoint).NotTo(HaveKey("bearerTokenFile"), "the deprecated bearerTokenFile")
		authType, _, _ := unstructured.NestedString(endpoint, "authorization", "type")
		tokenSecret, _, _ := unstructured.NestedString(endpoint, "authorization", "credentials", "name")
		Expect(authType).To(Equal("Bearer"), "a bearer token: the metrics endpoint refuses anonymous scrapes")
		Expect(tokenSecret).NotTo(BeEmpty(), "the bearer token comes from a Secret")
		insecure, _, _ := unstructured.NestedBool(endpoint, "tlsConfig", "insecureSkipVerify")
		caSecret, _, _ := unstructured.NestedString(endpoint, "tlsConfig", "ca", "secret", "name")
		Expect(insecure).To(BeFalse(), "TLS is verified")
		Expect(caSecret).NotTo(BeEmpty(), "against the serving certificate's CA")

		served := []string{ // README, "Metrics and alerts"; the manager's spec checks they are served
			"voipbin_credential_token_expiration_timestamp_seconds",
			"voipbin_credential_token_renewal_timestamp_seconds",
			"voipbin_credential_accesskey_expiration_timestamp_seconds",
			"voipbin_credential_ready",
			"voipbin_api_requests_total",
			"voipbin_api_request_duration_seconds",
		}
		metricName := regexp.MustCompile(`voipbin_[a-z_]+`)
		groups, _, _ := unstructured.NestedSlice(findObject(objs, "PrometheusRule", "credential-alerts").Object, "spec", "groups")
		var used []string
		for _, g := range groups {
			rules, _, _ := unstructured.NestedSlice(g.(map[string]any), "rules")
			for _, r := range rules {
				expr, _ := r.(map[string]any)["expr"].(string)
				for _, name := range metricName.FindAllString(expr, -1) {
					Expect(served).To(ContainElement(name), "alert %v uses a metric the operator does not serve", r.(map[string]any)["alert"])
					used = append(used, name)
				}
			}
		}
		// The alerts of the issue: expiring token and accesskey, not Ready, failed logins.
		Expect(used).To(ContainElements(
			"voipbin_credential_token_expiration_timestamp_seconds",
			"voipbin_credential_accesskey_expiration_timestamp_seconds",
			"voipbin_credential_ready",
			"voipbin_api_requests_total",
		))
	})
})

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

// sortForInstall sorts objs in installOrder.
func sortForInstall(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	ordered := slices.Clone(objs)
	sort.SliceStable(ordered, func(i, j int) bool { return installOrder(ordered[i].GetKind()) < installOrder(ordered[j].GetKind()) })
	return ordered
}

// isPodSecurityRejection matches the PodSecurity admission plugin refusing a pod
// under the restricted level.
func isPodSecurityRejection() OmegaMatcher {
	return And(WithTransform(apierrors.IsForbidden, BeTrue()), WithTransform(func(err error) bool {
		return strings.Contains(err.Error(), `violates PodSecurity "restricted`)
	}, BeTrue()))
}
