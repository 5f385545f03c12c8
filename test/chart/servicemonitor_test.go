package chart

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/voipbin/credential-operator/test/manifests"
)

// TestServiceMonitorVerifiesAndAuthenticates checks the ServiceMonitor of the chart
// and of config/monitoring: it selects the metrics Service and scrapes its HTTPS
// port, sends the token of a ServiceAccount bound to the metrics-reader ClusterRole
// through authorization (not the deprecated bearerTokenFile), and verifies TLS
// against the CA of the certificate the manager serves, for the Service's name.
func TestServiceMonitorVerifiesAndAuthenticates(t *testing.T) {
	in := render(t, "config/monitoring", "--set", "metrics.tls.certManager.enabled=true",
		"--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true")
	for layout, objs := range map[string][]*unstructured.Unstructured{"chart": in.chart, "config/monitoring": in.kustomize} {
		t.Run(layout, func(t *testing.T) {
			monitors := manifests.OfKind(objs, "ServiceMonitor")
			if len(monitors) != 1 {
				t.Fatalf("%d ServiceMonitors", len(monitors))
			}
			monitor := monitors[0]
			var svc corev1.Service
			if err := convertNamed(objs, "Service", managerName+"-metrics-service", &svc); err != nil {
				t.Fatal(err)
			}
			selector, _, _ := unstructured.NestedStringMap(monitor.Object, "spec", "selector", "matchLabels")
			if len(selector) == 0 {
				t.Error("the ServiceMonitor selects every Service")
			}
			for k, v := range selector {
				if svc.Labels[k] != v {
					t.Errorf("the ServiceMonitor selects %s=%s; the metrics Service has %v", k, v, svc.Labels)
				}
			}
			endpoints, _, _ := unstructured.NestedSlice(monitor.Object, "spec", "endpoints")
			if len(endpoints) != 1 {
				t.Fatalf("%d endpoints", len(endpoints))
			}
			ep := endpoints[0].(map[string]any)
			str := func(path ...string) string { v, _, _ := unstructured.NestedString(ep, path...); return v }
			if str("port") != svc.Spec.Ports[0].Name || str("scheme") != "https" {
				t.Errorf("scrapes port %q with %q; the Service's port is %q", str("port"), str("scheme"), svc.Spec.Ports[0].Name)
			}
			if honor, _, _ := unstructured.NestedBool(ep, "honorLabels"); !honor {
				t.Error("honorLabels is not true: the credentials' namespace label would be renamed")
			}
			for _, deprecated := range []string{"bearerTokenFile", "bearerTokenSecret"} {
				if _, ok := ep[deprecated]; ok {
					t.Errorf("the endpoint uses the deprecated %s", deprecated)
				}
			}
			if skip, _, _ := unstructured.NestedBool(ep, "tlsConfig", "insecureSkipVerify"); skip {
				t.Error("insecureSkipVerify is true")
			}
			if want := svc.Name + "." + svc.Namespace + ".svc"; str("tlsConfig", "serverName") != want {
				t.Errorf("serverName %q, want %q", str("tlsConfig", "serverName"), want)
			}

			// The CA is that of the certificate the manager serves.
			caSecret := str("tlsConfig", "ca", "secret", "name")
			var cert *unstructured.Unstructured
			for _, c := range manifests.OfKind(objs, "Certificate") {
				if name, _, _ := unstructured.NestedString(c.Object, "spec", "secretName"); name == caSecret {
					cert = c
				}
			}
			if cert == nil || str("tlsConfig", "ca", "secret", "key") != "ca.crt" {
				t.Fatalf("the CA Secret %q (key %q) is no Certificate's", caSecret, str("tlsConfig", "ca", "secret", "key"))
			}
			dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
			if len(dnsNames) == 0 || dnsNames[0] != str("tlsConfig", "serverName") {
				t.Errorf("the certificate is for %v, not for %s", dnsNames, str("tlsConfig", "serverName"))
			}
			var dep appsv1.Deployment
			if err := convertNamed(objs, "Deployment", managerName, &dep); err != nil {
				t.Fatal(err)
			}
			mounted := false
			for _, v := range dep.Spec.Template.Spec.Volumes {
				if v.Secret == nil || v.Secret.SecretName != caSecret {
					continue
				}
				for _, m := range dep.Spec.Template.Spec.Containers[0].VolumeMounts {
					mounted = mounted || (m.Name == v.Name && m.MountPath == "/tmp/k8s-metrics-server/serving-certs")
				}
			}
			if !mounted {
				t.Error("the manager does not serve the certificate: its Secret is not mounted at /tmp/k8s-metrics-server/serving-certs")
			}

			// The token is a ServiceAccount's, bound to metrics-reader.
			tokenSecret := str("authorization", "credentials", "name")
			if str("authorization", "type") != "Bearer" || str("authorization", "credentials", "key") != "token" {
				t.Errorf("authorization %v", ep["authorization"])
			}
			secret := manifests.Find(objs, "Secret", "", tokenSecret)
			if secret == nil {
				t.Fatalf("no Secret %s", tokenSecret)
			}
			if typ, _, _ := unstructured.NestedString(secret.Object, "type"); typ != string(corev1.SecretTypeServiceAccountToken) {
				t.Errorf("the Secret %s is of type %q", tokenSecret, typ)
			}
			account := secret.GetAnnotations()[corev1.ServiceAccountNameKey]
			if manifests.Find(objs, "ServiceAccount", secret.GetNamespace(), account) == nil {
				t.Errorf("the token Secret is for the ServiceAccount %q, which is not installed", account)
			}
			bound := false
			for _, b := range manifests.OfKind(objs, "ClusterRoleBinding") {
				var crb rbacv1.ClusterRoleBinding
				if err := manifests.Convert(b, &crb); err != nil {
					t.Fatal(err)
				}
				for _, s := range crb.Subjects {
					if s.Kind == "ServiceAccount" && s.Name == account && s.Namespace == secret.GetNamespace() {
						if crb.RoleRef.Name != manifests.Release+"-metrics-reader" {
							t.Errorf("the scraper is bound to %s", crb.RoleRef.Name)
						}
						bound = true
					}
				}
			}
			if !bound {
				t.Error("the scraper's ServiceAccount is bound to no ClusterRole: the manager would refuse its scrapes")
			}
		})
	}
}
