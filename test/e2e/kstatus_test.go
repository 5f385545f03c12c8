package e2e

import (
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// docs/architecture.md, the kstatus paragraph: what GitOps tools and kubectl wait read.
var _ = Describe("kstatus", func() {
	It("row 9: reads Failed for a wrong password, Current for a Ready credential, InProgress while the API is down", func() {
		w := newWorld("row9")
		wrong := w.agent("wrong-login", "wrong@example.com")
		w.api.SetPassword(wrong, secretValue("password")) // the Secret's password is no longer the agent's
		w.create("wrong", withLogin("wrong-login"))
		w.loginCredential("good")
		w.waitReady("good")
		Eventually(w.conditionOf("wrong", v1alpha1.ConditionTokenReady)).Should(HavePrefix("False/InvalidCredentials:"))

		w.api.SetDown(loginPath, http.StatusServiceUnavailable)
		w.loginCredential("down")
		Eventually(w.conditionOf("down", v1alpha1.ConditionTokenReady)).Should(HavePrefix("False/APIUnavailable:"))

		for _, name := range []string{"wrong", "good", "down"} {
			observe("%s: kstatus %s; Reconciling %s; Stalled %s", name, w.kstatus(name),
				w.condition(name, v1alpha1.ConditionReconciling), w.condition(name, v1alpha1.ConditionStalled))
			vbc := w.get(name)
			Expect(vbc.Status.ObservedGeneration).To(Equal(vbc.Generation), "%s: status.observedGeneration", name)
		}
		Expect(w.kstatus("wrong")).To(HavePrefix("Failed:"))
		Expect(w.condition("wrong", v1alpha1.ConditionStalled)).To(HavePrefix("True/InvalidCredentials:"))
		Expect(w.kstatus("good")).To(HavePrefix("Current:"))
		for _, c := range []string{v1alpha1.ConditionReconciling, v1alpha1.ConditionStalled} {
			Expect(w.condition("good", c)).NotTo(HavePrefix("True/"), "a Ready credential is %s", c)
		}
		Expect(w.kstatus("down")).To(HavePrefix("InProgress:"))
		// Not merely kstatus's fallback on Ready=False: the contract's own condition.
		Expect(w.condition("down", v1alpha1.ConditionReconciling)).To(HavePrefix("True/"))
		Expect(w.condition("down", v1alpha1.ConditionStalled)).NotTo(HavePrefix("True/"))
		Expect(w.loginsAs(wrong)()).To(Equal(1), "logins with the wrong password: no hammering")
	})
})
