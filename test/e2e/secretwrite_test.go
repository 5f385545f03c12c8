package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// expiryGrace is how long after a stored credential's expiry Ready may take to
// turn False: the reconcile due at the expiry, and its status patch.
const expiryGrace = 2 * time.Second

// docs/architecture.md, invariants 1 (one login per trigger) and 2 (Ready never outlives
// the Secret), and the reason SecretWriteFailed.
var _ = Describe("A managed Secret the API server refuses to write", func() {
	It("row 2: once deleted and refused, is SecretWriteFailed after one login, whose token is stored when the write succeeds", func() {
		w := newWorld("row2")
		w.loginCredential("cred")
		w.waitReady("cred")
		old := w.storedToken("cred")
		denial, allow := w.denySecretWrites(managedSecret("cred"), admissionregistrationv1.Create)

		before := w.logins()
		w.reportLoginsOver(20*time.Second, "the deletion")
		Expect(k8s.Delete(ctx, w.secret(managedSecret("cred")))).To(Succeed())
		deleted := time.Now()
		Eventually(w.conditionOf("cred", v1alpha1.ConditionReady)).
			Should(And(HavePrefix("False/"+v1alpha1.ReasonSecretWriteFailed+":"), ContainSubstring(denial)))
		if window := time.Until(deleted.Add(20 * time.Second)); window > 0 {
			Consistently(w.logins).WithTimeout(window).Should(BeNumerically("<=", before+1), "logins since the deletion")
		}
		Expect(w.logins()-before).To(Equal(1), "logins in the 20 s after the deletion")

		allow()
		Eventually(w.storedTokenOf("cred")).WithTimeout(60 * time.Second).ShouldNot(BeEmpty())
		Expect(w.storedToken("cred")).NotTo(Equal(old), "the Secret came back with the token from before its deletion")
		w.waitReady("cred")
		Expect(w.logins()-before).To(Equal(1), "logins from the deletion until the Secret was back: the token in memory is reused")
	})

	It("row 3: turns Ready False, SecretWriteFailed, at the stored token's expiry, never True after it", func() {
		w := newWorld("row3")
		// A renewal at about 20 s, an expiry at 30 s.
		w.api.SetTokenLifetime(30 * time.Second)
		w.loginCredential("cred")
		w.waitReady("cred")
		old := w.storedToken("cred")
		denial, _ := w.denySecretWrites(managedSecret("cred"), admissionregistrationv1.Update, admissionregistrationv1.Create)
		before := w.logins()

		expiresAt, err := time.Parse(time.RFC3339, string(w.secret(managedSecret("cred")).Data[v1alpha1.SecretKeyExpiresAt]))
		Expect(err).NotTo(HaveOccurred())
		Expect(time.Until(expiresAt)).To(BeNumerically(">", 10*time.Second), "precondition: the policy came before the renewal")
		// Until the expiry the Secret keeps the stored token (a failed refresh loses nothing).
		Consistently(w.storedTokenOf("cred")).WithTimeout(time.Until(expiresAt)).Should(Equal(old))
		Eventually(w.conditionOf("cred", v1alpha1.ConditionReady)).WithTimeout(expiryGrace).
			Should(And(HavePrefix("False/"+v1alpha1.ReasonSecretWriteFailed+":"), ContainSubstring(denial)))
		Consistently(w.conditionOf("cred", v1alpha1.ConditionReady)).WithTimeout(6*time.Second).
			ShouldNot(HavePrefix("True/"), "Ready=True after the stored token expired")
		observe("%d logins from the policy to 8 s after the expiry", w.logins()-before)
		Expect(w.logins()-before).To(Equal(1), "logins since the policy: one renewal, its token held in memory")
	})
})
