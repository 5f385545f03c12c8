package controller_test

import (
	"fmt"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

func TestAPIDownKeepsTokenAndBacksOff(t *testing.T) {
	t.Parallel()
	// 2-minute tokens renewed 100 s before expiry: the first renewal comes about
	// 15-20 s after the login, with plenty of validity left to back off in.
	e := newEnv(t, 2*time.Minute)
	e.api.AddAgent("down@example.com", "pw-down", "")
	e.loginSecret("login", "down@example.com", "pw-down")
	e.credential("down", withLogin("login"), func(v *v1alpha1.VoipbinCredential) {
		v.Spec.RenewBefore = &metav1.Duration{Duration: 100 * time.Second}
	})
	e.waitReady("down", 15*time.Second)
	token := string(e.secret("down-out").Data["token"])
	e.api.SetDown("/auth/login", 503)

	e.waitCondition("down", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonRefreshFailing, 30*time.Second)
	if c := e.condition("down", v1alpha1.ConditionTokenReady); c.Status != metav1.ConditionTrue || c.Reason != v1alpha1.ReasonRefreshFailing {
		t.Errorf("TokenReady %+v", c)
	}
	// Four failed attempts: 5 s, 10 s, 20 s apart (±20%).
	e.eventually(50*time.Second, "four failed attempts", func() (bool, string) {
		n := e.get("down").Status.Token.FailedAttempts
		return n >= 4, fmt.Sprintf("failedAttempts %d", n)
	})
	if got := string(e.secret("down-out").Data["token"]); got != token {
		t.Fatal("a failed refresh changed the Secret")
	}
	var logins []time.Time                                  // the stand-in answers 503 before it reads the username
	for _, r := range e.api.RequestsTo("/auth/login")[1:] { // the first was the good login
		logins = append(logins, r.Time)
	}
	if len(logins) < 4 {
		t.Fatalf("%d failed logins at the stand-in", len(logins))
	}
	for i := 2; i < len(logins); i++ {
		prev, gap := logins[i-1].Sub(logins[i-2]), logins[i].Sub(logins[i-1])
		if gap <= prev {
			t.Errorf("gap %d (%s) is not longer than gap %d (%s)", i, gap, i-1, prev)
		}
	}
	if n := len(e.events("down", v1alpha1.EventLoginFailed)); n != 1 {
		t.Errorf("%d LoginFailed events, want 1 for the whole outage", n)
	}

	e.api.SetDown("/auth/login", 0)
	e.eventually(40*time.Second, "a new token after the outage", func() (bool, string) {
		return string(e.secret("down-out").Data["token"]) != token, "old token"
	})
	e.waitReady("down", 5*time.Second)
	if n := e.get("down").Status.Token.FailedAttempts; n != 0 {
		t.Errorf("failedAttempts %d after a success", n)
	}
}

func TestRetryAfterHoldsForEveryCredential(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7*24*time.Hour)
	e.api.AddAgent("first@example.com", "pw-first", "")
	e.api.AddAgent("second@example.com", "pw-second", "")
	e.loginSecret("first-login", "first@example.com", "pw-first")
	e.loginSecret("second-login", "second@example.com", "pw-second")
	e.api.InjectFault("/auth/login", voipbintest.Fault{Status: 429, RetryAfter: "20"})

	e.credential("first", withLogin("first-login"))
	var limited time.Time
	e.eventually(10*time.Second, "the 429", func() (bool, string) {
		for _, r := range e.api.RequestsTo("/auth/login") {
			if r.Status == 429 {
				limited = r.Time
				return true, ""
			}
		}
		return false, "no 429 yet"
	})
	e.credential("second", withLogin("second-login"))
	e.waitCondition("first", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonRateLimited, 5*time.Second)

	e.waitReady("first", 35*time.Second)
	e.waitReady("second", 10*time.Second)
	requests := e.api.RequestsTo("/auth/login")
	if len(requests) < 3 {
		t.Fatalf("%d login requests", len(requests))
	}
	for _, r := range requests[1:] {
		if d := r.Time.Sub(limited); d < 20*time.Second || d > 25*time.Second {
			t.Errorf("login of %s %s after the 429, want 20-25 s", r.Username, d.Round(100*time.Millisecond))
		}
	}
	if len(requests) != 3 {
		t.Errorf("%d login requests, want 3 (the 429 and one per credential)", len(requests))
	}
}

