package controller_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

var _ = Describe("lifecycle", func() {
	It("TestUnrelatedSecretIsNeverTouched", func() {
		e := newEnv(7 * 24 * time.Hour)
		e.api.AddAgent("conflict@example.com", "pw-conflict", "")
		e.loginSecret("login", "conflict@example.com", "pw-conflict")
		theirs := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "taken", Namespace: e.ns, Labels: map[string]string{"owner": "someone-else"}},
			Data:       map[string][]byte{"token": []byte("theirs")},
		}
		Expect(e.c.Create(e.ctx, theirs)).To(Succeed())
		before := e.secret("taken")

		e.credential("conflict", withLogin("login"), func(v *v1alpha1.VoipbinCredential) { v.Spec.SecretName = "taken" })
		e.waitCondition("conflict", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonSecretConflict, 15*time.Second)
		Consistently(func() string { return e.secret("taken").ResourceVersion }).WithTimeout(2*time.Second).
			Should(Equal(before.ResourceVersion), "the unrelated Secret was written")
		after := e.secret("taken")
		Expect(after.Data["token"]).To(beCredential("theirs"), "the unrelated Secret was written")
		Expect(e.events("conflict", v1alpha1.EventSecretConflict)).To(HaveLen(1), "SecretConflict events")
		Expect(e.api.Requests()).To(BeEmpty(), "API requests for a conflicting credential")

		// Once the other Secret is gone, the credential takes the name.
		Expect(e.c.Delete(e.ctx, after)).To(Succeed())
		e.waitReady("conflict", 10*time.Second)
	})

	It("TestRestartLogsInOnlyWhenDue", func() {
		// 2-minute tokens. "later" renews 40 s before expiry (at about 74-80 s);
		// "soon" renews 100 s before expiry (at about 14-20 s).
		e := newEnv(2 * time.Minute)
		e.api.AddAgent("later@example.com", "pw-later", "")
		e.api.AddAgent("soon@example.com", "password-soon", "")
		e.loginSecret("later-login", "later@example.com", "pw-later")
		e.loginSecret("soon-login", "soon@example.com", "password-soon")
		e.credential("later", withLogin("later-login"))
		e.credential("soon", withLogin("soon-login"), func(v *v1alpha1.VoipbinCredential) {
			v.Spec.RenewBefore = &metav1.Duration{Duration: 100 * time.Second}
		})
		e.waitReady("later", 15*time.Second)
		e.waitReady("soon", 15*time.Second)
		logins := func() []int {
			return []int{len(e.logins("later@example.com")), len(e.logins("soon@example.com"))}
		}

		// A restart before anything is due: zero logins.
		e.stopManager()
		e.startManager()
		Consistently(logins).WithTimeout(4*time.Second).
			Should(Equal([]int{1, 1}), "logins of later and soon after a restart with nothing due")

		// Stopped while "soon" falls due: exactly one login for it when it starts.
		e.stopManager()
		renewal := e.get("soon").Status.Token.RenewalTime.Time
		Consistently(func() []time.Time { return e.logins("soon@example.com") }).WithTimeout(time.Until(renewal)+2*time.Second).
			Should(HaveLen(1), "logins while stopped")
		e.startManager()
		Eventually(func() []time.Time { return e.logins("soon@example.com") }).WithTimeout(10*time.Second).
			Should(HaveLen(2), "the overdue renewal")
		Consistently(logins).WithTimeout(4*time.Second).
			Should(Equal([]int{1, 2}), "logins of later and soon after the restart")
	})

	It("TestAPIURLNotAllowed", func() {
		e := newEnv(7 * 24 * time.Hour)
		other := voipbintest.New()
		other.Start()
		DeferCleanup(other.Close)
		other.AddAgent("elsewhere@example.com", "pw-elsewhere", "")
		e.loginSecret("login", "elsewhere@example.com", "pw-elsewhere")
		e.credential("elsewhere", withLogin("login"), func(v *v1alpha1.VoipbinCredential) { v.Spec.APIURL = other.URL() })
		e.waitCondition("elsewhere", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonAPIURLNotAllowed, 15*time.Second)
		Consistently(func() int { return len(other.Requests()) + len(e.api.Requests()) }).WithTimeout(2*time.Second).
			Should(BeZero(), "API requests for a URL that is not allowed")
		Expect(e.events("elsewhere", v1alpha1.EventAPIURLNotAllowed)).To(HaveLen(1), "APIURLNotAllowed events")
		Expect(e.secretExists("elsewhere-out")).To(BeFalse(), "a Secret was written")
	})

	It("TestDeletionPolicy", func() {
		e := newEnv(7 * 24 * time.Hour)
		e.api.AddAgent("policy@example.com", "pw-policy", "")
		e.loginSecret("login", "policy@example.com", "pw-policy")
		deleted := e.credential("deleted", withLogin("login"))
		retainPolicy := func(v *v1alpha1.VoipbinCredential) { v.Spec.DeletionPolicy = v1alpha1.DeletionPolicyRetain }
		retained := e.credential("retained", withLogin("login"), retainPolicy)
		e.waitReady("deleted", 15*time.Second)
		e.waitReady("retained", 15*time.Second)

		// envtest runs no garbage collector: the owner reference is what makes the
		// Secret go with its credential.
		Expect(metav1.GetControllerOf(e.secret("deleted-out"))).To(And(
			Not(BeNil()),
			HaveField("UID", deleted.UID),
			HaveField("BlockOwnerDeletion", And(Not(BeNil()), HaveValue(BeTrue()))),
		), "Delete: owner reference")
		Expect(e.secret("retained-out").OwnerReferences).To(BeEmpty(), "Retain: owner references")

		// Retain: deleted and created again with the same name, the credential adopts
		// its Secret: same token, no new login.
		token := string(e.secret("retained-out").Data["token"])
		logins := len(e.logins("policy@example.com"))
		Expect(e.c.Delete(e.ctx, retained)).To(Succeed())
		Eventually(func() error { return e.c.Get(e.ctx, keyOf(retained), &v1alpha1.VoipbinCredential{}) }).
			WithTimeout(5*time.Second).ShouldNot(Succeed(), "the credential gone")
		Expect(e.secretExists("retained-out")).To(BeTrue(), "Retain: the Secret went with the credential")
		e.credential("retained", withLogin("login"), retainPolicy)
		e.waitReady("retained", 10*time.Second)
		Consistently(func() []time.Time { return e.logins("policy@example.com") }).WithTimeout(2*time.Second).
			Should(HaveLen(logins), "new logins on adoption, want 0")
		Expect(e.secret("retained-out").Data["token"]).To(beCredential(token), "the adopted Secret's token changed")
		Expect(e.get("retained").Status.Token).To(And(HaveField("ExpiresAt", Not(BeNil())), HaveField("RenewalTime", Not(BeNil()))),
			"adopted status.token")

		// Switching Delete to Retain removes the owner reference.
		e.update("deleted", retainPolicy)
		Eventually(func() []metav1.OwnerReference { return e.secret("deleted-out").OwnerReferences }).WithTimeout(5*time.Second).
			Should(BeEmpty(), "the owner reference removed")
	})

	It("TestRefreshRequestedAtLogsInOnce", func() {
		e := newEnv(7 * 24 * time.Hour)
		e.api.AddAgent("refresh@example.com", "pw-refresh", "")
		e.loginSecret("login", "refresh@example.com", "pw-refresh")
		e.credential("refresh", withLogin("login"))
		e.waitReady("refresh", 15*time.Second)
		token := string(e.secret("refresh-out").Data["token"])

		e.update("refresh", withRefreshRequest("2026-11-27T10:00:00Z"))
		Eventually(func() []byte { return e.secret("refresh-out").Data["token"] }).WithTimeout(5*time.Second).
			ShouldNot(beCredential(token), "the refresh")
		Consistently(func() []time.Time { return e.logins("refresh@example.com") }).WithTimeout(3*time.Second).
			Should(HaveLen(2), "logins, want 2 (exactly one for the request)")
		Expect(e.get("refresh").Status.LastHandledRefreshRequest).To(Equal("2026-11-27T10:00:00Z"), "lastHandledRefreshRequest")
	})

	It("TestSuspendMakesNoCalls", func() {
		// 2-minute tokens renewed 100 s before expiry: due after about 15-20 s.
		e := newEnv(2 * time.Minute)
		e.api.AddAgent("suspend@example.com", "pw-suspend", "")
		e.loginSecret("login", "suspend@example.com", "pw-suspend")
		e.credential("suspend", withLogin("login"), func(v *v1alpha1.VoipbinCredential) {
			v.Spec.RenewBefore = &metav1.Duration{Duration: 100 * time.Second}
		})
		e.waitReady("suspend", 15*time.Second)
		e.update("suspend", func(v *v1alpha1.VoipbinCredential) { v.Spec.Suspend = true })
		e.waitCondition("suspend", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSuspended, 5*time.Second)
		before := e.secret("suspend-out")

		renewal := e.get("suspend").Status.Token.RenewalTime.Time
		Consistently(func() int { return len(e.api.Requests()) }).WithTimeout(time.Until(renewal)+3*time.Second).
			Should(Equal(1), "API requests, want only the first login")
		after := e.secret("suspend-out")
		Expect(after.ResourceVersion).To(Equal(before.ResourceVersion), "the Secret changed while suspended")
		Expect(after.Data["token"]).To(beCredential(string(before.Data["token"])), "the Secret changed while suspended")

		e.update("suspend", func(v *v1alpha1.VoipbinCredential) { v.Spec.Suspend = false })
		e.waitReady("suspend", 10*time.Second)
		time.Sleep(2 * time.Second) // let a second login, if any, come
		Expect(e.logins("suspend@example.com")).To(HaveLen(2), "logins after resuming, want exactly one more")
	})
})
