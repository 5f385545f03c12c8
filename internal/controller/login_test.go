package controller_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin"
)

// jwtExpire returns the expire claim of a JWT, parsed.
func jwtExpire(t *testing.T, jwt string) time.Time {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	must(t, err)
	var claims struct {
		Expire string `json:"expire"`
	}
	must(t, json.Unmarshal(payload, &claims))
	exp, err := time.Parse(voipbin.ExpireLayout, claims.Expire)
	must(t, err)
	return exp
}

func TestLoginWritesManagedSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7*24*time.Hour)
	e.api.AddAgent("agent@example.com", "s3cret-pass", "")
	e.loginSecret("login", "agent@example.com", "s3cret-pass")
	vbc := e.credential("billing", withLogin("login"))
	e.waitReady("billing", 15*time.Second)

	s := e.secret("billing-out")
	if s == nil {
		t.Fatal("no managed Secret")
	}
	token := string(s.Data["token"])
	if token == "" || string(s.Data["apiURL"]) != e.api.URL() {
		t.Fatalf("Secret data keys wrong: token %d bytes, apiURL %q", len(token), s.Data["apiURL"])
	}
	exp := jwtExpire(t, token)
	if got := string(s.Data["expiresAt"]); got != exp.UTC().Truncate(time.Second).Format(time.RFC3339) {
		t.Errorf("expiresAt key %q, JWT expire %s", got, exp)
	}
	if s.Labels[v1alpha1.LabelManagedBy] != v1alpha1.FieldManager || s.Labels[v1alpha1.LabelCredential] != "billing" {
		t.Errorf("labels %v", s.Labels)
	}
	if !strings.HasPrefix(s.Annotations[v1alpha1.AnnotationDataHash], "sha256:") {
		t.Errorf("no data hash annotation: %v", s.Annotations)
	}
	ref := metav1.GetControllerOf(s)
	if ref == nil || ref.UID != vbc.UID || ref.Kind != "VoipbinCredential" {
		t.Errorf("owner reference %+v", s.OwnerReferences)
	}
	var applied bool
	for _, mf := range s.ManagedFields {
		// Created with Create (an Update entry), changed with server-side apply.
		if mf.Manager == v1alpha1.FieldManager && strings.Contains(string(mf.FieldsV1.GetRawBytes()), `"f:data"`) {
			applied = true
		}
		if strings.Contains(string(mf.FieldsV1.GetRawBytes()), "stringData") {
			t.Errorf("stringData used")
		}
	}
	if !applied {
		t.Errorf("data not written by %s: %+v", v1alpha1.FieldManager, s.ManagedFields)
	}
	st := e.get("billing").Status
	if st.Token == nil || st.Token.ExpiresAt == nil || !st.Token.ExpiresAt.Time.Equal(exp.Truncate(time.Second)) {
		t.Errorf("status.token.expiresAt %v, JWT expire %s", st.Token, exp)
	}
	if st.Token.RenewalTime == nil || !st.Token.RenewalTime.Before(st.Token.ExpiresAt) {
		t.Errorf("renewalTime %v not before expiry", st.Token.RenewalTime)
	}
	if st.SecretName != "billing-out" || st.ObservedGeneration != vbc.Generation {
		t.Errorf("status secretName %q observedGeneration %d", st.SecretName, st.ObservedGeneration)
	}
	if c := e.condition("billing", v1alpha1.ConditionTokenReady); c.Status != metav1.ConditionTrue || c.Reason != v1alpha1.ReasonLoggedIn {
		t.Errorf("TokenReady %+v", c)
	}
	if n := len(e.events("billing", v1alpha1.EventLoggedIn)); n != 1 {
		t.Errorf("%d LoggedIn events, want 1", n)
	}
	if n := len(e.logins("agent@example.com")); n != 1 {
		t.Errorf("%d logins, want 1", n)
	}
}

func TestShortLivedTokenRenewedBeforeExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 12*time.Second)
	e.api.AddAgent("short@example.com", "pw-short-1", "")
	e.loginSecret("login", "short@example.com", "pw-short-1")
	e.credential("short", withLogin("login"))
	e.waitReady("short", 15*time.Second)

	// Watch the Secret for 30 s: it must always hold an unexpired token, and the
	// stand-in must see exactly one login per token the Secret held.
	tokens := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		s := e.secret("short-out")
		tok := string(s.Data["token"])
		if exp := jwtExpire(t, tok); !time.Now().Before(exp) {
			t.Fatalf("the Secret holds a token that expired at %s", exp)
		}
		tokens[tok] = true
		time.Sleep(200 * time.Millisecond)
	}
	// A 12 s token renews about every 8 s: 30 s see at least 4 tokens.
	if len(tokens) < 4 {
		t.Errorf("only %d tokens in 30 s: not renewed", len(tokens))
	}
	logins := len(e.logins("short@example.com"))
	// The poll may miss the last token if it came in the final instant.
	if logins != len(tokens) && logins != len(tokens)+1 {
		t.Errorf("%d logins for %d tokens: extra logins between renewals", logins, len(tokens))
	}
	if n := len(e.events("short", v1alpha1.EventTokenRefreshed)); n < 3 {
		t.Errorf("%d TokenRefreshed events", n)
	}
}

func TestPasswordChangeLogsInAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7*24*time.Hour)
	e.api.AddAgent("change@example.com", "old-password", "")
	e.loginSecret("login", "change@example.com", "old-password")
	e.credential("change", withLogin("login"))
	e.waitReady("change", 15*time.Second)
	before := string(e.secret("change-out").Data["token"])

	// The admin changes the password at VoIPBIN, then in the Secret.
	e.api.SetPassword("change@example.com", "new-password")
	changed := time.Now()
	e.setSecretData("login", "password", "new-password")
	e.eventually(5*time.Second, "a login with the new password", func() (bool, string) {
		n := len(e.logins("change@example.com"))
		return n == 2, fmt.Sprintf("%d logins", n)
	})
	if d := e.logins("change@example.com")[1].Sub(changed); d > 5*time.Second {
		t.Errorf("new login %s after the change", d)
	}
	e.eventually(5*time.Second, "the new token in the Secret", func() (bool, string) {
		return string(e.secret("change-out").Data["token"]) != before, "old token"
	})
	e.waitReady("change", 5*time.Second)

	// Changed while the manager is stopped: exactly one login when it starts.
	e.stopManager()
	e.api.SetPassword("change@example.com", "newer-password")
	e.setSecretData("login", "password", "newer-password")
	time.Sleep(time.Second)
	if n := len(e.logins("change@example.com")); n != 2 {
		t.Fatalf("%d logins while stopped", n)
	}
	e.startManager()
	e.eventually(10*time.Second, "one login after the restart", func() (bool, string) {
		n := len(e.logins("change@example.com"))
		return n == 3, fmt.Sprintf("%d logins", n)
	})
	time.Sleep(3 * time.Second)
	if n := len(e.logins("change@example.com")); n != 3 {
		t.Errorf("%d logins after the restart, want exactly 1 more", n-2)
	}
	e.waitReady("change", 5*time.Second)
}

func TestWrongPasswordDoesNotHammer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7*24*time.Hour)
	e.api.AddAgent("wrong@example.com", "right-password", "")
	e.loginSecret("login", "wrong@example.com", "wrong-password")
	e.credential("wrong", withLogin("login"))
	e.waitCondition("wrong", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonInvalidCredentials, 15*time.Second)
	if c := e.condition("wrong", v1alpha1.ConditionTokenReady); c.Reason != v1alpha1.ReasonInvalidCredentials {
		t.Errorf("TokenReady %+v", c)
	}
	if s := e.secret("wrong-out"); s != nil {
		t.Errorf("a Secret was created with no usable credential")
	}

	// Poke it: an unrelated annotation change and status reads must not cause logins.
	e.update("wrong", func(v *v1alpha1.VoipbinCredential) { v.Annotations = map[string]string{"example.com/poke": "1"} })
	time.Sleep(30 * time.Second)
	if n := len(e.logins("wrong@example.com")); n > 2 {
		t.Fatalf("%d login attempts in 30 s with a wrong password", n)
	}
	st := e.get("wrong").Status.Token
	if st.FailedAttempts < 1 || st.LastFailureTime == nil || !strings.Contains(st.LastFailureMessage, "HTTP 400") {
		t.Errorf("status.token %+v", st)
	}
	if n := len(e.events("wrong", v1alpha1.EventLoginFailed)); n != 1 {
		t.Errorf("%d LoginFailed events, want 1", n)
	}

	fixed := time.Now()
	e.setSecretData("login", "password", "right-password")
	e.waitReady("wrong", 5*time.Second)
	if d := time.Since(fixed); d > 5*time.Second {
		t.Errorf("Ready %s after the fix", d)
	}
}
