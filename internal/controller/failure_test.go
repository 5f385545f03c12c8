package controller_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

var _ = Describe("failures", func() {
	It("TestAPIDownKeepsTokenAndBacksOff", func() {
		// 2-minute tokens renewed 100 s before expiry: the first renewal comes about
		// 15-20 s after the login, with plenty of validity left to back off in.
		e := newEnv(2 * time.Minute)
		e.api.AddAgent("down@example.com", "password-down", "")
		e.loginSecret("login", "down@example.com", "password-down")
		e.credential("down", withLogin("login"), func(v *v1alpha1.VoipbinCredential) {
			v.Spec.RenewBefore = &metav1.Duration{Duration: 100 * time.Second}
		})
		e.waitReady("down", 15*time.Second)
		token := string(e.secret("down-out").Data["token"])
		e.api.SetDown("/auth/login", 503)

		e.waitCondition("down", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonRefreshFailing, 30*time.Second)
		Expect(e.condition("down", v1alpha1.ConditionTokenReady)).
			To(haveCondition(metav1.ConditionTrue, v1alpha1.ReasonRefreshFailing), "TokenReady")
		// Four failed attempts: 5 s, 10 s, 20 s apart (±20%).
		Eventually(func() int32 { return e.get("down").Status.Token.FailedAttempts }).WithTimeout(50*time.Second).
			Should(BeNumerically(">=", 4), "four failed attempts")
		Expect(e.secret("down-out").Data["token"]).To(beCredential(token), "a failed refresh changed the Secret")
		var logins []time.Time                                  // the stand-in answers 503 before it reads the username
		for _, r := range e.api.RequestsTo("/auth/login")[1:] { // the first was the good login
			logins = append(logins, r.Time)
		}
		Expect(len(logins)).To(BeNumerically(">=", 4), "failed logins at the stand-in")
		for i := 2; i < len(logins); i++ {
			prev, gap := logins[i-1].Sub(logins[i-2]), logins[i].Sub(logins[i-1])
			Expect(gap).To(BeNumerically(">", prev), "gap %d (%s) is not longer than gap %d (%s)", i, gap, i-1, prev)
		}
		Expect(e.events("down", v1alpha1.EventLoginFailed)).To(HaveLen(1), "LoginFailed events, want 1 for the whole outage")

		e.api.SetDown("/auth/login", 0)
		Eventually(func() []byte { return e.secret("down-out").Data["token"] }).WithTimeout(40*time.Second).
			ShouldNot(beCredential(token), "a new token after the outage")
		e.waitReady("down", 5*time.Second)
		Expect(e.get("down").Status.Token.FailedAttempts).To(BeZero(), "failedAttempts after a success")
	})

	It("TestRetryAfterHoldsForEveryCredential", func() {
		e := newEnv(7 * 24 * time.Hour)
		e.api.AddAgent("first@example.com", "pw-first", "")
		e.api.AddAgent("second@example.com", "pw-second", "")
		e.loginSecret("first-login", "first@example.com", "pw-first")
		e.loginSecret("second-login", "second@example.com", "pw-second")
		e.api.InjectFault("/auth/login", voipbintest.Fault{Status: 429, RetryAfter: "20"})

		e.credential("first", withLogin("first-login"))
		var limited time.Time
		Eventually(func() bool {
			for _, r := range e.api.RequestsTo("/auth/login") {
				if r.Status == 429 {
					limited = r.Time
					return true
				}
			}
			return false
		}).WithTimeout(10*time.Second).Should(BeTrue(), "the 429")
		e.credential("second", withLogin("second-login"))
		e.waitCondition("first", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonRateLimited, 5*time.Second)

		e.waitReady("first", 35*time.Second)
		e.waitReady("second", 10*time.Second)
		requests := e.api.RequestsTo("/auth/login")
		Expect(len(requests)).To(BeNumerically(">=", 3), "login requests")
		for _, r := range requests[1:] {
			Expect(r.Time.Sub(limited)).To(And(BeNumerically(">=", 20*time.Second), BeNumerically("<=", 25*time.Second)),
				"login of %s %s after the 429, want 20-25 s", r.Username, r.Time.Sub(limited).Round(100*time.Millisecond))
		}
		Expect(requests).To(HaveLen(3), "login requests, want 3 (the 429 and one per credential)")
	})

	It("TestManagedSecretRestored", func() {
		e := newEnv(7 * 24 * time.Hour)
		e.api.AddAgent("restore@example.com", "pw-restore", "")
		e.loginSecret("login", "restore@example.com", "pw-restore")
		e.credential("restore", withLogin("login"))
		e.waitReady("restore", 15*time.Second)

		// Deleted by hand: recreated within 5 s.
		Expect(e.c.Delete(e.ctx, e.secret("restore-out"))).To(Succeed())
		deleted := time.Now()
		Eventually(func() []byte {
			if s := e.secret("restore-out"); s != nil {
				return s.Data["token"]
			}
			return nil
		}).WithTimeout(5*time.Second).ShouldNot(BeEmpty(), "the Secret recreated")
		GinkgoWriter.Printf("recreated after %s\n", time.Since(deleted))
		Expect(e.logins("restore@example.com")).To(HaveLen(2), "logins, want 2 (a new login for the deleted Secret)")

		// token edited by hand: restored by a new login within 5 s.
		e.setSecretData("restore-out", "token", "edited-by-hand")
		Eventually(func() string { return string(e.secret("restore-out").Data["token"]) }).WithTimeout(5*time.Second).
			ShouldNot(Or(Equal("edited-by-hand"), BeEmpty()), "the token restored")
		Expect(e.logins("restore@example.com")).To(HaveLen(3), "logins")
		e.waitReady("restore", 5*time.Second)
		// And then it stays quiet.
		Consistently(func() []time.Time { return e.logins("restore@example.com") }).WithTimeout(2*time.Second).
			Should(HaveLen(3), "logins after the restore settled")
	})

	// TestSecretWriteFailureKeepsStatusHonest makes the API server refuse the managed
	// Secret (a ValidatingAdmissionPolicy): the status must not describe a token the
	// Secret does not hold. Once the Secret can be written, the token obtained earlier
	// is stored without a second login.
	It("TestSecretWriteFailureKeepsStatusHonest", func() {
		e := newEnv(7 * 24 * time.Hour)
		e.api.AddAgent("refused@example.com", "pw-refused", "")
		e.loginSecret("login", "refused@example.com", "pw-refused")
		name := e.ns + "-refuse-secret"
		fail := admissionregistrationv1.Fail
		policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
				FailurePolicy: &fail,
				MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{"CREATE", "UPDATE"},
						Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"secrets"}},
					},
				}}},
				Validations: []admissionregistrationv1.Validation{{Expression: "object.metadata.name != 'refused-out'"}},
			},
		}
		binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
				PolicyName:        name,
				ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
				MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
					MatchLabels: map[string]string{"kubernetes.io/metadata.name": e.ns}}},
			},
		}
		// Both are cluster-scoped: they go with the spec even if it fails half-way.
		for _, obj := range []client.Object{policy, binding} {
			Expect(e.c.Create(e.ctx, obj)).To(Succeed())
			DeferCleanup(func() { Expect(client.IgnoreNotFound(e.c.Delete(e.ctx, obj))).To(Succeed()) })
		}
		// The policy takes a moment to be enforced: wait until it refuses a probe.
		Eventually(func() error {
			probe := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "refused-out", Namespace: e.ns}}
			err := e.c.Create(e.ctx, probe)
			if err == nil {
				_ = e.c.Delete(e.ctx, probe)
			}
			return err
		}).WithTimeout(10*time.Second).ShouldNot(Succeed(), "the policy enforced")

		e.credential("refused", withLogin("login"))
		Eventually(func() []time.Time { return e.logins("refused@example.com") }).WithTimeout(10*time.Second).
			ShouldNot(BeEmpty(), "a login")
		Consistently(func() bool { return e.secretExists("refused-out") }).WithTimeout(2*time.Second).
			Should(BeFalse(), "the policy did not stop the Secret: the test proves nothing")
		Expect(e.get("refused").Status.Token).To(Or(BeNil(), HaveField("ExpiresAt", BeNil())),
			"status.token.expiresAt for a token no Secret holds")

		Expect(e.c.Delete(e.ctx, binding)).To(Succeed())
		e.waitReady("refused", 60*time.Second)
		Expect(e.logins("refused@example.com")).To(HaveLen(1), "logins, want 1: the token obtained earlier is reused")
		s := e.secret("refused-out")
		st := e.get("refused").Status.Token
		Expect(st.ExpiresAt).NotTo(BeNil(), "status.token.expiresAt")
		Expect(string(s.Data["expiresAt"])).To(Equal(st.ExpiresAt.UTC().Format(time.RFC3339)), "the Secret's expiresAt")
		Expect(e.c.Delete(e.ctx, policy)).To(Succeed())
	})
})
