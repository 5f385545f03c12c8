package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/testenv"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

// scrape fetches and parses the metrics endpoint.
func scrape(t *testing.T, httpClient *http.Client, url, bearer string) (map[string]*dto.MetricFamily, int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, 0
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, resp.StatusCode
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing metrics: %v", err)
	}
	return families, resp.StatusCode
}

// series returns the value of the series of family with the given labels, and
// whether it exists.
func series(families map[string]*dto.MetricFamily, family string, labels map[string]string) (float64, bool) {
	f, ok := families[family]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// TestMetricsEndpoint runs the manager binary with secure metrics (authentication
// and authorization, as installed) and checks every metric the README lists
// ("Metrics and alerts").
func TestMetricsEndpoint(t *testing.T) {
	bin := buildManager(t)
	env, cfg, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	api := voipbintest.New()
	api.Start()
	defer api.Close()
	api.AddAgent("metrics@example.com", "metrics-password", "")
	key := api.AddAccessKey(voipbintest.AccessKey{Name: "metrics", Expire: time.Now().Add(30 * 24 * time.Hour)})

	kubeconfigPath := adminKubeconfig(t, env)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(runCtx, bin, "--kubeconfig", kubeconfigPath, "--leader-elect=false",
		"--health-probe-bind-address", "0", "--metrics-bind-address", metricsAddr,
		"--allowed-api-urls", api.URL())
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()

	// A scraper's identity: a service account bound to the metrics-reader role.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "prometheus", Namespace: "default"}}))
	must(c.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}}))
	must(c.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "prometheus-metrics"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "metrics-reader"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "prometheus", Namespace: "default"}}}))
	clientset := kubernetes.NewForConfigOrDie(cfg)
	tr, err := clientset.CoreV1().ServiceAccounts("default").CreateToken(ctx, "prometheus",
		&authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	must(err)
	token := tr.Status.Token

	must(c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "login", Namespace: "default"},
		Data: map[string][]byte{"username": []byte("metrics@example.com"), "password": []byte("metrics-password")}}))
	must(c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "key", Namespace: "default"},
		Data: map[string][]byte{"accesskey": []byte(key.Key)}}))
	vbc := &v1alpha1.VoipbinCredential{
		ObjectMeta: metav1.ObjectMeta{Name: "observed", Namespace: "default"},
		Spec: v1alpha1.VoipbinCredentialSpec{APIURL: api.URL(), SecretName: "observed-out",
			Login:     &v1alpha1.LoginSpec{SecretRef: v1alpha1.LoginSecretRef{Name: "login"}},
			AccessKey: &v1alpha1.AccessKeySpec{SecretRef: v1alpha1.AccessKeySecretRef{Name: "key"}}},
	}
	must(c.Create(ctx, vbc))
	deadline := time.Now().Add(30 * time.Second)
	for !meta.IsStatusConditionTrue(vbc.Status.Conditions, v1alpha1.ConditionReady) {
		if time.Now().After(deadline) {
			t.Fatalf("not Ready: %+v\n%s", vbc.Status.Conditions, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
		must(c.Get(ctx, client.ObjectKeyFromObject(vbc), vbc))
	}

	// The endpoint serves HTTPS with a self-signed certificate.
	https := &http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the manager's self-signed certificate
	url := "https://" + metricsAddr + "/metrics"
	if _, code := scrape(t, https, url, ""); code != http.StatusUnauthorized {
		t.Errorf("an anonymous scrape got %d, want 401", code)
	}
	families, code := scrape(t, https, url, token)
	if code != http.StatusOK {
		t.Fatalf("an authorized scrape got %d\n%s", code, logs.String())
	}
	crLabels := map[string]string{"namespace": "default", "name": "observed"}
	for family, want := range map[string]float64{
		"voipbin_credential_token_expiration_timestamp_seconds":     float64(vbc.Status.Token.ExpiresAt.Unix()),
		"voipbin_credential_token_renewal_timestamp_seconds":        float64(vbc.Status.Token.RenewalTime.Unix()),
		"voipbin_credential_accesskey_expiration_timestamp_seconds": float64(vbc.Status.AccessKey.ExpiresAt.Unix()),
		"voipbin_credential_ready":                                  1,
	} {
		if got, ok := series(families, family, crLabels); !ok || got != want {
			t.Errorf("%s%v = %v (present %t), want %v", family, crLabels, got, ok, want)
		}
	}
	for _, s := range []struct {
		family string
		labels map[string]string
	}{
		{"voipbin_api_requests_total", map[string]string{"operation": "login", "code": "200"}},
		{"voipbin_api_requests_total", map[string]string{"operation": "list_accesskeys", "code": "200"}},
		{"voipbin_api_request_duration_seconds", map[string]string{"operation": "login"}},
		{"voipbin_api_request_duration_seconds", map[string]string{"operation": "list_accesskeys"}},
	} {
		if got, ok := series(families, s.family, s.labels); !ok || got != 1 {
			t.Errorf("%s%v = %v (present %t), want 1", s.family, s.labels, got, ok)
		}
	}

	// No secret in the metrics.
	raw, _ := http.NewRequest(http.MethodGet, url, nil)
	raw.Header.Set("Authorization", "Bearer "+token)
	resp, err := https.Do(raw)
	must(err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	for _, secret := range append([]string{"metrics-password", key.Key}, api.IssuedTokens()...) {
		if strings.Contains(string(body), secret) {
			t.Error("a secret is in the metrics")
		}
	}

	// Deleted: its series are gone at the next scrape.
	must(c.Delete(ctx, vbc))
	deadline = time.Now().Add(10 * time.Second)
	for {
		families, _ = scrape(t, https, url, token)
		_, present := series(families, "voipbin_credential_ready", crLabels)
		if !present {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the deleted credential's series are still served")
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, family := range []string{"voipbin_credential_token_expiration_timestamp_seconds",
		"voipbin_credential_token_renewal_timestamp_seconds", "voipbin_credential_accesskey_expiration_timestamp_seconds"} {
		if _, ok := series(families, family, crLabels); ok {
			t.Errorf("%s still has the deleted credential", family)
		}
	}
}
