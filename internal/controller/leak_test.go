package controller_test

import (
	"encoding/base64"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
	"github.com/voipbin/credential-operator/test/harness"
)

var _ = Describe("secrets", func() {
	// TestNoSecretsLeak runs every kind of outcome and scans the manager's logs (at
	// its highest verbosity), the events and the status for the passwords, tokens
	// and keys used, raw and base64. AfterSuite scans the logs of all specs the same way.
	It("TestNoSecretsLeak", func() {
		e := newEnv(10 * time.Second)
		e.api.AddAgent("leak@example.com", "leak-password-1", "")
		good := e.api.AddAccessKey(voipbintest.AccessKey{Name: "leak", Expire: time.Now().Add(8 * time.Second)})
		bad := voipbintest.NewAccessKeySecret()
		e.loginSecret("good-login", "leak@example.com", "leak-password-1")
		e.loginSecret("bad-login", "leak@example.com", "leak-password-wrong")
		e.accessKeySecret("good-key", good.Key)
		e.accessKeySecret("bad-key", bad)

		// Templated keys: their values are secrets too, in forms (and base64
		// forms) of their own; a template that fails on the real values goes
		// through the error path with the token in hand.
		e.credential("good", withLogin("good-login"), withAccessKey("good-key"), withSecretTemplate(map[string]string{
			"auth-header": "Bearer {{ .Token }}", "voipbin.env": "KEY={{ .AccessKey }}\nTOKEN={{ .Token }}\n",
		}))
		e.credential("bad", withLogin("bad-login"), withAccessKey("bad-key"))
		e.credential("broken", withLogin("good-login"), withSecretTemplate(map[string]string{"head": "{{ slice .Token 5000 }}"}))
		e.waitReady("good", 15*time.Second)
		e.waitCondition("broken", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonTemplateError, 15*time.Second)
		rendered := &corev1.Secret{}
		Expect(e.c.Get(e.ctx, client.ObjectKey{Namespace: e.ns, Name: "good-out"}, rendered)).To(Succeed())
		Expect(string(rendered.Data["auth-header"])).To(Equal("Bearer "+string(rendered.Data[v1alpha1.SecretKeyToken])),
			"precondition: the scan looks for rendered values the Secret holds")
		e.waitCondition("bad", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonInvalidCredentials, 15*time.Second)
		// Renewals, an outage, garbage and a reset, and the key's expiry.
		e.api.InjectFault("/auth/login", voipbintest.Fault{Count: 1, Status: 500})
		e.api.InjectFault("/v1.0/accesskeys", voipbintest.Fault{Count: 1, Garbage: true})
		time.Sleep(9 * time.Second)
		e.api.InjectFault("/auth/login", voipbintest.Fault{Count: 1, Reset: true})
		e.update("good", withRefreshRequest("x"))
		e.waitCondition("good", v1alpha1.ConditionAccessKeyValid, metav1.ConditionFalse, v1alpha1.ReasonAccessKeyExpired, 15*time.Second)
		Eventually(e.api.TokenCount).WithTimeout(20*time.Second).Should(BeNumerically(">=", 3), "a renewal: tokens issued")

		used := harness.NewLeakScanner()
		used.Add("password", "leak-password-1", "leak-password-wrong")
		used.Add("accesskey", good.Key, bad)
		used.AddIssuer("token", e.api.IssuedTokens)
		used.Add("rendered accesskey", "KEY="+good.Key+"\n")
		used.AddIssuer("rendered token", func() []string {
			var out []string
			for _, t := range e.api.IssuedTokens() {
				out = append(out, "Bearer "+t, "\nTOKEN="+t+"\n")
			}
			return out
		})
		cluster, err := harness.ReadClusterText(e.ctx, e.c, e.ns)
		Expect(err).NotTo(HaveOccurred())
		events, credentials := cluster.Events, cluster.Credentials
		logs := e.logs.String()
		found := used.Scan("logs", logs)
		found = append(found, used.Scan("events", events)...)
		found = append(found, used.Scan("status", credentials)...)
		Expect(found).To(BeEmpty(), "secrets leaked")
		Expect(strings.Contains(logs, `"level":"debug`) || strings.Contains(logs, `"v":`) ||
			strings.Contains(logs, "next reconcile scheduled")).To(BeTrue(),
			"the logs hold no debug lines: the scan did not see the highest verbosity")
		Expect(credentials).To(ContainSubstring(good.Key[:11]), "the status does not show the key's prefix")

		// Positive control: a secret written through the manager's own logger is found,
		// in each form written, so the scan reads the real log stream.
		planted := "planted-" + voipbintest.NewAccessKeySecret() // not a key of the stand-in
		e.mgr.GetLogger().V(5).Info("positive control", "value", planted, "b64",
			base64.StdEncoding.EncodeToString([]byte(planted)))
		control := harness.NewLeakScanner()
		control.Add("planted", planted)
		var forms []string
		for _, leak := range control.Scan("logs", e.logs.String()) {
			forms = append(forms, leak.Form)
		}
		Expect(forms).To(ContainElements("raw", "base64-std"), "the scan missed the planted secret")
	})

	// TestCachesHoldNoSecretData proves the manager caches no Secret it does not
	// manage: an unrelated Secret (with kubectl's last-applied annotation, which
	// repeats its data) is nowhere in its cache, even after the manager's client
	// read it. (Input Secrets' changes come from a watch that stores nothing; the
	// password-change specs show it works.)
	It("TestCachesHoldNoSecretData", func() {
		e := newEnv(7 * 24 * time.Hour)
		e.api.AddAgent("cache@example.com", "cache-password", "")
		e.loginSecret("login", "cache@example.com", "cache-password")
		e.credential("cache", withLogin("login"))
		e.waitReady("cache", 15*time.Second)

		payload := strings.Repeat("unrelated-secret-data-", 200)
		unrelated := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "unrelated", Namespace: e.ns, Labels: map[string]string{"app": "x"},
				Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"data":{"x":"` + payload + `"}}`}},
			Data: map[string][]byte{"x": []byte(payload)},
		}
		Expect(e.c.Create(e.ctx, unrelated)).To(Succeed())

		// Reading it through the manager's client goes to the API server...
		full := &corev1.Secret{}
		Expect(e.mgr.GetClient().Get(e.ctx, client.ObjectKeyFromObject(unrelated), full)).To(Succeed())
		Expect(full.Data["x"]).To(HaveLen(len(payload)), "the client did not read the Secret")
		// ...and leaves no full-Secret informer behind: the manager's cache holds only
		// the managed Secret.
		secrets := &corev1.SecretList{}
		Expect(e.mgr.GetCache().List(e.ctx, secrets, client.InNamespace(e.ns))).To(Succeed())
		var names []string
		for _, s := range secrets.Items {
			names = append(names, s.Name)
			Expect(s.Labels).To(HaveKeyWithValue(v1alpha1.LabelCredential, Not(BeEmpty())),
				"the manager's cache holds the Secret %q, which is not managed", s.Name)
		}
		Expect(names).To(Equal([]string{"cache-out"}), "the manager's cache holds other Secrets than cache-out")
		Expect(e.mgr.GetCache().Get(e.ctx, client.ObjectKeyFromObject(unrelated), &corev1.Secret{})).NotTo(Succeed(),
			"the manager's cache returned the unrelated Secret")
	})
})
