package e2e

import (
	"crypto/tls"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
	"github.com/voipbin/credential-operator/test/harness"
)

var _ = Describe("The manager binary", func() {
	It("lists every flag in --help", func() {
		out, _ := exec.Command(managerBin, "--help").CombinedOutput()
		var missing []string
		for _, flag := range []string{
			"-metrics-bind-address", "-metrics-secure", "-health-probe-bind-address", "-pprof-bind-address", "-leader-elect",
			"-leader-election-namespace", "-leader-election-id",
			"-enable-http2", "-kubeconfig", "-zap-log-level",
			"-allowed-api-urls", "-watch-namespaces", "-max-concurrent-reconciles", "-api-timeout",
			"-login-qps", "-login-burst", "-api-qps", "-api-burst",
		} {
			if !strings.Contains(string(out), flag) {
				missing = append(missing, flag)
			}
		}
		Expect(missing).To(BeEmpty(), "--help does not list them:\n%s", out)
	})

	It("serves /healthz and /readyz against a real API server", func() {
		ns := newNamespace("probes")
		mgr := startManager(ns, harness.ManagerOptions{WatchNamespaces: []string{ns}})
		for _, path := range []string{"/healthz", "/readyz"} {
			Eventually(httpStatus(&http.Client{Timeout: 5 * time.Second}, "http://"+mgr.ProbeAddr()+path, "")).
				WithTimeout(30*time.Second).Should(Equal(http.StatusOK), "GET %s", path)
		}
	})

	// controller-runtime reads the Lease's namespace from the service account's
	// files, which exist only in a pod: before --leader-election-namespace
	// existed, the manager could not start with --leader-elect outside a cluster
	// at all ("unable to find leader election namespace: not running
	// in-cluster"), as make soak and a developer's laptop run it.
	It("takes its Lease outside a cluster in --leader-election-namespace, and says so in its metrics", func() {
		Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "operator-system"}})).To(Succeed())
		metricsAddr, err := harness.FreeLoopbackAddr()
		Expect(err).NotTo(HaveOccurred())
		// It watches only that namespace: the Lease is what this spec is about,
		// and the credentials of the other specs are theirs.
		startManager("operator-system", harness.ManagerOptions{WatchNamespaces: []string{"operator-system"},
			Args: []string{"--leader-elect", "--leader-election-namespace=operator-system",
				"--metrics-bind-address=" + metricsAddr, "--metrics-secure=false"}})

		Eventually(func() string {
			lease, err := cp.Clientset.CoordinationV1().Leases("operator-system").Get(ctx, harness.LeaderElectionID, metav1.GetOptions{})
			if err != nil || lease.Spec.HolderIdentity == nil {
				return ""
			}
			return *lease.Spec.HolderIdentity
		}).WithTimeout(30*time.Second).ShouldNot(BeEmpty(), "the holder of Lease operator-system/%s", harness.LeaderElectionID)
		families := scrape(&http.Client{Timeout: 5 * time.Second}, "http://"+metricsAddr+"/metrics", "")
		Expect(series(families, "leader_election_master_status", map[string]string{"name": harness.LeaderElectionID})).
			To(Equal(1.0))

		By("a second manager, split by --watch-namespaces, leads too with its own --leader-election-id")
		other := newNamespace("split")
		startManager(other, harness.ManagerOptions{WatchNamespaces: []string{other},
			Args: []string{"--leader-elect", "--leader-election-namespace=operator-system", "--leader-election-id=split.credentials.voipbin.net"}})
		Eventually(func() string {
			lease, err := cp.Clientset.CoordinationV1().Leases("operator-system").Get(ctx, "split.credentials.voipbin.net", metav1.GetOptions{})
			if err != nil || lease.Spec.HolderIdentity == nil {
				return ""
			}
			return *lease.Spec.HolderIdentity
		}).WithTimeout(30*time.Second).ShouldNot(BeEmpty(), "the holder of the second Lease")
		Expect(series(scrape(&http.Client{Timeout: 5 * time.Second}, "http://"+metricsAddr+"/metrics", ""),
			"leader_election_master_status", map[string]string{"name": harness.LeaderElectionID})).To(Equal(1.0),
			"the first manager is still the leader of its own Lease")
	})

	// With secure metrics (authentication and authorization, as installed),
	// every metric the README lists ("Metrics and alerts").
	It("serves every metric of the README to authorized scrapers only, over HTTPS, and forgets a deleted credential", func() {
		api := voipbintest.New()
		standIn, err := harness.ServeStandIn(api.Handler())
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(standIn.Close)
		password := secretValue("metrics-password")
		api.AddAgent("metrics@example.com", password, "")
		key := api.AddAccessKey(voipbintest.AccessKey{Name: "metrics", Expire: time.Now().Add(30 * 24 * time.Hour)})
		// The final leak scan of the suite looks for them too.
		scanner.Add("password", password)
		scanner.Add("accesskey", key.Key)
		scanner.AddIssuer("token", api.IssuedTokens)
		ns := newNamespace("metrics")
		metricsAddr, err := harness.FreeLoopbackAddr()
		Expect(err).NotTo(HaveOccurred())
		startManager(ns, harness.ManagerOptions{AllowedAPIURLs: []string{standIn.URL}, WatchNamespaces: []string{ns},
			Args: []string{"--metrics-bind-address=" + metricsAddr}})
		token := scraperToken()

		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "login", Namespace: ns},
			Data: map[string][]byte{"username": []byte("metrics@example.com"), "password": []byte(password)}})).To(Succeed())
		Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "key", Namespace: ns},
			Data: map[string][]byte{"accesskey": []byte(key.Key)}})).To(Succeed())
		vbc := &v1alpha1.VoipbinCredential{
			ObjectMeta: metav1.ObjectMeta{Name: "observed", Namespace: ns},
			Spec: v1alpha1.VoipbinCredentialSpec{APIURL: standIn.URL, SecretName: "observed-out",
				Login:     &v1alpha1.LoginSpec{SecretRef: v1alpha1.LoginSecretRef{Name: "login"}},
				AccessKey: &v1alpha1.AccessKeySpec{SecretRef: &v1alpha1.AccessKeySecretRef{Name: "key"}}},
		}
		Expect(k8s.Create(ctx, vbc)).To(Succeed())
		Eventually(func() []metav1.Condition {
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(vbc), vbc)).To(Succeed())
			return vbc.Status.Conditions
		}).WithTimeout(30*time.Second).Should(WithTransform(
			func(c []metav1.Condition) bool { return meta.IsStatusConditionTrue(c, v1alpha1.ConditionReady) }, BeTrue()), "Ready")

		// The endpoint serves HTTPS with a self-signed certificate.
		https := &http.Client{Timeout: 5 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the manager's self-signed certificate
		url := "https://" + metricsAddr + "/metrics"
		Expect(httpStatus(https, url, "")()).To(Equal(http.StatusUnauthorized), "an anonymous scrape")
		families := scrape(https, url, token)
		crLabels := map[string]string{"namespace": ns, "name": "observed"}
		for family, want := range map[string]float64{
			"voipbin_credential_token_expiration_timestamp_seconds":     float64(vbc.Status.Token.ExpiresAt.Unix()),
			"voipbin_credential_token_renewal_timestamp_seconds":        float64(vbc.Status.Token.RenewalTime.Unix()),
			"voipbin_credential_accesskey_expiration_timestamp_seconds": float64(vbc.Status.AccessKey.ExpiresAt.Unix()),
			"voipbin_credential_ready":                                  1,
		} {
			Expect(series(families, family, crLabels)).To(Equal(want), "%s%v", family, crLabels)
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
			Expect(series(families, s.family, s.labels)).To(Equal(1.0), "%s%v", s.family, s.labels)
		}
		// Served from zero, before any restart (rollout restarts are off here).
		Expect(series(families, "voipbin_rollout_restarts_total", map[string]string{"kind": "Deployment", "result": "restarted"})).
			To(Equal(0.0))
		Expect(series(families, "voipbin_events_dropped_total", nil)).To(Equal(0.0), "no event dropped")

		// No secret in the metrics, in any form; the scan finds one planted there.
		body := get(https, url, token)
		Expect(api.IssuedTokens()).NotTo(BeEmpty())
		Expect(scanner.Scan("metrics", body)).To(BeEmpty(), "secrets in the metrics")
		Expect(harness.ProveFinds(body)).To(Succeed())

		// Deleted: its series are gone at the next scrape.
		Expect(k8s.Delete(ctx, vbc)).To(Succeed())
		Eventually(func() map[string]*dto.MetricFamily {
			families = scrape(https, url, token)
			return families
		}).WithTimeout(10*time.Second).ShouldNot(haveSeries("voipbin_credential_ready", crLabels),
			"the deleted credential's series are still served")
		for _, family := range []string{"voipbin_credential_token_expiration_timestamp_seconds",
			"voipbin_credential_token_renewal_timestamp_seconds", "voipbin_credential_accesskey_expiration_timestamp_seconds"} {
			Expect(families).NotTo(haveSeries(family, crLabels), "%s still has the deleted credential", family)
		}
	})
})

