package controller_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

// Regression tests of bugs the soak (hack/soak, docs/reliability.md) found.

// TestHandEditedTokenNotVouchedFor: the token of a login+accesskey credential's
// Secret is edited by hand while logins fail; the accesskey, re-checked because
// the Secret changed, is valid and written. That write must not vouch for the
// hand-edited token: before the fix it recomputed the data hash over it, so the
// operator took the junk for its own token (TokenReady=True RefreshFailing,
// "valid until" the old token's expiry) and, the stored token now "present",
// retried the login at once instead of after its backoff.
func TestHandEditedTokenNotVouchedFor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7*24*time.Hour)
	key := e.combinedCredential("edited")
	checks := len(e.listCalls())

	e.api.SetDown("/auth/login", http.StatusServiceUnavailable)
	edited := time.Now()
	e.setSecretData("edited-out", "token", "edited-by-hand")
	e.eventually(10*time.Second, "the accesskey re-checked and written", func() (bool, string) {
		s := e.secret("edited-out")
		return len(e.listCalls()) > checks && s.Annotations[v1alpha1.AnnotationDataHash] != "",
			fmt.Sprintf("%d checks", len(e.listCalls()))
	})
	// Let the reconcile that the operator's own write brings come and go.
	time.Sleep(2 * time.Second)
	if c := e.condition("edited", v1alpha1.ConditionTokenReady); c.Status != metav1.ConditionFalse ||
		c.Reason != v1alpha1.ReasonAPIUnavailable {
		t.Errorf("TokenReady %s %s (%s), want False APIUnavailable: the hand-edited token was taken for the operator's",
			c.Status, c.Reason, c.Message)
	}
	// Logins refused by the outage carry no username in the stand-in's record:
	// count them all (this test has one agent).
	var attempts int
	for _, r := range e.api.RequestsTo("/auth/login") {
		if r.Time.After(edited) {
			attempts++
		}
	}
	if attempts != 1 {
		t.Errorf("%d login attempts in the 2 s after the edit, want 1 (the next one after the backoff)", attempts)
	}
	s := e.secret("edited-out")
	if string(s.Data["token"]) != "edited-by-hand" || string(s.Data["accesskey"]) != key.Key {
		t.Errorf("the Secret holds the hand-edited token %t and the key %t: want the edit left until a login replaces it, and the key",
			string(s.Data["token"]) == "edited-by-hand", string(s.Data["accesskey"]) == key.Key)
	}

	// VoIPBIN back: the next login (after the backoff) replaces the edit.
	e.api.SetDown("/auth/login", 0)
	e.waitReady("edited", 15*time.Second)
	if t.Failed() {
		t.Logf("manager log:\n%s", e.logs.String())
	}
	if tok := string(e.secret("edited-out").Data["token"]); tok == "edited-by-hand" || tok == "" {
		t.Errorf("token %q after the recovery", tok)
	}
}

// TestStopDuringRenewalKeepsToken stops the manager (as SIGTERM does in a
// rolling update or a graceful leader hand-over) while a reconcile has its new
// token in hand: here its accesskey check is still hanging. The reconcile must
// finish and store the token. Before the fix, stopping canceled the
// reconcile's context: the Secret apply and the status patch failed with
// "context canceled", the token VoIPBIN had issued was lost, and the next
// leader logged in a second time for the same renewal (the soak saw it across
// a graceful hand-over).
func TestStopDuringRenewalKeepsToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7*24*time.Hour)
	e.combinedCredential("stopped")
	first := string(e.secret("stopped-out").Data["token"])
	checks := e.api.Hits("/v1.0/accesskeys")

	// A refresh: the login answers at once, the accesskey check hangs 1.5 s
	// (within the 2 s client timeout), and the manager is stopped meanwhile.
	e.api.InjectFault("/v1.0/accesskeys", voipbintest.Fault{Hang: 1500 * time.Millisecond})
	e.update("stopped", func(v *v1alpha1.VoipbinCredential) {
		v.Annotations = map[string]string{v1alpha1.AnnotationRefreshRequestedAt: "1"}
	})
	e.eventually(5*time.Second, "the refresh's login and accesskey check", func() (bool, string) {
		n, c := len(e.logins("stopped@example.com")), e.api.Hits("/v1.0/accesskeys")
		return n == 2 && c > checks, fmt.Sprintf("%d logins, %d checks", n, c-checks)
	})
	e.stopManager()

	s := e.secret("stopped-out")
	if tok := string(s.Data["token"]); tok == first {
		t.Error("the token obtained before the stop was lost: the Secret still holds the first one")
	}
	if st := e.get("stopped").Status.Token; st.ExpiresAt == nil || string(s.Data["expiresAt"]) != st.ExpiresAt.UTC().Format(time.RFC3339) ||
		e.get("stopped").Status.LastHandledRefreshRequest != "1" {
		t.Errorf("the status was not written before the stop: expiresAt %v (Secret %s), refresh handled %q",
			st.ExpiresAt, s.Data["expiresAt"], e.get("stopped").Status.LastHandledRefreshRequest)
	}

	// The next manager has nothing to do: no second login for that refresh.
	e.startManager()
	e.waitReady("stopped", 10*time.Second)
	time.Sleep(2 * time.Second)
	if n := len(e.logins("stopped@example.com")); n != 2 {
		t.Errorf("%d logins, want 2: the next manager logged in again for the same refresh", n)
	}
}

