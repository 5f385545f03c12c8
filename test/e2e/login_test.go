package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// expireLayout is how the stand-in writes a token's expire claim.
const expireLayout = "2006-01-02T15:04:05.000000Z"

// docs/architecture.md, invariants 6 (tokens expired on arrival are failures) and 4 (no
// credential confusion).
var _ = Describe("A login", func() {
	It("row 4: whose token is expired on arrival is a transient failure: never Ready, UnexpectedResponse naming clock skew, backoff", func() {
		w := newWorld("row4")
		// Every token the stand-in issues expired an hour before it was issued.
		w.api.SetTokenLifetime(-time.Hour)
		w.reportLoginsOver(15*time.Second, "the creation")
		w.loginCredential("cred")

		Consistently(w.conditionOf("cred", v1alpha1.ConditionReady)).WithTimeout(15*time.Second).
			ShouldNot(HavePrefix("True/"), "Ready=True with an expired token")
		logins := w.logins()
		Expect(w.condition("cred", v1alpha1.ConditionTokenReady)).To(MatchRegexp(`^False/UnexpectedResponse: .*(?i:clock.?skew)`))
		Expect(logins).To(And(BeNumerically(">=", 2), BeNumerically("<=", 4)),
			"logins in 15 s: a transient backoff from 5 s, doubling")
		Expect(w.eventCount("cred", v1alpha1.EventLoggedIn)()).To(BeZero(), "an expired token was announced as stored")

		tokens := w.api.IssuedTokens()
		Expect(tokens).NotTo(BeEmpty())
		expire, err := time.Parse(expireLayout, claimsOf(tokens[0]).Expire)
		Expect(err).NotTo(HaveOccurred())
		Expect(expire).To(BeTemporally("<", time.Now().Add(-50*time.Minute)), "precondition: the stand-in issues expired tokens")
	})

	It("row 5: of a new credential does not adopt a retained Secret holding another user's token", func() {
		w := newWorld("row5")
		alice := w.agent("alice-login", "alice@example.com")
		bob := w.agent("bob-login", "bob@example.com")
		w.create("x", withLogin("alice-login"), withRetain())
		w.waitReady("x")
		Expect(claimsOf(w.storedToken("x")).Agent.Username).To(Equal(alice))

		Expect(k8s.Delete(ctx, w.get("x"))).To(Succeed())
		Eventually(w.gone("x")).Should(BeTrue())
		Expect(w.secret(managedSecret("x"))).NotTo(BeNil(), "deletionPolicy Retain: the Secret outlives its credential")

		w.create("x", withLogin("bob-login"), withRetain())
		Eventually(func() string { return claimsOf(w.storedToken("x")).Agent.Username }).
			Should(Equal(bob), "the managed Secret's token is issued to")
		w.waitReady("x")
		Consistently(w.loginsAs(bob)).WithTimeout(3 * time.Second).Should(Equal(1))
	})
})