func TestManagedSecretRestored(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7*24*time.Hour)
	e.api.AddAgent("restore@example.com", "pw-restore", "")
	e.loginSecret("login", "restore@example.com", "pw-restore")
	e.credential("restore", withLogin("login"))
	e.waitReady("restore", 15*time.Second)

	// Deleted by hand: recreated within 5 s.
	must(t, e.c.Delete(e.ctx, e.secret("restore-out")))
	deleted := time.Now()
	e.eventually(5*time.Second, "the Secret recreated", func() (bool, string) {
		s := e.secret("restore-out")
		return s != nil && len(s.Data["token"]) > 0, "missing"
	})
	t.Logf("recreated after %s", time.Since(deleted))
	if n := len(e.logins("restore@example.com")); n != 2 {
		t.Errorf("%d logins, want 2 (a new login for the deleted Secret)", n)
	}

	// token edited by hand: restored by a new login within 5 s.
	e.setSecretData("restore-out", "token", "edited-by-hand")
	e.eventually(5*time.Second, "the token restored", func() (bool, string) {
		tok := string(e.secret("restore-out").Data["token"])
		return tok != "edited-by-hand" && tok != "", "still edited"
	})
	if n := len(e.logins("restore@example.com")); n != 3 {
		t.Errorf("%d logins, want 3", n)
	}
	e.waitReady("restore", 5*time.Second)
	// And then it stays quiet.
	time.Sleep(2 * time.Second)
	if n := len(e.logins("restore@example.com")); n != 3 {
		t.Errorf("%d logins after the restore settled, want 3", n)
	}
}

// TestSecretWriteFailureKeepsStatusHonest makes the API server refuse the managed
// Secret (a ValidatingAdmissionPolicy): the status must not describe a token the
// Secret does not hold. Once the Secret can be written, the token obtained earlier
// is stored without a second login.
func TestSecretWriteFailureKeepsStatusHonest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7*24*time.Hour)
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
	must(t, e.c.Create(e.ctx, policy))
	must(t, e.c.Create(e.ctx, binding))
	// The policy takes a moment to be enforced: wait until it refuses a probe.
	e.eventually(10*time.Second, "the policy enforced", func() (bool, string) {
		probe := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "refused-out", Namespace: e.ns}}
		err := e.c.Create(e.ctx, probe)
		if err == nil {
			_ = e.c.Delete(e.ctx, probe)
			return false, "admitted"
		}
		return true, ""
	})

	e.credential("refused", withLogin("login"))
	e.eventually(10*time.Second, "a login", func() (bool, string) {
		return len(e.logins("refused@example.com")) >= 1, "no login yet"
	})
	time.Sleep(2 * time.Second)
	if e.secret("refused-out") != nil {
		t.Fatal("the policy did not stop the Secret: the test proves nothing")
	}
	if st := e.get("refused").Status.Token; st != nil && st.ExpiresAt != nil {
		t.Errorf("status.token.expiresAt %s for a token no Secret holds", st.ExpiresAt)
	}

	must(t, e.c.Delete(e.ctx, binding))
	e.waitReady("refused", 60*time.Second)
	if n := len(e.logins("refused@example.com")); n != 1 {
		t.Errorf("%d logins, want 1: the token obtained earlier is reused", n)
	}
	s := e.secret("refused-out")
	if st := e.get("refused").Status.Token; st.ExpiresAt == nil || string(s.Data["expiresAt"]) != st.ExpiresAt.UTC().Format(time.RFC3339) {
		t.Errorf("status.token.expiresAt %v, Secret expiresAt %s", st.ExpiresAt, s.Data["expiresAt"])
	}
	must(t, e.c.Delete(e.ctx, policy))
}