// TestRestartDuringOutageKeepsBackoff: a renewal fails, and the manager is
// restarted (a rolling update, a leader hand-over) right after. The new manager
// does not remember the failed attempt, but the status does (failedAttempts,
// lastFailureTime): it must wait for the backoff from that failure, not retry at
// once. Before the fix the soak saw the new leader retry 1.6 s after the old
// leader's failed login, in the middle of an outage.
func TestRestartDuringOutageKeepsBackoff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 12*time.Second)
	e.api.AddAgent("restarted@example.com", "pw-restarted", "")
	e.loginSecret("login", "restarted@example.com", "pw-restarted")
	e.credential("restarted", withLogin("login"))
	e.waitReady("restarted", 15*time.Second)

	e.api.SetDown("/auth/login", http.StatusServiceUnavailable)
	e.eventually(15*time.Second, "the renewal failed", func() (bool, string) {
		n := e.get("restarted").Status.Token.FailedAttempts
		return n == 1, fmt.Sprintf("%d failed attempts", n)
	})
	e.stopManager()
	e.startManager()

	e.eventually(15*time.Second, "the retry after the restart", func() (bool, string) {
		n := len(e.api.RequestsTo("/auth/login"))
		return n >= 3, fmt.Sprintf("%d login requests", n)
	})
	reqs := e.api.RequestsTo("/auth/login") // the first login, the failed renewal, the retry
	if gap := reqs[2].Time.Sub(reqs[1].Time); gap < 3500*time.Millisecond {
		t.Errorf("the new manager retried %s after the failed renewal, want the backoff (5 s, -20%% jitter)", gap.Round(time.Millisecond))
	}
}

// TestStopStartsNoNewCall: the manager stops while a refresh's login hangs.
// The reconcile stores the token it then gets (TestStopDuringRenewalKeepsToken)
// but starts no new API call: the accesskey check the refresh also asked for
// is left to the next manager (a review of the stop fix: a detached reconcile
// could otherwise go on paging accesskeys until the graceful-shutdown timeout).
func TestStopStartsNoNewCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7*24*time.Hour)
	e.combinedCredential("stopping")
	first := string(e.secret("stopping-out").Data["token"])
	checks := e.api.Hits("/v1.0/accesskeys")

	e.api.InjectFault("/auth/login", voipbintest.Fault{Hang: 1500 * time.Millisecond})
	e.update("stopping", func(v *v1alpha1.VoipbinCredential) {
		v.Annotations = map[string]string{v1alpha1.AnnotationRefreshRequestedAt: "1"}
	})
	e.eventually(5*time.Second, "the refresh's login", func() (bool, string) {
		n := e.api.Hits("/auth/login")
		return n == 2, fmt.Sprintf("%d logins", n)
	})
	e.stopManager()

	if tok := string(e.secret("stopping-out").Data["token"]); tok == first {
		t.Error("the token of the login in flight was not stored")
	}
	if n := e.api.Hits("/v1.0/accesskeys"); n != checks {
		t.Errorf("%d accesskey checks started after the stop, want 0", n-checks)
	}
	if got := e.get("stopping").Status.LastHandledRefreshRequest; got != "" {
		t.Errorf("the refresh was marked handled (%q) although its accesskey check was not made", got)
	}

	// The next manager finishes the refresh.
	e.startManager()
	e.eventually(10*time.Second, "the refresh handled", func() (bool, string) {
		got := e.get("stopping").Status.LastHandledRefreshRequest
		return got == "1" && e.api.Hits("/v1.0/accesskeys") > checks, fmt.Sprintf("handled %q", got)
	})
	e.waitReady("stopping", 10*time.Second)
}

// TestSpecEditRetriesAtOnce: a credential that logged in, then failed with
// InvalidCredentials several times (its retry pushed far out), is retried at
// once when its spec is fixed (here passwordKey), as when its Secret changes,
// also after a restart. The remembered attempt is keyed by the generation, and
// the status tells a later manager which generation the last failure saw (a
// review of the restart fix: without it the edit waited for the backoff of the
// earlier failures).
func TestSpecEditRetriesAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7*24*time.Hour)
	e.api.AddAgent("edit@example.com", "first-password", "")
	e.loginSecret("login", "edit@example.com", "first-password")
	rememberSecret("second-password") // for the leak scans
	s := e.secret("login")
	s.Data["rotated"] = []byte("second-password")
	must(t, e.c.Update(e.ctx, s))
	e.credential("edit", withLogin("login"))
	e.waitReady("edit", 15*time.Second)

	// The password changes at VoIPBIN only: each refresh request fails.
	e.api.SetPassword("edit@example.com", "second-password")
	for i := 1; i <= 4; i++ {
		e.update("edit", func(v *v1alpha1.VoipbinCredential) {
			v.Annotations = map[string]string{v1alpha1.AnnotationRefreshRequestedAt: fmt.Sprint(i)}
		})
		e.eventually(10*time.Second, "a failed login", func() (bool, string) {
			n := e.get("edit").Status.Token.FailedAttempts
			return n == int32(i), fmt.Sprintf("%d failed attempts", n)
		})
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
	if d := time.Since(fixed); d > 5*time.Second {
		t.Errorf("Ready %s after the spec was fixed", d)
	}
	if n := e.api.Hits("/auth/login") - logins; n != 1 {
		t.Errorf("%d logins after the fix, want 1", n)
	}
}