// scraperToken gives a scraper's identity, a service account bound to a role
// allowed GET /metrics, and returns its token.
func scraperToken() string {
	GinkgoHelper()
	Expect(k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "prometheus", Namespace: "default"}})).
		To(Succeed())
	Expect(k8s.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}})).To(Succeed())
	Expect(k8s.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "prometheus-metrics"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "metrics-reader"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "prometheus", Namespace: "default"}}})).To(Succeed())
	tr, err := cp.Clientset.CoreV1().ServiceAccounts("default").CreateToken(ctx, "prometheus",
		&authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	return tr.Status.Token
}

// request is a GET of url with a bearer token ("" for none).
func request(url, bearer string) *http.Request {
	GinkgoHelper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	Expect(err).NotTo(HaveOccurred())
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return req
}

// httpStatus polls the status code of a GET of url (0 when it does not answer).
func httpStatus(httpClient *http.Client, url, bearer string) func() int {
	return func() int {
		resp, err := httpClient.Do(request(url, bearer))
		if err != nil {
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
}

// get returns the body of a GET of url, which must answer 200.
func get(httpClient *http.Client, url, bearer string) string {
	GinkgoHelper()
	resp, err := httpClient.Do(request(url, bearer))
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	Expect(resp.StatusCode).To(Equal(http.StatusOK), "GET %s: %s", url, body)
	return string(body)
}

// scrape fetches and parses a metrics endpoint, which must answer 200.
func scrape(httpClient *http.Client, url, bearer string) map[string]*dto.MetricFamily {
	GinkgoHelper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(get(httpClient, url, bearer)))
	Expect(err).NotTo(HaveOccurred(), "parsing the metrics")
	return families
}

// series returns the value of the first series of family with the given labels
// (a histogram's sample count), or nil when there is none.
func series(families map[string]*dto.MetricFamily, family string, labels map[string]string) any {
	f, ok := families[family]
	if !ok {
		return nil
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
			return m.Gauge.GetValue()
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return nil
}

// haveSeries matches metric families that hold a series of family with labels.
func haveSeries(family string, labels map[string]string) OmegaMatcher {
	return WithTransform(func(families map[string]*dto.MetricFamily) any { return series(families, family, labels) }, Not(BeNil()))
}
