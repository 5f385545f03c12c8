package controller_test

import (
	"fmt"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

// Regression specs of bugs the soak (hack/soak, docs/reliability.md) found.
var _ = Describe("soak regressions", func() {
	// TestHandEditedTokenNotVouchedFor: the token of a login+accesskey credential's
	// Secret is edited by hand while logins fail; the accesskey, re-checked because
	// the Secret changed, is valid and written. That write must not vouch for the
	// hand-edited token: before the fix it recomputed the data hash over it, so the
	// operator took the junk for its own token (TokenReady=True RefreshFailing,
	// "valid until" the old token's expiry) and, the stored token now "present",
	// retried the login at once instead of after its backoff.
	It("TestHandEditedTokenNotVouchedFor", func() {
		e := newEnv(7 * 24 * time.Hour)
		key := e.combinedCredential("edited")
		checks := len(e.listCalls())

		e.api.SetDown("/auth/login", http.StatusServiceUnavailable)
		edited := time.Now()
		e.setSecretData("edited-out", "token", "edited-by-hand")
		Eventually(func(g Gomega) {
			g.Expect(len(e.listCalls())).To(BeNumerically(">", checks), "checks")
			g.Expect(e.secret("edited-out").Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationDataHash, Not(BeEmpty())))
		}).WithTimeout(10*time.Second).Should(Succeed(), "the accesskey re-checked and written")
		// Let the reconcile that the operator's own write brings come and go.
		time.Sleep(2 * time.Second)
		Expect(e.condition("edited", v1alpha1.ConditionTokenReady)).
			To(haveCondition(metav1.ConditionFalse, v1alpha1.ReasonAPIUnavailable),
				"TokenReady, want False APIUnavailable: the hand-edited token was taken for the operator's")
		// Logins refused by the outage carry no username in the stand-in's record:
		// count them all (this spec has one agent).
		var attempts int
		for _, r := range e.api.RequestsTo("/auth/login") {
			if r.Time.After(edited) {
				attempts++
			}
		}
		Expect(attempts).To(Equal(1), "login attempts in the 2 s after the edit, want 1 (the next one after the backoff)")
		// Want the edit left until a login replaces it, and the key.
		s := e.secret("edited-out")
		Expect(s.Data["token"]).To(beCredential("edited-by-hand"), "the Secret's token, want the hand-edited one")
		Expect(s.Data["accesskey"]).To(beCredential(key.Key), "the Secret's accesskey")

		// VoIPBIN back: the next login (after the backoff) replaces the edit.
		e.api.SetDown("/auth/login", 0)
		e.waitReady("edited", 15*time.Second)
		Expect(string(e.secret("edited-out").Data["token"])).NotTo(Or(Equal("edited-by-hand"), BeEmpty()), "token after the recovery")
	})

	// TestStopDuringRenewalKeepsToken stops the manager (as SIGTERM does in a
	// rolling update or a graceful leader hand-over) while a reconcile has its new
	// token in hand: here its accesskey check is still hanging. The reconcile must
	// finish and store the token. Before the fix, stopping canceled the
	// reconcile's context: the Secret apply and the status patch failed with
	// "context canceled", the token VoIPBIN had issued was lost, and the next
	// leader logged in a second time for the same renewal (the soak saw it across
	// a graceful hand-over).
	It("TestStopDuringRenewalKeepsToken", func() {
		e := newEnv(7 * 24 * time.Hour)
		e.combinedCredential("stopped")
		first := string(e.secret("stopped-out").Data["token"])
		checks := e.api.Hits("/v1.0/accesskeys")

		// A refresh: the login answers at once, the accesskey check hangs 1.5 s
		// (within the 2 s client timeout), and the manager is stopped meanwhile.
		e.api.InjectFault("/v1.0/accesskeys", voipbintest.Fault{Hang: 1500 * time.Millisecond})
		e.update("stopped", withRefreshRequest("1"))
		Eventually(func(g Gomega) {
			g.Expect(e.logins("stopped@example.com")).To(HaveLen(2), "logins")
			g.Expect(e.api.Hits("/v1.0/accesskeys")).To(BeNumerically(">", checks), "checks")
		}).WithTimeout(5*time.Second).Should(Succeed(), "the refresh's login and accesskey check")
		e.stopManager()

		s := e.secret("stopped-out")
		Expect(s.Data["token"]).NotTo(beCredential(first), "the token obtained before the stop was lost: the Secret still holds the first one")
		vbc := e.get("stopped")
		Expect(vbc.Status.Token.ExpiresAt).NotTo(BeNil(), "the status was not written before the stop: expiresAt")
		Expect(string(s.Data["expiresAt"])).To(Equal(vbc.Status.Token.ExpiresAt.UTC().Format(time.RFC3339)),
			"the status was not written before the stop: the Secret's expiresAt")
		Expect(vbc.Status.LastHandledRefreshRequest).To(Equal("1"), "the status was not written before the stop: refresh handled")

		// The next manager has nothing to do: no second login for that refresh.
		e.startManager()
		e.waitReady("stopped", 10*time.Second)
		Consistently(func() []time.Time { return e.logins("stopped@example.com") }).WithTimeout(2*time.Second).
			Should(HaveLen(2), "logins, want 2: the next manager logged in again for the same refresh")
	})

	// TestRestartDuringOutageKeepsBackoff: a renewal fails, and the manager is
	// restarted (a rolling update, a leader hand-over) right after. The new manager
	// does not remember the failed attempt, but the status does (failedAttempts,
	// lastFailureTime): it must wait for the backoff from that failure, not retry at
	// once. Before the fix the soak saw the new leader retry 1.6 s after the old
	// leader's failed login, in the middle of an outage.
	It("TestRestartDuringOutageKeepsBackoff", func() {
		e := newEnv(12 * time.Second)
		e.api.AddAgent("restarted@example.com", "pw-restarted", "")
		e.loginSecret("login", "restarted@example.com", "pw-restarted")
		e.credential("restarted", withLogin("login"))
		e.waitReady("restarted", 15*time.Second)

		e.api.SetDown("/auth/login", http.StatusServiceUnavailable)
		Eventually(func() int32 { return e.get("restarted").Status.Token.FailedAttempts }).WithTimeout(15*time.Second).
			Should(Equal(int32(1)), "the renewal failed")
		e.stopManager()
		e.startManager()

		Eventually(func() int { return e.api.Hits("/auth/login") }).WithTimeout(15*time.Second).
			Should(BeNumerically(">=", 3), "login requests: the retry after the restart")
		reqs := e.api.RequestsTo("/auth/login") // the first login, the failed renewal, the retry
		gap := reqs[2].Time.Sub(reqs[1].Time)
		Expect(gap).To(BeNumerically(">=", 3500*time.Millisecond),
			"the new manager retried %s after the failed renewal, want the backoff (5 s, -20%% jitter)", gap.Round(time.Millisecond))
	})

	// TestStopStartsNoNewCall: the manager stops while a refresh's login hangs.
	// The reconcile stores the token it then gets (TestStopDuringRenewalKeepsToken)
	// but starts no new API call: the accesskey check the refresh also asked for
	// is left to the next manager (a review of the stop fix: a detached reconcile
	// could otherwise go on paging accesskeys until the graceful-shutdown timeout).
	It("TestStopStartsNoNewCall", func() {
		e := newEnv(7 * 24 * time.Hour)
		e.combinedCredential("stopping")
		first := string(e.secret("stopping-out").Data["token"])
		checks := e.api.Hits("/v1.0/accesskeys")

		e.api.InjectFault("/auth/login", voipbintest.Fault{Hang: 1500 * time.Millisecond})
		e.update("stopping", withRefreshRequest("1"))
		Eventually(func() int { return e.api.Hits("/auth/login") }).WithTimeout(5*time.Second).
			Should(Equal(2), "the refresh's login")
		e.stopManager()

		Expect(e.secret("stopping-out").Data["token"]).NotTo(beCredential(first), "the token of the login in flight was not stored")
		Expect(e.api.Hits("/v1.0/accesskeys")).To(Equal(checks), "accesskey checks started after the stop, want 0")
		Expect(e.get("stopping").Status.LastHandledRefreshRequest).To(BeEmpty(),
			"the refresh was marked handled although its accesskey check was not made")

		// The next manager finishes the refresh.
		e.startManager()
		Eventually(func(g Gomega) {
			g.Expect(e.get("stopping").Status.LastHandledRefreshRequest).To(Equal("1"), "handled")
			g.Expect(e.api.Hits("/v1.0/accesskeys")).To(BeNumerically(">", checks), "checks")
		}).WithTimeout(10*time.Second).Should(Succeed(), "the refresh handled")
		e.waitReady("stopping", 10*time.Second)
	})

	// TestSpecEditRetriesAtOnce: a credential that logged in, then failed with
	// InvalidCredentials several times (its retry pushed far out), is retried at
	// once when its spec is fixed (here passwordKey), as when its Secret changes,
	// also after a restart. The remembered attempt is keyed by the generation, and
	// the status tells a later manager which generation the last failure saw (a
	// review of the restart fix: without it the edit waited for the backoff of the
	// earlier failures).
	It("TestSpecEditRetriesAtOnce", func() {
		e := newEnv(7 * 24 * time.Hour)
		e.api.AddAgent("edit@example.com", "first-password", "")
		e.loginSecret("login", "edit@example.com", "first-password")
		rememberSecret("password", "second-password") // for the leak scans
		s := e.secret("login")
		s.Data["rotated"] = []byte("second-password")
		Expect(e.c.Update(e.ctx, s)).To(Succeed())
		e.credential("edit", withLogin("login"))
		e.waitReady("edit", 15*time.Second)

		// The password changes at VoIPBIN only: each refresh request fails.
		e.api.SetPassword("edit@example.com", "second-password")
		for i := 1; i <= 4; i++ {
			e.update("edit", withRefreshRequest(fmt.Sprint(i)))
			Eventually(func() int32 { return e.get("edit").Status.Token.FailedAttempts }).WithTimeout(10*time.Second).
				Should(Equal(int32(i)), "a failed login")
		}
		// failedAttempts 4: a transient-style retry would be 40 s away, a permanent
		// one 10 minutes. Restart too, so that nothing is remembered in memory.
		e.stopManager()
		e.startManager()
		time.Sleep(time.Second)
		logins := e.api.Hits("/auth/login")

		fixed := time.Now()
		e.update("edit", func(v *v1alpha1.VoipbinCredential) { v.Spec.Login.SecretRef.PasswordKey = "rotated" })
		e.waitCondition("edit", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady, 5*time.Second)
		Expect(time.Since(fixed)).To(BeNumerically("<=", 5*time.Second), "Ready after the spec was fixed")
		Expect(e.api.Hits("/auth/login")-logins).To(Equal(1), "logins after the fix, want 1")
	})
})
