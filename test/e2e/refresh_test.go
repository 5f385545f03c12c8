package e2e

import (
	"errors"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

// docs/architecture.md, invariants 1 (one login per trigger) and 3 (a refresh request is
// handled only by success).
var _ = Describe("A refresh request", func() {
	It("row 1: while the accesskey list answers 429, logs in exactly once and stays pending until the check succeeds", func() {
		w := newWorld("row1")
		w.accessKey("cred-key")
		w.loginCredential("cred", withAccessKey("cred-key"))
		w.waitReady("cred")

		// Every accesskey list answers 429 with Retry-After 15 for 20 s.
		w.api.InjectFault(accessKeysPath, voipbintest.Fault{Count: 1 << 20, Status: http.StatusTooManyRequests, RetryAfter: "15"})
		before, limited := w.logins(), w.api.Count(accessKeysPath, http.StatusTooManyRequests)
		w.reportLoginsOver(20*time.Second, "the refresh request")
		request := w.requestRefresh("cred")
		Consistently(func(g Gomega) {
			g.Expect(w.lastHandled("cred")()).NotTo(Equal(request),
				"lastHandledRefreshRequest was set while the accesskey check fails")
			g.Expect(w.logins()-before).To(BeNumerically("<=", 1), "logins since the request")
		}).WithTimeout(20 * time.Second).Should(Succeed())
		Expect(w.logins()-before).To(Equal(1), "logins in the 20 s after the request")
		Expect(w.api.Count(accessKeysPath, http.StatusTooManyRequests)).To(BeNumerically(">", limited),
			"precondition: the accesskey check met the 429s")

		w.api.ClearFaults()
		Eventually(w.lastHandled("cred")).WithTimeout(40*time.Second).Should(Equal(request),
			"the request is handled once the accesskey check succeeds")
		Expect(w.condition("cred", v1alpha1.ConditionAccessKeyValid)).To(HavePrefix("True/"))
		Expect(w.logins()-before).To(Equal(1), "logins from the request to its success: the token in memory is reused")
	})

	It("row 6: after a failed login, stores a new token before it counts the request as handled", func() {
		w := newWorld("row6")
		w.loginCredential("cred")
		w.waitReady("cred")
		old := w.storedToken("cred")

		w.api.InjectFault(loginPath, voipbintest.Fault{Status: http.StatusServiceUnavailable})
		request := w.requestRefresh("cred")
		Eventually(func() error {
			// The CR first, then the Secret: with the status written after the Secret,
			// as promised, a handled request can never be read with the old token after it.
			handled := w.lastHandled("cred")() == request
			token := w.storedToken("cred")
			switch {
			case handled && token == old:
				StopTrying("lastHandledRefreshRequest was set while the Secret still held the old token").Now()
			case token == old:
				return errors.New("the Secret still holds the old token")
			case !handled:
				return errors.New("a new token is stored; the request is not handled yet")
			}
			return nil
		}).WithTimeout(30 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
		Expect(w.api.IssuedTokens()).To(ContainElement(w.storedToken("cred")), "the stored token is one the stand-in issued")
		Expect(w.api.Count(loginPath, http.StatusServiceUnavailable)).To(Equal(1), "precondition: one login met the 503")

		Eventually(w.eventCount("cred", v1alpha1.EventTokenRefreshed)).Should(Equal(1))
		Consistently(w.eventCount("cred", v1alpha1.EventTokenRefreshed)).WithTimeout(3 * time.Second).Should(Equal(1))
	})
})
